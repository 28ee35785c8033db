"""The training run's data: its training and validation splits, the global batch stream over the training split,
and the fixed subset validated between checkpoints."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from jointdiff.config import ExperimentConfig
from jointdiff.data.loaders import load_split
from jointdiff.data.masking import known_labels
from jointdiff.data.splits import training_splits
from jointdiff.train.batches import GlobalBatchStream


@dataclass
class TrainingData:
    train_set: torch.utils.data.Dataset
    valid_set: torch.utils.data.Dataset
    stream: GlobalBatchStream      # which images make each step's global batch
    valid_subset: torch.Tensor     # indices into valid_set, validated every validation_interval steps
    known: torch.Tensor            # bool [len(train_set)] on the CPU: the training labels that are known

    @property
    def all_labelled(self) -> bool:
        """Every training label is known (no semi-supervised masking)."""
        return bool(self.known.all())


def load_training_data(cfg: ExperimentConfig, device: torch.device) -> TrainingData:
    """Both splits at the config's image size and channels; small training sets move to the GPU whole."""
    train_split, valid_split = training_splits(cfg.eval_on_test_set, cfg.validate_on_train)
    shape = dict(image_size=cfg.resolved_image_size(), channels=cfg.resolved_channels())
    train_set = load_split(cfg.dataset, cfg.dataroot, train_split, labelled_share=cfg.labelled_data_share,
                           mask_seed=cfg.seed, in_memory=cfg.in_memory, num_workers=cfg.num_workers, **shape)
    valid_set = load_split(cfg.dataset, cfg.dataroot, valid_split, **shape)
    known = known_labels(train_set.labels.cpu())
    if hasattr(train_set, "to") and device.type == "cuda":
        train_set = train_set.to(device)  # small datasets live on the GPU: no per-step copies
    valid_gen = torch.Generator().manual_seed(cfg.seed)
    valid_subset = torch.randperm(len(valid_set), generator=valid_gen)[:cfg.validation_subset]
    return TrainingData(train_set, valid_set, GlobalBatchStream(len(train_set), cfg.batch_size, cfg.seed),
                        valid_subset, known)
