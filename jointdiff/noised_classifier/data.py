"""The noised classifier's images: a prepared dataset's labelled training images (a domain-adaptation or
semi-supervised set hides some labels) and its test split, at the size of the model it will guide."""

from __future__ import annotations

from pathlib import Path

from jointdiff.data.datasets import InMemoryDataset
from jointdiff.data.loaders import load_split
from jointdiff.data.specs import get_spec
from jointdiff.errors import UserError


def classifier_splits(dataset: str, dataroot: str | Path, image_size: int, channels: int
                      ) -> tuple[InMemoryDataset, InMemoryDataset]:
    """(labelled training images, test images) of `dataset` at `image_size` and `channels`."""
    spec = get_spec(dataset)
    train = load_split(spec.name, dataroot, "train", image_size=image_size, channels=channels)
    labelled = (train.labels >= 0).all(dim=1) if spec.multi_label else train.labels >= 0
    if not bool(labelled.any()):
        raise UserError(f"dataset {spec.name}: no labelled training image to train a classifier on")
    train = InMemoryDataset(train.images[labelled], train.labels[labelled])
    return train, load_split(spec.name, dataroot, "test", image_size=image_size, channels=channels)
