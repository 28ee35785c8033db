"""How the pipeline writes files: atomically, and one writer at a time.

A file is written under a temporary name in the same directory, fsynced, then renamed: readers (and a rerun after
a kill) see the old file or the complete new one, never half of one. Every file the pipeline writes goes through
here. Outputs that take hours (a training run's directory, a sample archive) are also claimed with an exclusive
lock, so a second process cannot write into them at the same time.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Callable

from jointdiff.errors import UserError


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], None]) -> Path:
    """Call `write(f)` on a temporary binary file beside `path`, then move it to `path`; returns `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; results and caches are for every user
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: str | Path, data) -> Path:
    """Write `data` as indented JSON to `path` atomically."""
    return atomic_write_text(path, json.dumps(data, indent=2) + "\n")


@contextmanager
def exclusive_lock(path: str | Path, what: str) -> Iterator[None]:
    """Hold an exclusive lock on the file `path` for the block; UserError naming the holder if another process has it.

    `what` names the locked output in the error ("run directory results/x"). The lock is the kernel's (flock): it
    ends with the holding process, even one killed by SIGKILL, so a leftover lock file never blocks anyone. While
    held, the file says who holds it (pid and host); it is emptied, not deleted, on release (deleting it would let
    a third process lock a new file while a second still holds the old one).
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        f = open(path, "a+")
    except OSError as err:
        raise UserError(f"{what}: cannot create {path} ({err.strerror})") from None
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            raise UserError(f"{what} is in use by {holder} (lock {path}): one process writes it at a time; wait for "
                            f"that one to end, or stop it, then rerun") from None
        f.truncate(0)
        f.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
        f.flush()
        try:
            yield
        finally:
            f.truncate(0)
