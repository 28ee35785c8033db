"""An experiment's final metrics on its training's tracker run, so the curves and the numbers they led to sit in one
place: each metric file's headline numbers under final/ names, sent through the run directory's trackers (the same
W&B run id from trackers.json, the same TensorBoard log directory) at the training's last step.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Sequence

from jointdiff import keys as K
from jointdiff.errors import UserError
from jointdiff.train.trackers import STATE_FILE, Trackers, TrackerSettings

log = logging.getLogger(__name__)

FID_NUMBERS = (K.KEY_FID, K.KEY_PRECISION, K.KEY_RECALL, K.KEY_F_SCORE, K.KEY_KID_MEAN, K.KEY_KID_STD,
               K.KEY_ISC_MEAN, K.KEY_ISC_STD)
JUDGES = {"own": K.KEY_OWN_TARGET_ACCURACY, "independent": K.KEY_INDEPENDENT_TARGET_ACCURACY}


def final_numbers(path: Path) -> dict[str, float]:
    """One metric file's numbers as tracker names: accuracy.json's clean accuracy per weight set
    (final/accuracy_ema), an FID file's metrics (final/fid_standard_ema/fid), a guided score file's target rate by
    each judge (final/guided_ema_alpha10/independent). Per-class lists and curves stay in the files."""
    data, name = json.loads(path.read_text()), path.stem
    if isinstance(data.get(K.KEY_WEIGHTS), dict):
        return {f"final/{key}_{weights}": float(numbers[key]) for weights, numbers in data[K.KEY_WEIGHTS].items()
                for key in (K.KEY_ACCURACY, K.KEY_TOP5) if key in numbers}
    if K.KEY_FID in data:
        return {f"final/{name}/{key}": float(data[key]) for key in FID_NUMBERS if data.get(key) is not None}
    if K.KEY_OWN_TARGET_ACCURACY in data:
        return {f"final/{name}/{judge}": float(data[key]) for judge, key in JUDGES.items() if data.get(key) is not None}
    raise UserError(f"{path}: not an accuracy, FID or guided-score file (it has no {K.KEY_WEIGHTS} per weight set, "
                    f"no {K.KEY_FID} and no {K.KEY_OWN_TARGET_ACCURACY})")


def last_step(run_dir: Path) -> int:
    """The step of the training's last train_log.jsonl record (its final validation)."""
    path = run_dir / "train_log.jsonl"
    lines = path.read_text().splitlines() if path.is_file() else []
    if not lines:
        raise UserError(f"{run_dir} has no train_log.jsonl records: not the directory of a training run")
    return int(json.loads(lines[-1])[K.LOG_STEP])


def track_metrics(settings: TrackerSettings, run_dir: Path, metric_files: Sequence[Path]) -> dict[str, Any]:
    """Send the metric files' numbers to the run's trackers as its final numbers; returns what was sent."""
    values = {key: value for path in metric_files for key, value in final_numbers(path).items()}
    step = last_step(run_dir)
    state = run_dir / STATE_FILE
    if "wandb" in settings.names and "wandb_id" not in (json.loads(state.read_text()) if state.is_file() else {}):
        log.warning("the training in %s logged to no W&B run: its final metrics start a new one", run_dir)
    trackers = Trackers(settings, run_dir, None, step)
    trackers.summary(values, step)
    sent = {"trackers": list(settings.names), "step": step, "wandb_id": trackers.state.get("wandb_id"),
            "metrics": values, "files": [str(p) for p in metric_files]}
    trackers.close()
    return sent
