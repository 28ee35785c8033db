"""A user's own images, one sub-directory per class (torchvision's ImageFolder layout).

`prepare --source DIR` COPIES the images (only files with an image extension) into `<root>/folder/images/`:
the root is then self-contained, so a cluster job needs only the root, and the manifest's counts describe
exactly what will be trained on. Two layouts are read:

    DIR/<class>/*.png                      one pool; `test` is a fixed seeded 10% of it, `train` the rest
    DIR/train/<class>/*, DIR/test/<class>/*   the user's own train/test split (same class folders in both)

Images of any size are decoded on demand: shorter side resized to the requested size, centre crop, and the
requested channels (see `images.py`).
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import torch

from jointdiff.data.layout import dataset_dir, how_to_prepare
from jointdiff.data.raw import RawSplit
from jointdiff.data.splits import carve
from jointdiff.errors import DatasetError

log = logging.getLogger(__name__)

TEST_SHARE = 0.1  # of a single-pool folder, held out as `test`
TEST_SEED = 0


class FolderSource:
    """Images in `<root>/folder/images/`, copied there from `--source`."""

    official_splits = ("train", "test")

    def _images(self, root: Path) -> Path:
        return dataset_dir("folder", root) / "images"

    def fetch(self, root: Path, download: bool, source: Path | None) -> None:
        """Copy `source` in (replacing an earlier copy), or use images already placed in the root."""
        images = self._images(root)
        if source is None:
            if not images.is_dir():
                raise DatasetError(f"dataset folder: {images} does not exist; {how_to_prepare('folder', root)}")
            return
        source = Path(source)
        if not source.is_dir():
            raise DatasetError(f"dataset folder: --source {source} is not a directory; "
                               f"{how_to_prepare('folder', root)}")
        from torchvision.datasets.folder import IMG_EXTENSIONS

        def skip(directory: str, names: list[str]) -> list[str]:
            return [n for n in names if n.startswith(".")
                    or not (os.path.isdir(os.path.join(directory, n)) or n.lower().endswith(IMG_EXTENSIONS))]

        log.info("copying the images of %s into %s", source, images)
        images.parent.mkdir(parents=True, exist_ok=True)
        tmp = images.with_name(f".images.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(source, tmp, ignore=skip)
        if images.exists():
            shutil.rmtree(images)
        os.replace(tmp, images)

    def _scan(self, directory: Path, root: Path) -> tuple[list[tuple[str, int]], tuple[str, ...]]:
        from torchvision.datasets import ImageFolder

        try:
            found = ImageFolder(str(directory))
        except (FileNotFoundError, OSError) as err:
            raise DatasetError(f"dataset folder under {root}: {directory} has no readable class folders ({err}); "
                               f"{how_to_prepare('folder', root)}") from err
        return found.samples, tuple(found.classes)

    def open(self, root: Path, split: str) -> RawSplit:
        images = self._images(root)
        if (images / "train").is_dir() and (images / "test").is_dir():
            samples, classes = self._scan(images / split, root)
            if split == "test" and classes != (train_classes := self._scan(images / "train", root)[1]):
                raise DatasetError(f"dataset folder under {root}: {images}/test has classes {list(classes)} but "
                                   f"{images}/train has {list(train_classes)}; use the same class folders in both")
            chosen = None
        else:
            samples, classes = self._scan(images, root)
            test, train = carve(len(samples), TEST_SHARE, TEST_SEED)
            chosen = test if split == "test" else train
        raw = RawSplit(labels=torch.tensor([label for _, label in samples], dtype=torch.int64), classes=classes,
                       paths=tuple(path for path, _ in samples))
        return raw if chosen is None else raw.subset(chosen)

    def data_paths(self, root: Path) -> list[Path]:
        return [self._images(root)]
