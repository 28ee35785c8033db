"""The folder dataset: a directory of PNGs the test writes, copied in by prepare and read at any size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from jointdiff.data import ImageFileDataset, load_split, prepare_dataset, read_manifest
from jointdiff.errors import DatasetError

CLASSES = ("cat", "dog", "fox")
PER_CLASS = 10


def write_images(directory: Path, per_class: int = PER_CLASS, seed: int = 0) -> None:
    """RGB PNGs of mixed sizes, one sub-directory per class, plus a file that is not an image."""
    rng = np.random.default_rng(seed)
    for c, name in enumerate(CLASSES):
        (directory / name).mkdir(parents=True)
        for i in range(per_class):
            h, w = (20, 30) if i % 2 else (40, 24)
            pixels = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(directory / name / f"{i}.png")
    (directory / "notes.txt").write_text("not an image")


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    source = tmp_path_factory.mktemp("mine")
    write_images(source)
    root = tmp_path_factory.mktemp("data")
    prepare_dataset("folder", root, source=source)
    return root


def test_prepare_copies_the_images_and_records_them(root):
    manifest = read_manifest("folder", root)
    assert manifest["classes"] == list(CLASSES) and manifest["num_classes"] == 3
    assert manifest["splits"] == {"train": 27, "test": 3, "valid": 3, "train_minus_valid": 24}
    assert manifest["files"]["images"]["files"] == 30  # notes.txt was not copied
    assert len(list((root / "folder" / "images" / "dog").glob("*.png"))) == PER_CLASS


def test_images_come_at_the_requested_size_and_channels(root):
    ds = load_split("folder", root, "train", image_size=16, channels=1)
    x, y = ds.get_batch(torch.arange(len(ds)))
    assert x.shape == (27, 1, 16, 16) and x.min() >= -1 and x.max() <= 1
    assert set(y.tolist()) == {0, 1, 2}
    assert load_split("folder", root, "test")[0][0].shape == (3, 32, 32)  # the spec's default


def test_reading_on_access_gives_the_same_images_as_memory(root):
    lazy = load_split("folder", root, "test", image_size=8, in_memory=False)
    eager = load_split("folder", root, "test", image_size=8)
    assert isinstance(lazy, ImageFileDataset) and len(lazy) == len(eager) == 3
    for i in range(3):
        assert torch.equal(lazy[i][0], eager[i][0]) and lazy[i][1] == eager[i][1]


def test_train_and_test_directories_are_used_as_given(tmp_path):
    write_images(tmp_path / "src" / "train", per_class=4)
    write_images(tmp_path / "src" / "test", per_class=2, seed=1)
    manifest = prepare_dataset("folder", tmp_path / "data", source=tmp_path / "src")
    assert manifest["splits"]["train"] == 12 and manifest["splits"]["test"] == 6


def test_missing_source_gives_one_clear_error(tmp_path):
    with pytest.raises(DatasetError) as err:
        prepare_dataset("folder", tmp_path, source=tmp_path / "nowhere")
    message = str(err.value)
    assert "nowhere" in message and "--source DIR" in message and "\n" not in message
    with pytest.raises(DatasetError, match="does not exist"):
        prepare_dataset("folder", tmp_path)
    assert not (tmp_path / "folder" / "manifest.json").exists()


def test_a_broken_image_fails_verification(tmp_path):
    write_images(tmp_path / "src", per_class=2)
    (tmp_path / "src" / "cat" / "0.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="not a readable image"):
        prepare_dataset("folder", tmp_path / "data", source=tmp_path / "src")
    assert not (tmp_path / "data" / "folder" / "manifest.json").exists()


def test_a_broken_image_between_the_first_and_the_last_fails_verification(tmp_path):
    write_images(tmp_path / "src", per_class=4)
    broken = tmp_path / "src" / "dog" / "2.png"
    broken.write_bytes(broken.read_bytes()[:100])  # cut short
    with pytest.raises(DatasetError, match=r"dog/2\.png is not a readable image"):
        prepare_dataset("folder", tmp_path / "data", source=tmp_path / "src")
    assert not (tmp_path / "data" / "folder" / "manifest.json").exists()


def test_loader_settings_feed_both_kinds(root):
    from torch.utils.data import DataLoader

    from jointdiff.data import loader_settings

    eager = load_split("folder", root, "train", image_size=8)
    lazy = load_split("folder", root, "train", image_size=8, in_memory=False)
    assert loader_settings(eager, "cuda", 4)["num_workers"] == 0
    assert loader_settings(eager, "cuda", 4)["pin_memory"] and not loader_settings(eager, "cpu", 4)["pin_memory"]
    settings = loader_settings(lazy, "cpu", 2)
    assert settings["num_workers"] == 2 and settings["persistent_workers"]
    batches = list(DataLoader(lazy, batch_size=9, **settings))
    assert len(batches) == 3 and batches[0][0].shape == (9, 3, 8, 8)
