"""Where each dataset lives under the data root, and how to put it there by hand (torch-free).

Every dataset owns `<root>/<name>/` and is ready when `<root>/<name>/manifest.json` exists (written last by
`jointdiff prepare`). The files inside are torchvision's own layout, so a copy downloaded elsewhere by
torchvision can be dropped in unchanged:

    digits/digits.npz                               built from scikit-learn's bundled copy
    MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte
    FashionMNIST/raw/ (same four files)
    SVHN/{train,test}_32x32.mat
    CIFAR10/cifar-10-batches-py/                    CIFAR100/cifar-100-python/
    CelebA/celeba/img_align_celeba/*.jpg + the five list_*.txt / identity_CelebA.txt files
    folder/images/<class>/*  or  folder/images/{train,test}/<class>/*   (copied from --source)
"""

from __future__ import annotations

from pathlib import Path

MANIFEST = "manifest.json"

_MNIST_FILES = ("train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
                "t10k-labels-idx1-ubyte (gunzipped)")
CELEBA_FILES = ("list_attr_celeba.txt", "identity_CelebA.txt", "list_bbox_celeba.txt",
                "list_landmarks_align_celeba.txt", "list_eval_partition.txt")

# How to place the downloadable datasets' files by hand; {dir} is <root>/<name>.
_MANUAL = {
    "MNIST": f"put {_MNIST_FILES} from https://ossci-datasets.s3.amazonaws.com/mnist/ in {{dir}}/raw/",
    "FashionMNIST": f"put {_MNIST_FILES} from https://github.com/zalandoresearch/fashion-mnist in {{dir}}/raw/",
    "SVHN": "put train_32x32.mat and test_32x32.mat from http://ufldl.stanford.edu/housenumbers/ in {dir}/",
    "CIFAR10": "extract https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz in {dir}/ "
               "(giving {dir}/cifar-10-batches-py/)",
    "CIFAR100": "extract https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz in {dir}/ "
                "(giving {dir}/cifar-100-python/)",
    "CelebA": "download from the CelebA page (https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html, its Google Drive "
              f"folder) the files {', '.join(CELEBA_FILES)} and img_align_celeba.zip; put the five text files in "
              "{dir}/celeba/ and extract the zip there, giving {dir}/celeba/img_align_celeba/000001.jpg ... "
              "202599.jpg",
}


def dataset_dir(name: str, root: str | Path) -> Path:
    return Path(root) / name


def manifest_path(name: str, root: str | Path) -> Path:
    return dataset_dir(name, root) / MANIFEST


def manual_steps(name: str, root: str | Path) -> str:
    """What to do by hand to place a torchvision dataset's files, with the real directory filled in."""
    return _MANUAL[name].format(dir=dataset_dir(name, root))


def prepare_command(name: str, root: str | Path, download: bool = True) -> str:
    return f"jointdiff prepare --dataset {name} --root {root}" + ("" if download else " --no-download")


def how_to_prepare(name: str, root: str | Path) -> str:
    """The one-sentence fix for a dataset that is not ready: the command, or the manual route."""
    if name == "folder":
        return (f"run `{prepare_command(name, root)} --source DIR` with DIR holding one sub-directory of images "
                f"per class (or train/ and test/ directories laid out that way), or put them in "
                f"{dataset_dir(name, root)}/images/ and run `{prepare_command(name, root)}`")
    if name == "digits":
        return f"run `{prepare_command(name, root)}` (it needs scikit-learn, not the internet)"
    return (f"run `{prepare_command(name, root)}`, or, to place the files by hand, {manual_steps(name, root)} "
            f"and run `{prepare_command(name, root, download=False)}`")
