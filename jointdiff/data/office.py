"""Office-31 as the authors' domain adaptation amazon -> webcam (DA_OFFICE_A_W), placed by hand.

Office-31 (Saenko et al. 2010) has no stable download, so its archive is extracted by hand into
`<root>/DA_OFFICE_A_W/` (the spec's placement names the files). Each domain is an ImageFolder of 31 classes under
`<domain>/images/`. Train: amazon with its labels, then webcam with its labels hidden; test: webcam with its
labels (the authors validated and tested on the webcam images they adapted to). Images are decoded on demand:
shorter side to 64 px, centre crop (the authors resized the shorter side only; Office images are not all square).
"""

from __future__ import annotations

from pathlib import Path

import torch

from jointdiff.data.layout import dataset_dir, manual_steps, prepare_command
from jointdiff.data.masking import UNLABELLED
from jointdiff.data.raw import RawSplit
from jointdiff.data.specs import OFFICE_DOMAINS
from jointdiff.errors import DatasetError

NAME = "DA_OFFICE_A_W"


class OfficeSource:
    official_splits = ("train", "test")

    def _images(self, root: Path, domain: str) -> Path:
        return dataset_dir(NAME, root) / domain / "images"

    def fetch(self, root: Path, download: bool, source: Path | None) -> None:
        """Office-31 cannot be downloaded: check that both domains are in place, or name what to place."""
        if source is not None:
            raise DatasetError(f"dataset {NAME}: --source only applies to the folder dataset")
        missing = [str(self._images(root, d)) for d in OFFICE_DOMAINS if not self._images(root, d).is_dir()]
        if missing:
            raise DatasetError(f"dataset {NAME}: {' and '.join(missing)} not found; {manual_steps(NAME, root)}, "
                               f"then run `{prepare_command(NAME, root, download=False)}`")

    def _scan(self, root: Path, domain: str) -> tuple[list[tuple[str, int]], tuple[str, ...]]:
        from torchvision.datasets import ImageFolder

        try:
            found = ImageFolder(str(self._images(root, domain)))
        except (FileNotFoundError, OSError) as err:
            raise DatasetError(f"dataset {NAME}: {self._images(root, domain)} holds no readable class folders "
                               f"({err}); {manual_steps(NAME, root)}") from err
        return found.samples, tuple(found.classes)

    def open(self, root: Path, split: str) -> RawSplit:
        (source, source_classes), (target, target_classes) = (self._scan(root, d) for d in OFFICE_DOMAINS)
        if source_classes != target_classes:
            raise DatasetError(f"dataset {NAME}: the class folders of {' and '.join(OFFICE_DOMAINS)} differ; "
                               f"{manual_steps(NAME, root)}")
        target_labels = [label for _, label in target]
        if split == "test":
            samples, labels = target, target_labels
        else:
            samples, labels = source + target, [label for _, label in source] + [UNLABELLED] * len(target)
        return RawSplit(labels=torch.tensor(labels, dtype=torch.int64), classes=source_classes,
                        paths=tuple(path for path, _ in samples))

    def data_paths(self, root: Path) -> list[Path]:
        return [self._images(root, d) for d in OFFICE_DOMAINS]
