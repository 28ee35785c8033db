"""Training: the loop and everything only it uses.

`loop.py` orders the parts of a run; `step.py` is one optimizer step over `joint_loss.py` (with the classifier's
`augment.py`), fed by `batches.py` and `data.py`; `state.py` holds what a restart needs, written by
`checkpoint.py`; `ema.py`, `crossrank_batchnorm.py`, `records.py`, `validation.py`, `stopping.py` and
`progress_grid.py` do one job each; `trackers.py` sends the run to TensorBoard and W&B, and `final_metrics.py`
adds the experiment's final metrics to that tracker run; `noised_classifier.py` trains classic guidance's separate
classifier. Code outside this package uses only the names below.
"""

from jointdiff.train.augment import build_augmentation
from jointdiff.train.batches import GlobalBatchStream, rank_batches
from jointdiff.train.data import TrainingData
from jointdiff.train.ema import make_ema, update_ema
from jointdiff.train.final_metrics import track_metrics
from jointdiff.train.loop import training_loop
from jointdiff.train.noised_classifier import fit_noised_classifier
from jointdiff.train.records import LossTotals, TrainingDiverged
from jointdiff.train.run_dir import RunPaths
from jointdiff.train.state import build_optimizer, build_state
from jointdiff.train.step import StepRunner, TrainStep
from jointdiff.train.stopping import TrainingPaused
from jointdiff.train.trackers import TrackerSettings

# The loop's own parts (GlobalBatchStream ... StepRunner) are here for benchmarks/gpu_check.py, which times the
# loop's step as the loop runs it.
__all__ = ["GlobalBatchStream", "LossTotals", "RunPaths", "StepRunner", "TrackerSettings", "TrainStep",
           "TrainingData", "TrainingDiverged", "TrainingPaused", "build_augmentation", "build_optimizer",
           "build_state", "make_ema", "rank_batches", "update_ema", "track_metrics", "training_loop",
           "fit_noised_classifier"]
