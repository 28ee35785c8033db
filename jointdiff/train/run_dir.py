"""The files of one training run: where the loop writes, all under one run directory except the final model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jointdiff.jobs.resume import CHECKPOINT_DIR, CONFIG_FILE


@dataclass
class RunPaths:
    run_dir: Path
    model_out: Path

    @property
    def ckpt_dir(self) -> Path:
        return self.run_dir / CHECKPOINT_DIR

    @property
    def config_file(self) -> Path:
        """The config of the latest launch (the checkpoints carry the one each was trained with)."""
        return self.run_dir / CONFIG_FILE

    @property
    def lock_file(self) -> Path:
        """Held by the launch that writes the directory (`atomic.exclusive_lock`)."""
        return self.run_dir / "train.lock"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "train_log.jsonl"

    @property
    def grid_dir(self) -> Path:
        return self.run_dir / "progress"
