"""The paper's datasets, read and downloaded by torchvision's own dataset classes.

Each lives in `<root>/<name>/` in torchvision's layout (see `layout.py`). Fetching first opens every official
split without downloading; only a split that fails to open is downloaded, so a root filled by hand (a cluster
without internet) never touches the network. torchvision is imported inside the methods: it takes seconds.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

import torch

from jointdiff.data.layout import dataset_dir, how_to_prepare, manual_steps, prepare_command
from jointdiff.data.raw import RawSplit
from jointdiff.data.specs import CELEBA_FILES, get_spec
from jointdiff.errors import DatasetError

log = logging.getLogger(__name__)


def _cause(err: BaseException) -> str:
    """An exception as one short line (torchvision's download errors span several)."""
    return f"{type(err).__name__}: {' '.join(str(err).split())}"[:300]


class TorchvisionSource(ABC):
    """Shared fetch/open logic; subclasses say how to build the torchvision dataset and read its arrays."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.official_splits = get_spec(name).official_splits

    @abstractmethod
    def _construct(self, root: Path, split: str, download: bool) -> Any:
        """The torchvision dataset of one official split."""

    @abstractmethod
    def _to_raw(self, dataset: Any, root: Path) -> RawSplit:
        """Its labels and uint8 images (or image files)."""

    @abstractmethod
    def data_paths(self, root: Path) -> list[Path]:
        """Files and image directories that make up the dataset."""

    def fetch(self, root: Path, download: bool, source: Path | None) -> None:
        """Download the official splits that do not open yet; refuse with the manual steps if not allowed."""
        if source is not None:
            raise DatasetError(f"dataset {self.name}: --source only applies to the folder dataset")
        for split in self.official_splits:
            # torchvision raises assorted types for absent or damaged files (RuntimeError, AssertionError,
            # OSError, pickle and .mat errors); all of them mean "not usable yet" here.
            try:
                self._construct(root, split, download=False)
                continue
            except Exception as err:  # noqa: BLE001 - re-raised below as one DatasetError
                problem = err
            if not download:
                raise DatasetError(
                    f"dataset {self.name}: the {split} split is missing or unreadable under "
                    f"{dataset_dir(self.name, root)} ({_cause(problem)}); {manual_steps(self.name, root)}, "
                    f"then run `{prepare_command(self.name, root, download=False)}` again "
                    f"(or drop --no-download to fetch it)") from problem
            log.info("%s: downloading the %s split into %s", self.name, split, dataset_dir(self.name, root))
            try:
                self._construct(root, split, download=True)
            except Exception as err:  # noqa: BLE001 - network and archive errors of many types
                raise DatasetError(
                    f"dataset {self.name}: downloading the {split} split into {dataset_dir(self.name, root)} "
                    f"failed ({_cause(err)}); to place the files by hand, {manual_steps(self.name, root)}, then run "
                    f"`{prepare_command(self.name, root, download=False)}`") from err

    def open(self, root: Path, split: str) -> RawSplit:
        try:
            dataset = self._construct(root, split, download=False)
        except Exception as err:  # noqa: BLE001 - see fetch
            raise DatasetError(
                f"dataset {self.name} under {root} cannot be read ({_cause(err)}): remove the damaged files in "
                f"{dataset_dir(self.name, root)}, then {how_to_prepare(self.name, root)}") from err
        return self._to_raw(dataset, root)


class MnistSource(TorchvisionSource):
    """MNIST and FashionMNIST: idx files in `<root>/<name>/raw/` (torchvision adds `<name>/raw` itself)."""

    def _construct(self, root: Path, split: str, download: bool) -> Any:
        import torchvision

        return getattr(torchvision.datasets, self.name)(str(root), train=split == "train", download=download)

    def _to_raw(self, dataset: Any, root: Path) -> RawSplit:
        return RawSplit(labels=dataset.targets.long(), classes=tuple(dataset.classes),
                        images=dataset.data.unsqueeze(1).contiguous())

    def data_paths(self, root: Path) -> list[Path]:
        raw = dataset_dir(self.name, root) / "raw"
        return [raw / f"{part}-{kind}" for part in ("train", "t10k")
                for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")]


class CifarSource(TorchvisionSource):
    """CIFAR10 and CIFAR100 (fine labels): pickled batches in `<root>/<name>/cifar-*-*/`."""

    def _dataset_class(self) -> Any:
        import torchvision

        return getattr(torchvision.datasets, self.name)

    def _construct(self, root: Path, split: str, download: bool) -> Any:
        return self._dataset_class()(str(dataset_dir(self.name, root)), train=split == "train", download=download)

    def _to_raw(self, dataset: Any, root: Path) -> RawSplit:
        return RawSplit(labels=torch.tensor(dataset.targets, dtype=torch.int64), classes=tuple(dataset.classes),
                        images=torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous())

    def data_paths(self, root: Path) -> list[Path]:
        cls = self._dataset_class()
        base = dataset_dir(self.name, root) / cls.base_folder
        return [base / file for file, _ in cls.train_list + cls.test_list] + [base / cls.meta["filename"]]


class SvhnSource(TorchvisionSource):
    """SVHN train and test (.mat files in `<root>/SVHN/`); torchvision already maps the label 10 to 0."""

    def _construct(self, root: Path, split: str, download: bool) -> Any:
        import torchvision

        return torchvision.datasets.SVHN(str(dataset_dir(self.name, root)), split=split, download=download)

    def _to_raw(self, dataset: Any, root: Path) -> RawSplit:
        return RawSplit(labels=torch.from_numpy(dataset.labels).long(), classes=tuple(str(d) for d in range(10)),
                        images=torch.from_numpy(dataset.data).contiguous())

    def data_paths(self, root: Path) -> list[Path]:
        return [dataset_dir(self.name, root) / f"{split}_32x32.mat" for split in self.official_splits]


class CelebASource(TorchvisionSource):
    """CelebA's aligned JPEGs and 40 attributes (0/1), official train/valid/test, in `<root>/CelebA/celeba/`."""

    def _construct(self, root: Path, split: str, download: bool) -> Any:
        import torchvision

        return torchvision.datasets.CelebA(str(dataset_dir(self.name, root)), split=split, target_type="attr",
                                           download=download)

    def _to_raw(self, dataset: Any, root: Path) -> RawSplit:
        images = dataset_dir(self.name, root) / "celeba" / "img_align_celeba"
        return RawSplit(labels=dataset.attr.float(), classes=tuple(n for n in dataset.attr_names if n),
                        paths=tuple(str(images / file) for file in dataset.filename))

    def data_paths(self, root: Path) -> list[Path]:
        base = dataset_dir(self.name, root) / "celeba"
        return [base / file for file in CELEBA_FILES] + [base / "img_align_celeba"]
