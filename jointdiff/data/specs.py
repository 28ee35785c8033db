"""What each dataset is: shape, classes, label kind. Torch-free, so configs validate in milliseconds.

The loaders (`jointdiff.data.loaders`) and the prepare command (`jointdiff.data.prepare`) look datasets up
here; an unknown name fails with the list of valid ones.
"""

from __future__ import annotations

from dataclasses import dataclass

from jointdiff.errors import DatasetError


@dataclass(frozen=True)
class DatasetSpec:
    name: str            # canonical name, as the seed README spells it
    image_size: int      # native side length in pixels after our transforms
    channels: int        # 1 (grey) or 3 (RGB)
    num_classes: int     # classes, or attributes for multi-label data
    multi_label: bool    # True: a vector of binary attributes per image (CelebA)
    downloadable: bool   # torchvision (or a bundled package) can fetch it
    description: str
    # Images per official split; empty where the user's data decides (folder). A split missing here but asked
    # for ('valid', 'train_minus_valid') is carved from 'train' by the loaders.
    split_sizes: tuple[tuple[str, int], ...] = ()

    @property
    def official_splits(self) -> tuple[str, ...]:
        return tuple(split for split, _ in self.split_sizes)

    def expected_sizes(self) -> dict[str, int]:
        return dict(self.split_sizes)


DATASETS: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> None:
    assert spec.name.lower() not in {k.lower() for k in DATASETS}, f"dataset {spec.name} registered twice"
    assert spec.channels in (1, 3) and spec.image_size > 0 and spec.num_classes > 0
    DATASETS[spec.name] = spec


def get_spec(name: str) -> DatasetSpec:
    """Look a dataset up by name, case-insensitively."""
    for key, spec in DATASETS.items():
        if key.lower() == str(name).lower():
            return spec
    raise DatasetError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")


register(DatasetSpec("digits", 16, 1, 10, False, True,
                     "scikit-learn's bundled 8x8 handwritten digits (1,797 images), upscaled to 16x16; offline",
                     (("train", 1437), ("test", 360))))
register(DatasetSpec("MNIST", 28, 1, 10, False, True, "MNIST handwritten digits",
                     (("train", 60_000), ("test", 10_000))))
register(DatasetSpec("FashionMNIST", 28, 1, 10, False, True, "Fashion-MNIST clothing images",
                     (("train", 60_000), ("test", 10_000))))
register(DatasetSpec("SVHN", 32, 3, 10, False, True, "Street View House Numbers (train/test; 'extra' unused)",
                     (("train", 73_257), ("test", 26_032))))
register(DatasetSpec("CIFAR10", 32, 3, 10, False, True, "CIFAR-10",
                     (("train", 50_000), ("test", 10_000))))
register(DatasetSpec("CIFAR100", 32, 3, 100, False, True, "CIFAR-100, fine labels",
                     (("train", 50_000), ("test", 10_000))))
register(DatasetSpec("CelebA", 64, 3, 40, True, True,
                     "CelebA, 40 binary attributes, official splits, shorter side resized to 64 then centre crop",
                     (("train", 162_770), ("valid", 19_867), ("test", 19_962))))
register(DatasetSpec("folder", 32, 3, 1, False, False,
                     "a user's own images, one sub-directory per class (ImageFolder layout); "
                     "image_size, in_channels and num_classes come from the config"))
