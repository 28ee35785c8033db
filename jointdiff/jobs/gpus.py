"""Which GPUs a job may use: a machine-wide slot allocator, so that no GPU serves two jobs at once.

Snakemake counts the GPUs its running jobs ask for but never says which ones are whose: without this every job
would start on cuda:0 and two 4-GPU trainings would share GPUs 0-3. Each GPU id of the pool has a lock file; a job
holds a GPU while it holds that file's `flock`. The kernel drops such a lock when the last process holding the
file closes it, so the hold ends when the job ends, however it ends (a kill -9 included), and no stale file can
keep a GPU busy. A job takes all the GPUs it asks for at once or none (so two jobs never hold part of what each
other needs), and waits while too few are free.

The pool is the `CUDA_VISIBLE_DEVICES` the workflow was started with, else every GPU `nvidia-smi -L` lists. Inside
a scheduler's job (SLURM sets `CUDA_VISIBLE_DEVICES` to what it allocated, numbered from 0 in each job) the locks
are that job's own, so jobs of other allocations on the same node never wait on each other.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from jointdiff.errors import UserError

JOB_GPUS_ENV = "JOINTDIFF_JOB_GPUS"  # how many GPUs a launched command must see (checked where it picks its device)
LOCK_DIR_ENV = "JOINTDIFF_GPU_LOCK_DIR"
DEFAULT_LOCK_DIR = "/tmp/jointdiff-gpu-locks"
POLL_SECONDS = 2.0


@dataclass(frozen=True)
class Pool:
    ids: tuple[str, ...]   # as CUDA_VISIBLE_DEVICES names them: indices, or UUIDs / MIG ids
    source: str            # where they came from, for the job's log
    lock_dir: Path


def visible_ids(value: str) -> tuple[str, ...]:
    """The GPU ids a CUDA_VISIBLE_DEVICES value names ("" and "-1" name none)."""
    ids = tuple(part.strip() for part in value.split(","))
    return () if ids in ((), ("",), ("-1",)) else tuple(i for i in ids if i)


def nvidia_smi_ids() -> tuple[str, ...]:
    """Indices of the GPUs `nvidia-smi -L` lists ("GPU 0: ..." lines); none without nvidia-smi."""
    if shutil.which("nvidia-smi") is None:
        return ()
    listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False).stdout
    return tuple(line.split(":")[0].split()[1] for line in listing.splitlines() if line.startswith("GPU "))


def machine_pool(environ: Mapping[str, str] = os.environ) -> Pool:
    """The GPUs jobs of this workflow may share out, and the lock directory that keeps them apart."""
    lock_dir = Path(environ.get(LOCK_DIR_ENV, DEFAULT_LOCK_DIR))
    if "SLURM_JOB_ID" in environ:
        lock_dir = lock_dir / f"slurm-{environ['SLURM_JOB_ID']}"
    if "CUDA_VISIBLE_DEVICES" in environ:
        scheduler = " (this SLURM job's allocation)" if "SLURM_JOB_ID" in environ else ""
        return Pool(visible_ids(environ["CUDA_VISIBLE_DEVICES"]), f"CUDA_VISIBLE_DEVICES{scheduler}", lock_dir)
    return Pool(nvidia_smi_ids(), "nvidia-smi -L", lock_dir)


def _try_lock(path: Path) -> int | None:
    """An open descriptor holding `path`'s exclusive flock, or None when another process holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    if os.fstat(fd).st_uid == os.getuid():
        os.fchmod(fd, 0o666)  # other users' jobs share the machine's GPUs too: past the umask
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())  # who holds it, for a person looking; the lock is the flock
    return fd


def _make_lock_dir(path: Path) -> None:
    """The lock directory, writable by every user of the machine (like /tmp)."""
    try:
        if not path.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            os.chmod(path, 0o1777)
    except OSError as err:
        raise UserError(f"cannot create the GPU lock directory {path} ({err.strerror}); set {LOCK_DIR_ENV} to a "
                        "directory every job of this machine can write") from err


def _lock_name(gpu_id: str) -> str:
    return "gpu-" + "".join(c if c.isalnum() or c in "-_." else "_" for c in gpu_id)


def try_hold(pool: Pool, count: int) -> dict[str, int] | None:
    """{gpu id: descriptor holding its lock} for `count` free GPUs of the pool, or None (nothing held) when fewer
    are free."""
    _make_lock_dir(pool.lock_dir)
    held: dict[str, int] = {}
    for gpu_id in pool.ids:
        fd = _try_lock(pool.lock_dir / _lock_name(gpu_id))
        if fd is not None:
            held[gpu_id] = fd
        if len(held) == count:
            return held
    for fd in held.values():
        os.close(fd)
    return None


def hold_gpus(count: int, pool: Pool, *, say: Callable[[str], None] = print,
              poll_seconds: float = POLL_SECONDS) -> dict[str, int]:
    """Wait until `count` GPUs of the pool are free and hold them: {gpu id: lock descriptor}, in pool order.

    The descriptors are inheritable, so a command exec'd in this process keeps the hold until it ends.
    """
    if count < 0:
        raise UserError(f"a job cannot ask for {count} GPUs")
    if count > len(pool.ids):
        raise UserError(f"this job asks for {count} GPU(s) but the pool ({pool.source}) has "
                        f"{len(pool.ids)}{': ' + ','.join(pool.ids) if pool.ids else ''}; give the job fewer "
                        "(--resources gpu=N scales every job down to N) or run where there are more")
    if count == 0:
        return {}
    waiting_since = None
    while (held := try_hold(pool, count)) is None:
        if waiting_since is None:
            waiting_since = time.monotonic()
            say(f"waiting for {count} free GPU(s) of {','.join(pool.ids)} ({pool.source}); the others' jobs hold "
                f"them (lock files in {pool.lock_dir})")
        time.sleep(poll_seconds)
    if waiting_since is not None:
        say(f"waited {time.monotonic() - waiting_since:.0f} s for free GPUs")
    for fd in held.values():
        os.set_inheritable(fd, True)
    return {gpu_id: held[gpu_id] for gpu_id in pool.ids if gpu_id in held}
