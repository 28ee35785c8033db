"""Training state on disk: atomic writes, the newest valid checkpoint, and rotation.

Checkpoints live in `<run_dir>/checkpoints/ckpt-<step>.pt`, outside the files Snakemake declares, because
Snakemake deletes a failed job's outputs. Each is written to a temporary name, fsynced, then renamed, so a kill
never leaves a half-written file under a real name; a file that still fails to load (a disk fault, a copy cut
short) is reported and the previous checkpoint is used. A full disk ends the run with one line that names the file,
what it needs and the checkpoint a rerun resumes from.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import torch

from jointdiff.atomic import atomic_write
from jointdiff.errors import UserError
from jointdiff.jobs.resume import checkpoint_path, list_checkpoints

log = logging.getLogger(__name__)


class DiskFull(UserError):
    """A training file did not fit on its disk; the files written before it are intact."""


def _out_of_space(err: BaseException | None) -> bool:
    """Whether a failed write ran out of space: torch's zip writer raises a RuntimeError ("unexpected pos ...")
    whose context is the OSError of the file's write."""
    while err is not None:
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            return True
        err = err.__cause__ or err.__context__
    return False


def _tensor_bytes(obj: Any) -> int:
    if isinstance(obj, torch.Tensor):
        return obj.nbytes
    if isinstance(obj, dict):
        return sum(_tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(_tensor_bytes(v) for v in obj)
    return 0


def _disk_full(obj: Any, path: Path, ckpt_dir: Path, step: int) -> DiskFull:
    """The one-line error of a write that ran out of space: the file, its size, and where a rerun resumes."""
    earlier = [c for c in list_checkpoints(ckpt_dir) if c[0] <= step]
    resume = (f"{earlier[-1][1]} (step {earlier[-1][0]}) is intact and a rerun resumes from it" if earlier
              else "there is no earlier checkpoint, so a rerun starts the run anew")
    free = shutil.disk_usage(path.parent).free
    return DiskFull(f"no space left on the device for {path}: it needs about {_tensor_bytes(obj) / 2 ** 20:.1f} MiB "
                    f"(its tensors), {free / 2 ** 20:.1f} MiB are free; {resume}. Free some space and rerun")


def atomic_torch_save(obj: Any, path: str | Path, ckpt_dir: str | Path, step: int) -> None:
    """torch.save through `atomic_write`, then fsync the directory so the rename itself survives a crash. A full disk
    raises DiskFull naming the newest checkpoint of ckpt_dir up to `step`, which a rerun resumes from."""
    path = Path(path)
    try:
        atomic_write(path, lambda f: torch.save(obj, f))
    except (OSError, RuntimeError) as err:
        if not _out_of_space(err):
            raise
        raise _disk_full(obj, path, Path(ckpt_dir), step) from None
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def save_checkpoint(state: dict[str, Any], ckpt_dir: str | Path, step: int, keep: int) -> Path:
    """Write the state for `step` atomically, then keep the newest `keep` checkpoints up to `step`.

    Checkpoints of later steps are never this run's: they were unreadable when it resumed from an earlier one.
    Counting them would delete each new good checkpoint in favour of broken ones, so they are left alone (and
    replaced when training reaches their step).
    """
    path = checkpoint_path(ckpt_dir, step)
    atomic_torch_save(state, path, ckpt_dir, step)
    for _, old in [c for c in list_checkpoints(ckpt_dir) if c[0] <= step][:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_latest_checkpoint(ckpt_dir: str | Path) -> tuple[dict[str, Any], Path] | None:
    """The newest checkpoint that loads, or None; broken newer ones are reported and skipped."""
    for step, path in reversed(list_checkpoints(ckpt_dir)):
        try:
            state = torch.load(path, map_location="cpu", weights_only=False)
            if not isinstance(state, dict) or state.get("step") != step:
                raise ValueError(f"step field {state.get('step') if isinstance(state, dict) else None} "
                                 f"does not match the file name")
        except Exception as err:  # any unreadable file: fall back to the previous one
            log.warning("checkpoint %s is unreadable (%s); trying the previous one", path, err)
            continue
        return state, path
    return None
