"""Training state on disk: atomic writes, the newest valid checkpoint, and rotation.

Checkpoints live in `<run_dir>/checkpoints/ckpt-<step>.pt`, outside the files Snakemake declares, because
Snakemake deletes a failed job's outputs. Each is written to a temporary name, fsynced, then renamed, so a kill
never leaves a half-written file under a real name; a file that still fails to load (a disk fault, a copy cut
short) is reported and the previous checkpoint is used.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import torch

from jointdiff.atomic import atomic_write
from jointdiff.resume import checkpoint_path, list_checkpoints

log = logging.getLogger(__name__)


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """torch.save through `atomic_write`, then fsync the directory so the rename itself survives a crash."""
    path = Path(path)
    atomic_write(path, lambda f: torch.save(obj, f))
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
    atomic_torch_save(state, path)
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
