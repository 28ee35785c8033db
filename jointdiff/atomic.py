"""Write a file under a temporary name in the same directory, fsync, then rename it: readers (and a rerun after a
kill) see the old file or the complete new one, never half of one. Every file the pipeline writes goes through
here."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import IO, Callable


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
