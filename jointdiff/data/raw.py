"""What a dataset source hands the loaders: one official split as it is stored, and the source interface.

A source (`digits.py`, `folder.py`, `torchvision_sets.py`) knows its files under `<root>/<name>/` (see
`layout.py`), how to fetch them, and how to read one official split. Everything after that (carving `valid`,
resizing, masking labels, holding the data in memory) is the loaders' job, the same for every dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch


@dataclass(frozen=True)
class RawSplit:
    """One split as stored: either a uint8 array, or image files decoded on demand.

    labels: int64 [N] class indices, or float32 [N x K] binary attributes (multi-label).
    images: uint8 [N x C x H x W] when the files are arrays (MNIST, CIFAR, SVHN, digits); else None.
    paths:  one image file per sample when the files are images (CelebA, folder); else None.
    """

    labels: torch.Tensor
    classes: tuple[str, ...]
    images: torch.Tensor | None = None
    paths: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        assert (self.images is None) != (self.paths is None), "a split holds an array or image files"
        assert len(self.labels) == len(self.images if self.images is not None else self.paths)

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: torch.Tensor) -> RawSplit:
        """The samples at `indices` (int64), in that order."""
        return RawSplit(
            labels=self.labels[indices],
            classes=self.classes,
            images=None if self.images is None else self.images[indices],
            paths=None if self.paths is None else tuple(self.paths[i] for i in indices.tolist()),
        )


class Source(Protocol):
    """Where a dataset's files live under `<root>/<name>/` and how to fetch and read them."""

    official_splits: tuple[str, ...]

    def fetch(self, root: Path, download: bool, source: Path | None) -> None:
        """Make the files present: use what is there, fetch what is missing (or raise DatasetError)."""

    def open(self, root: Path, split: str) -> RawSplit:
        """Read one official split; DatasetError if the files are missing or unreadable."""

    def data_paths(self, root: Path) -> list[Path]:
        """Files (checksummed) and image directories (counted) that make up the dataset, for the manifest."""
