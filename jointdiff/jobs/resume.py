"""Whether a run directory's checkpoints may continue under a config, decided without torch.

The training loop checks the checkpoint it loads (`train.state.resume_point`); the workflow checks each run
directory's config.json at validation, because by the time a job starts Snakemake has already deleted a finished
run's model.pt to retrain it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from jointdiff.config import RESUME_MAY_CHANGE, ExperimentConfig, changed_settings
from jointdiff.errors import ConfigError

CHECKPOINT_DIR = "checkpoints"
CONFIG_FILE = "config.json"  # the config of a run directory's latest launch, written once its resume was accepted
CKPT_PATTERN = re.compile(r"^ckpt-(\d{9})\.pt$")


def checkpoint_path(ckpt_dir: str | Path, step: int) -> Path:
    return Path(ckpt_dir) / f"ckpt-{step:09d}.pt"


def list_checkpoints(ckpt_dir: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of every checkpoint in the directory, oldest first."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    found = []
    for p in ckpt_dir.iterdir():
        m = CKPT_PATTERN.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def check_resume(saved: dict[str, Any], step: int, cfg: ExperimentConfig, path: Path, ckpt_dir: Path) -> None:
    """ConfigError unless a run whose checkpoint `path` (at `step`) was trained with the config `saved` may
    continue under cfg: only settings in RESUME_MAY_CHANGE may differ, each other one is named."""
    changed = changed_settings(saved, cfg)
    if changed:
        listed = ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in changed.items())
        raise ConfigError(f"{path} was trained with other settings ({listed}); a resumed run may change only "
                          f"{', '.join(RESUME_MAY_CHANGE)}. Set them back, or start a new run: another --run-dir "
                          f"(in the workflow: another experiment name), or move {ckpt_dir} away")
    if step > cfg.num_steps:
        raise ConfigError(f"num_steps {cfg.num_steps} is below step {step} of {path}, where this run "
                          f"would resume; raise num_steps, or start a new run (another --run-dir)")


def check_run_dir(cfg: ExperimentConfig, run_dir: str | Path) -> None:
    """`check_resume` for a run directory's newest checkpoint, by the config.json beside it (no checkpoint is
    loaded). Nothing to check without checkpoints; an unreadable config.json is left to the training loop, which
    checks the checkpoint itself."""
    run_dir = Path(run_dir)
    checkpoints = list_checkpoints(run_dir / CHECKPOINT_DIR)
    try:
        saved = json.loads((run_dir / CONFIG_FILE).read_text())
    except (OSError, ValueError):
        return
    if checkpoints and isinstance(saved, dict):
        step, newest = checkpoints[-1]
        check_resume(saved, step, cfg, newest, run_dir / CHECKPOINT_DIR)
