"""MNIST and FashionMNIST from idx files the test writes in torchvision's layout: prepare, load, errors."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from jointdiff.data import load_split, load_uint8_split, prepare_dataset, read_manifest
from jointdiff.errors import DatasetError

SIZES = {"train": 60_000, "test": 10_000}


def write_idx(path: Path, array: np.ndarray) -> None:
    """An uncompressed idx file (big-endian header: magic 0x08 = uint8 and the rank, then each dimension)."""
    header = struct.pack(">I", 0x0800 | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def write_mnist(root: Path, name: str, sizes: dict[str, int] = SIZES) -> None:
    """torchvision's layout: <root>/<name>/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte."""
    raw = root / name / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, part in (("train", "train"), ("test", "t10k")):
        n = sizes[split]
        write_idx(raw / f"{part}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(raw / f"{part}-labels-idx1-ubyte", np.arange(n) % 10)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    for name in ("MNIST", "FashionMNIST"):
        write_mnist(root, name)
        prepare_dataset(name, root, download=False)
    return root


@pytest.mark.parametrize("name", ["MNIST", "FashionMNIST"])
def test_prepare_without_download_reads_the_files_and_writes_the_manifest(root, name):
    manifest = read_manifest(name, root)
    assert manifest["splits"] == {"train": 60_000, "test": 10_000, "valid": 6_000, "train_minus_valid": 54_000}
    assert manifest["image_shape"] == [1, 28, 28] and manifest["num_classes"] == 10
    assert set(manifest["files"]) == {f"raw/{p}-{k}" for p in ("train", "t10k")
                                      for k in ("images-idx3-ubyte", "labels-idx1-ubyte")}
    if name == "FashionMNIST":
        assert manifest["classes"][0] == "T-shirt/top"


@pytest.mark.parametrize("name", ["MNIST", "FashionMNIST"])
def test_every_split_loads_through_the_registry(root, name):
    for split, size in {"train": 60_000, "test": 10_000, "valid": 6_000, "train_minus_valid": 54_000}.items():
        ds = load_split(name.lower(), root, split)
        assert len(ds) == size
    x, y = ds.get_batch(torch.arange(8))
    assert x.shape == (8, 1, 28, 28) and x.min() >= -1 and x.max() <= 1 and y.dtype == torch.int64


def test_images_and_labels_are_the_files_contents(root):
    images, labels = load_uint8_split("MNIST", root, "test")
    expected = np.random.default_rng(0)
    expected.integers(0, 256, (60_000, 28, 28), dtype=np.uint8)  # the train images come first
    assert np.array_equal(images[:, 0].numpy(), expected.integers(0, 256, (10_000, 28, 28), dtype=np.uint8))
    assert labels.tolist() == [i % 10 for i in range(10_000)]


def test_mnist_as_three_channel_32px_for_the_svhn_adaptation(root):
    ds = load_split("MNIST", root, "test", image_size=32, channels=3, labelled_share=0.0)
    x, y = ds.get_batch(torch.arange(4))
    assert x.shape == (4, 3, 32, 32) and torch.equal(x[:, 0], x[:, 1]) and y.eq(-1).all()


def test_existing_files_are_used_without_touching_the_network(root, no_network):
    assert prepare_dataset("MNIST", root, download=True)["splits"]["train"] == 60_000


def test_missing_files_without_download_name_the_files_and_the_place(tmp_path):
    with pytest.raises(DatasetError) as err:
        prepare_dataset("MNIST", tmp_path, download=False)
    message = str(err.value)
    assert "train-images-idx3-ubyte" in message and str(tmp_path / "MNIST" / "raw") in message
    assert "--no-download" in message and "\n" not in message
    assert not (tmp_path / "MNIST" / "manifest.json").exists()


def test_failed_verification_leaves_no_manifest(tmp_path):
    write_mnist(tmp_path, "MNIST", {"train": 600, "test": 100})
    with pytest.raises(DatasetError, match="has 600 images, expected 60000"):
        prepare_dataset("MNIST", tmp_path, download=False)
    assert not (tmp_path / "MNIST" / "manifest.json").exists()


def test_a_failed_rerun_removes_the_old_manifest(tmp_path):
    write_mnist(tmp_path, "MNIST")
    prepare_dataset("MNIST", tmp_path, download=False)
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetError):
        prepare_dataset("MNIST", tmp_path, download=False)
    assert not (tmp_path / "MNIST" / "manifest.json").exists()


def test_corrupt_files_give_one_clear_error(tmp_path):
    write_mnist(tmp_path, "MNIST")
    prepare_dataset("MNIST", tmp_path, download=False)
    path = tmp_path / "MNIST" / "raw" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:1000])  # a truncated copy
    with pytest.raises(DatasetError) as err:
        load_split("MNIST", tmp_path, "train")
    message = str(err.value)
    assert message.startswith("dataset MNIST") and str(path) in message  # the manifest's size check names the file
    assert f"jointdiff prepare --dataset MNIST --root {tmp_path}" in message and "\n" not in message
