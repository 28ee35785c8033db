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
    DA_SVHN_MNIST/components.json, DA_digits_inverted/components.json    made of other prepared datasets
    DA_OFFICE_A_W/{amazon,webcam}/images/<class>/*.jpg                    Office-31, placed by hand
"""

from __future__ import annotations

from pathlib import Path

from jointdiff.data.specs import get_spec

MANIFEST = "manifest.json"

def dataset_dir(name: str, root: str | Path) -> Path:
    return Path(root) / name


def manifest_path(name: str, root: str | Path) -> Path:
    return dataset_dir(name, root) / MANIFEST


def manual_steps(name: str, root: str | Path) -> str:
    """What to do by hand to place a dataset's files (its spec's `placement`), with the real directory filled in."""
    return get_spec(name).placement.format(dir=dataset_dir(name, root))


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
