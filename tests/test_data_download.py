"""The download paths with the network unreachable: real torchvision calls, one clear error, no manifest."""

from __future__ import annotations


import pytest

from jointdiff.data import prepare_dataset
from jointdiff.data.specs import CELEBA_FILES
from jointdiff.errors import DatasetError


# dataset -> a piece of the by-hand instructions that must appear in its error
WHERE = {
    "MNIST": "MNIST/raw/",
    "FashionMNIST": "FashionMNIST/raw/",
    "SVHN": "train_32x32.mat and test_32x32.mat",
    "CIFAR10": "cifar-10-batches-py",
    "CIFAR100": "cifar-100-python",
    "CelebA": "celeba/img_align_celeba/",
}


@pytest.mark.parametrize("name", list(WHERE))
def test_unreachable_network_gives_one_clear_error_and_no_manifest(tmp_path, no_network, name):
    with pytest.raises(DatasetError) as err:
        prepare_dataset(name, tmp_path, download=True)
    message = str(err.value)
    assert message.startswith(f"dataset {name}: downloading the train split into {tmp_path / name} failed")
    assert WHERE[name] in message and str(tmp_path) in message and "\n" not in message
    assert f"jointdiff prepare --dataset {name} --root {tmp_path} --no-download" in message
    assert not (tmp_path / name / "manifest.json").exists()


def test_celeba_missing_files_message_names_every_file_and_directory(tmp_path):
    with pytest.raises(DatasetError) as err:
        prepare_dataset("CelebA", tmp_path, download=False)
    message = str(err.value)
    base = tmp_path / "CelebA" / "celeba"
    assert f"in {base}/" in message and str(base / "img_align_celeba") in message
    for file in (*CELEBA_FILES, "img_align_celeba.zip"):
        assert file in message
    assert "\n" not in message and not (tmp_path / "CelebA" / "manifest.json").exists()
