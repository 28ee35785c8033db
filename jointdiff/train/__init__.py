"""Training: the loop and everything only it uses.

`loop.py` orders the parts of a run; `step.py` is one optimizer step over `joint_loss.py` (with the classifier's
`augment.py`), fed by `batches.py` and `data.py`; `state.py` holds what a restart needs, written by
`checkpoint.py`; `ema.py`, `crossrank_batchnorm.py`, `records.py`, `validation.py`, `stopping.py`,
`progress_grid.py` and `trackers.py` (TensorBoard, W&B) do one job each; `noised_classifier.py` trains classic
guidance's separate classifier. Code outside this package uses only the names below.
"""

from jointdiff.train.augment import build_augmentation
from jointdiff.train.ema import make_ema, update_ema
from jointdiff.train.loop import training_loop
from jointdiff.train.noised_classifier import train_noised_classifier
from jointdiff.train.records import TrainingDiverged
from jointdiff.train.run_dir import RunPaths
from jointdiff.train.state import build_optimizer
from jointdiff.train.step import TrainStep
from jointdiff.train.stopping import TrainingPaused
from jointdiff.train.trackers import TrackerSettings

__all__ = ["RunPaths", "TrackerSettings", "TrainStep", "TrainingDiverged", "TrainingPaused", "build_augmentation",
           "build_optimizer", "make_ema", "update_ema", "training_loop", "train_noised_classifier"]
