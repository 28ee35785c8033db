"""The built-in offline dataset: scikit-learn's bundled handwritten digits, upscaled to 16 x 16.

scikit-learn ships 1,797 8 x 8 digits with values 0..16 in 10 classes. `prepare` scales them to 0..255,
upscales them bilinearly to 16 x 16 (so the UNet has two levels to work with), splits them once, stratified by
class with a fixed seed, into 1,437 train and 360 test images, and stores uint8 arrays in
`<root>/digits/digits.npz`. Loading reads only that file: no scikit-learn, no network.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from jointdiff.atomic import atomic_write
from jointdiff.data.layout import dataset_dir, how_to_prepare
from jointdiff.data.raw import RawSplit
from jointdiff.errors import DatasetError
from jointdiff.images import NPZ_READ_ERRORS

log = logging.getLogger(__name__)

FILE = "digits.npz"
SIZE = 16          # side after upscaling
TEST_SHARE = 0.2   # scikit-learn rounds the test part up: 360 of 1,797
SPLIT_SEED = 0
CLASSES = tuple(str(d) for d in range(10))


def build_digits() -> dict[str, np.ndarray]:
    """The train/test arrays from scikit-learn's copy: uint8 N x 1 x 16 x 16 images, int64 labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = torch.from_numpy(bunch.images).float().unsqueeze(1) * (255.0 / 16.0)
    images = F.interpolate(images, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    images = images.round().clamp(0, 255).to(torch.uint8).numpy()
    labels = bunch.target.astype(np.int64)
    train_x, test_x, train_y, test_y = train_test_split(images, labels, test_size=TEST_SHARE,
                                                        random_state=SPLIT_SEED, stratify=labels)
    return {"train_images": train_x, "train_labels": train_y, "test_images": test_x, "test_labels": test_y}


class DigitsSource:
    """Digits from `<root>/digits/digits.npz`, built from scikit-learn when missing."""

    official_splits = ("train", "test")

    def _file(self, root: Path) -> Path:
        return dataset_dir("digits", root) / FILE

    def fetch(self, root: Path, download: bool, source: Path | None) -> None:
        """Build the file unless it is there; `download` does not matter, nothing is downloaded."""
        if source is not None:
            raise DatasetError("dataset digits: --source only applies to the folder dataset")
        path = self._file(root)
        if path.is_file():
            return
        log.info("building %s from scikit-learn's bundled digits", path)
        atomic_write(path, lambda f: np.savez(f, **build_digits()))

    def open(self, root: Path, split: str) -> RawSplit:
        path = self._file(root)
        try:
            with np.load(path) as arrays:
                images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        except NPZ_READ_ERRORS as err:
            raise DatasetError(f"dataset digits under {root}: {path} is missing or unreadable ({err}); delete it "
                               f"and {how_to_prepare('digits', root)}") from err
        return RawSplit(labels=torch.from_numpy(labels), classes=CLASSES, images=torch.from_numpy(images))

    def data_paths(self, root: Path) -> list[Path]:
        return [self._file(root)]
