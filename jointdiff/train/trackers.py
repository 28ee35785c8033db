"""Optional experiment trackers, for watching a long run live and comparing runs in tools researchers already use:
TensorBoard (event files in <run-dir>/tensorboard) and W&B (online, or offline on nodes without internet: files
in <run-dir>/wandb, uploaded later with `wandb sync`).

Each gets every number of every train_log.jsonl record at its step, the progress grids, the run's config as its
hyperparameters, and later the experiment's final metrics (`final_metrics.py`). Only the main rank logs. A resumed
training continues the same tracker run, and no step reaches a tracker twice: TensorBoard drops the events past
the checkpoint the resume starts from (its purge_step, as train_log.jsonl drops those records), W&B, which cannot
take back a step, skips the steps it already has. Which trackers a run uses, W&B's run id and its next step are
kept in <run-dir>/trackers.json.
"""

from __future__ import annotations

import atexit
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jointdiff.atomic import atomic_write_text

STATE_FILE = "trackers.json"


@dataclass(frozen=True)
class TrackerSettings:
    names: tuple[str, ...] = ()
    wandb_mode: str = "online"
    wandb_project: str = "jointdiff"


def numbers(record: dict[str, Any]) -> dict[str, float]:
    """The numbers of a record, as trackers plot them: everything but its step, clock time and flags."""
    return {k: float(v) for k, v in record.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in ("step", "time")}


def flat(config: dict[str, Any]) -> dict[str, Any]:
    """A config as hyperparameters: numbers, text and flags as they are, anything else (lists, None) as text."""
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in config.items()}


class Trackers:
    """The trackers of one run directory; with no names (or off the main rank) every call does nothing."""

    def __init__(self, settings: TrackerSettings, run_dir: Path, config: dict[str, Any] | None, step: int) -> None:
        self.tensorboard = self.wandb = None
        if not settings.names:
            return
        self.path = run_dir / STATE_FILE
        self.state = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.state["trackers"] = list(settings.names)
        if "tensorboard" in settings.names:
            from torch.utils.tensorboard import SummaryWriter
            self.tensorboard = SummaryWriter(str(run_dir / "tensorboard"), purge_step=step + 1 if config else None)
            if config:
                from torch.utils.tensorboard.summary import hparams
                for summary in hparams(flat(config), {}):
                    self.tensorboard.file_writer.add_summary(summary)
        if "wandb" in settings.names:
            import wandb
            self.state.setdefault("wandb_id", uuid.uuid4().hex[:12])
            self.wandb = wandb.init(project=settings.wandb_project, id=self.state["wandb_id"], resume="allow",
                                    dir=str(run_dir), mode=settings.wandb_mode, config=config,
                                    name=(config or {}).get("experiment_name") or None)
            self.wandb_from = self.state.get("wandb_next_step", 0)
        self.save()
        atexit.register(self.close)  # also when the run pauses or fails

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(self.state, indent=2) + "\n")

    def log(self, record: dict[str, Any]) -> None:
        """One train_log.jsonl record, at its step."""
        self._log(record["step"], numbers(record))

    def image(self, name: str, png: Path, step: int) -> None:
        from PIL import Image
        with Image.open(png) as image:
            pixels = np.asarray(image.convert("RGB"))
        if self.tensorboard:
            self.tensorboard.add_image(name, pixels, step, dataformats="HWC")
            self.tensorboard.flush()
        if self.wandb and step >= self.wandb_from:
            import wandb
            self.wandb.log({name: wandb.Image(pixels)}, step=step)
            self._wandb_logged(step)

    def _log(self, step: int, values: dict[str, float]) -> None:
        self._tensorboard_scalars(values, step)
        if self.wandb and step >= self.wandb_from:
            self.wandb.log(values, step=step)
            self._wandb_logged(step)

    def _wandb_logged(self, step: int) -> None:
        self.state["wandb_next_step"] = step + 1
        self.save()

    def summary(self, values: dict[str, float], step: int) -> None:
        """Final numbers of the run: TensorBoard scalars at the run's last step, W&B's run summary."""
        self._tensorboard_scalars(values, step)
        if self.wandb:
            self.wandb.summary.update(values)

    def _tensorboard_scalars(self, values: dict[str, float], step: int) -> None:
        if self.tensorboard:
            for key, value in values.items():
                self.tensorboard.add_scalar(key, value, step)
            self.tensorboard.flush()

    def close(self) -> None:
        if self.tensorboard:
            self.tensorboard.close()
        if self.wandb:
            self.wandb.finish()
        self.tensorboard = self.wandb = None


def open_trackers(settings: TrackerSettings, run_dir: Path, config: dict[str, Any], step: int,
                  is_main: bool) -> Trackers:
    """The run's trackers on the main rank, continuing from `step` (the resumed checkpoint's, or 0)."""
    return Trackers(settings if is_main else TrackerSettings(), run_dir, config, step)
