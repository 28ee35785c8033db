"""The registry of dataset sources: for each name in `specs.DATASETS`, the object that fetches and reads it."""

from __future__ import annotations

from jointdiff.data.adaptation import AdaptationSource
from jointdiff.data.digits import DigitsSource
from jointdiff.data.folder import FolderSource
from jointdiff.data.office import OfficeSource
from jointdiff.data.raw import Source
from jointdiff.data.specs import DATASETS, get_spec
from jointdiff.data.torchvision_sets import CelebASource, CifarSource, MnistSource, SvhnSource

SOURCES: dict[str, Source] = {}


def register_source(name: str, source: Source) -> None:
    """Add a source for a registered spec; its official splits must match the spec's sizes."""
    assert name in DATASETS, f"no DatasetSpec named {name}"
    assert name not in SOURCES, f"source {name} registered twice"
    spec_splits = DATASETS[name].official_splits
    assert not spec_splits or spec_splits == source.official_splits, f"{name}: splits differ from the spec"
    SOURCES[name] = source


def get_source(name: str) -> Source:
    """The source of a dataset, by name (case-insensitive); DatasetError lists the valid names."""
    return SOURCES[get_spec(name).name]


register_source("digits", DigitsSource())
register_source("MNIST", MnistSource("MNIST"))
register_source("FashionMNIST", MnistSource("FashionMNIST"))
register_source("SVHN", SvhnSource("SVHN"))
register_source("CIFAR10", CifarSource("CIFAR10"))
register_source("CIFAR100", CifarSource("CIFAR100"))
register_source("CelebA", CelebASource("CelebA"))
register_source("DA_SVHN_MNIST", AdaptationSource("DA_SVHN_MNIST", {"SVHN": SOURCES["SVHN"],
                                                                     "MNIST": SOURCES["MNIST"]}))
register_source("DA_OFFICE_A_W", OfficeSource())
register_source("DA_digits_inverted", AdaptationSource("DA_digits_inverted", {"digits": SOURCES["digits"]},
                                                        invert_target=True))
register_source("folder", FolderSource())
assert set(SOURCES) == set(DATASETS), "every DatasetSpec needs a source"
