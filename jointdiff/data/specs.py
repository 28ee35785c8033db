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
    # How to put the files in place by hand (a cluster without internet); {dir} stands for <root>/<name>.
    # Every downloadable dataset needs one: `register` refuses a spec without it.
    placement: str = ""
    # A domain-adaptation set: its (source, target) domains. Training sees the source's labelled train images and
    # the target's train images with their labels hidden; validation and test are the target's test images.
    # Domains that are registered datasets are prepared first (`component_datasets`).
    domains: tuple[str, str] | tuple[()] = ()

    @property
    def official_splits(self) -> tuple[str, ...]:
        return tuple(split for split, _ in self.split_sizes)

    def expected_sizes(self) -> dict[str, int]:
        return dict(self.split_sizes)


DATASETS: dict[str, DatasetSpec] = {}


def register(spec: DatasetSpec) -> None:
    """Add a dataset; its source (how to fetch and read it) is registered in `sources.py`."""
    assert spec.name.lower() not in {k.lower() for k in DATASETS}, f"dataset {spec.name} registered twice"
    assert spec.channels in (1, 3) and spec.image_size > 0 and spec.num_classes > 0
    assert not spec.downloadable or "{dir}" in spec.placement, (
        f"dataset {spec.name}: a downloadable dataset needs `placement`, the manual steps naming {{dir}}")
    DATASETS[spec.name] = spec


def component_datasets(spec: DatasetSpec) -> tuple[str, ...]:
    """The registered datasets a domain-adaptation set is made of (prepared before it); () for the others."""
    return tuple(dict.fromkeys(d for d in spec.domains if d in DATASETS))


def get_spec(name: str) -> DatasetSpec:
    """Look a dataset up by name, case-insensitively."""
    for key, spec in DATASETS.items():
        if key.lower() == str(name).lower():
            return spec
    raise DatasetError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}")


_MNIST_FILES = ("train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
                "t10k-labels-idx1-ubyte (gunzipped)")
CELEBA_FILES = ("list_attr_celeba.txt", "identity_CelebA.txt", "list_bbox_celeba.txt",
                "list_landmarks_align_celeba.txt", "list_eval_partition.txt")

register(DatasetSpec("digits", 16, 1, 10, False, True,
                     "scikit-learn's bundled 8x8 handwritten digits (1,797 images), upscaled to 16x16; offline",
                     (("train", 1437), ("test", 360)),
                     placement="nothing to place: `jointdiff prepare` writes {dir}/digits.npz from scikit-learn"))
register(DatasetSpec("MNIST", 28, 1, 10, False, True, "MNIST handwritten digits",
                     (("train", 60_000), ("test", 10_000)),
                     placement=f"put {_MNIST_FILES} from https://ossci-datasets.s3.amazonaws.com/mnist/ in "
                               "{dir}/raw/"))
register(DatasetSpec("FashionMNIST", 28, 1, 10, False, True, "Fashion-MNIST clothing images",
                     (("train", 60_000), ("test", 10_000)),
                     placement=f"put {_MNIST_FILES} from https://github.com/zalandoresearch/fashion-mnist in "
                               "{dir}/raw/"))
register(DatasetSpec("SVHN", 32, 3, 10, False, True, "Street View House Numbers (train/test; 'extra' unused)",
                     (("train", 73_257), ("test", 26_032)),
                     placement="put train_32x32.mat and test_32x32.mat from http://ufldl.stanford.edu/housenumbers/ "
                               "in {dir}/"))
register(DatasetSpec("CIFAR10", 32, 3, 10, False, True, "CIFAR-10",
                     (("train", 50_000), ("test", 10_000)),
                     placement="extract https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz in {dir}/ "
                               "(giving {dir}/cifar-10-batches-py/)"))
register(DatasetSpec("CIFAR100", 32, 3, 100, False, True, "CIFAR-100, fine labels",
                     (("train", 50_000), ("test", 10_000)),
                     placement="extract https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz in {dir}/ "
                               "(giving {dir}/cifar-100-python/)"))
register(DatasetSpec("CelebA", 64, 3, 40, True, True,
                     "CelebA, 40 binary attributes, official splits, shorter side resized to 64 then centre crop",
                     (("train", 162_770), ("valid", 19_867), ("test", 19_962)),
                     placement="download from the CelebA page (https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html, "
                               f"its Google Drive folder) the files {', '.join(CELEBA_FILES)} and "
                               "img_align_celeba.zip; put the five text files in {dir}/celeba/ and extract the zip "
                               "there, giving {dir}/celeba/img_align_celeba/000001.jpg ... 202599.jpg"))
# Domain adaptation (the paper's later version; the authors' DA_SVHN_MNIST and DA_OFFICE_A_W loaders).
register(DatasetSpec("DA_SVHN_MNIST", 32, 3, 10, False, False,
                     "domain adaptation SVHN -> MNIST: SVHN train labelled + MNIST train (32 px, 3 channels) with "
                     "hidden labels; validation and test on MNIST test",
                     (("train", 73_257 + 60_000), ("test", 10_000)), domains=("SVHN", "MNIST"),
                     placement="prepare SVHN and MNIST under the same root first (each names its own files)"))
OFFICE_DOMAINS = ("amazon", "webcam")
register(DatasetSpec("DA_OFFICE_A_W", 64, 3, 31, False, False,
                     "domain adaptation Office-31 amazon -> webcam, 64 px: amazon labelled + webcam with hidden "
                     "labels; validation and test on webcam (the authors' split)",
                     (("train", 2_817 + 795), ("test", 795)), domains=OFFICE_DOMAINS,
                     placement="extract Office-31's domain_adaptation_images.tar.gz (Saenko et al. 2010) in {dir}/, "
                               "giving {dir}/amazon/images/<class>/*.jpg (2,817 images) and "
                               "{dir}/webcam/images/<class>/*.jpg (795 images), 31 class folders each"))
register(DatasetSpec("DA_digits_inverted", 16, 1, 10, False, False,
                     "a STAND-IN for domain adaptation, not a paper dataset: half of the built-in digits' train "
                     "split labelled, the other half inverted (255 - x) with hidden labels; test: the inverted "
                     "test digits",
                     (("train", 1437), ("test", 360)), domains=("digits", "digits"),
                     placement="prepare digits under the same root first"))
register(DatasetSpec("folder", 32, 3, 1, False, False,
                     "a user's own images, one sub-directory per class (ImageFolder layout); "
                     "image_size, in_channels and num_classes come from the config"))
