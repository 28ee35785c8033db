"""Load a prepared dataset split: the one entry point training, evaluation and metrics use.

Every dataset goes the same way: check the manifest (the dataset is prepared), read the official split with
its source, carve `valid` if needed, convert to the requested size and channels, hide labels for
semi-supervised runs. Any dataset can be resized or channel-converted (MNIST as 3 x 32 x 32 for the
SVHN -> MNIST adaptation is `image_size=32, channels=3`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch.utils.data import Dataset

from jointdiff.data.datasets import ImageFileDataset, InMemoryDataset, decode_all
from jointdiff.data.image_shapes import check_shape, convert_array
from jointdiff.data.layout import how_to_prepare
from jointdiff.data.manifest import check_files, read_manifest
from jointdiff.data.masking import label_mask, mask_labels
from jointdiff.data.raw import RawSplit
from jointdiff.data.sources import get_source
from jointdiff.data.specs import get_spec
from jointdiff.data.splits import VALID_SEED, VALID_SHARE, carve, plan_split
from jointdiff.errors import DatasetError


def open_split(name: str, root: str | Path, split: str) -> RawSplit:
    """A split as stored (before resizing), after checking it is prepared and unchanged since."""
    spec = get_spec(name)
    root = Path(root)
    source = get_source(spec.name)
    official, part = plan_split(spec.name, source.official_splits, split)
    manifest = read_manifest(spec.name, root)
    check_files(manifest, root)
    raw = source.open(root, official)
    if len(raw) != manifest["splits"][official]:
        raise DatasetError(f"dataset {spec.name} under {root}: the {official} split has {len(raw)} images, but "
                           f"{manifest['splits'][official]} when it was prepared; the files changed: "
                           f"{how_to_prepare(spec.name, root)}")
    if part is None:
        return raw
    picked, rest = carve(len(raw), VALID_SHARE, VALID_SEED)
    return raw.subset(picked if part == "picked" else rest)


def _shape(name: str, image_size: int | None, channels: int | None) -> tuple[int, int]:
    spec = get_spec(name)
    size = spec.image_size if image_size is None else image_size
    channels = spec.channels if channels is None else channels
    check_shape(size, channels)
    return size, channels


def _to_uint8(raw: RawSplit, size: int, channels: int, num_workers: int) -> torch.Tensor:
    if raw.images is not None:
        return convert_array(raw.images, size, channels)
    return decode_all(ImageFileDataset(raw.paths, raw.labels, size, channels), num_workers)


def load_uint8_split(name: str, root: str | Path, split: str, *, image_size: int | None = None,
                     channels: int | None = None, num_workers: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(uint8 [N x C x H x W] images, labels) of a split, for FID references and independent classifiers.

    image_size, channels: None = the dataset's own (see `specs.py`). num_workers: processes decoding image
    files (CelebA, folder); array datasets ignore it. Labels are never masked here.
    """
    size, channels = _shape(name, image_size, channels)
    raw = open_split(name, root, split)
    return _to_uint8(raw, size, channels, num_workers), raw.labels


def load_split(name: str, root: str | Path, split: str, *, image_size: int | None = None,
               channels: int | None = None, labelled_share: float = 1.0, mask_seed: int = 0,
               in_memory: bool = True, num_workers: int = 0) -> Dataset:
    """A Dataset of (x float32 [C x H x W] in [-1, 1], y) for one split.

    y: int64 class, or float32 attribute vector (multi-label); -1 (a row of -1) where the label is hidden.
    labelled_share, mask_seed: keep exactly round(share * N) labels, chosen by the seed (semi-supervised).
    in_memory: hold the split as one uint8 tensor (`InMemoryDataset`, with `get_batch`); False reads image
    files (CelebA, folder) on access instead (`ImageFileDataset`); array datasets are always in memory.
    num_workers: processes decoding image files when they are loaded into memory.
    """
    size, channels = _shape(name, image_size, channels)
    raw = open_split(name, root, split)
    labels = raw.labels
    if labelled_share != 1.0:
        labels = mask_labels(labels, label_mask(len(labels), labelled_share, mask_seed))
    if raw.paths is not None and not in_memory:
        return ImageFileDataset(raw.paths, labels, size, channels)
    return InMemoryDataset(_to_uint8(raw, size, channels, num_workers), labels)
