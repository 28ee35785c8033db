"""The built-in digits: prepare, the four splits, shapes and range, conversions, the manifest, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from jointdiff.cli import main
from jointdiff.data import SPLITS, load_split, load_uint8_split, prepare_dataset, read_manifest
from jointdiff.data.datasets import InMemoryDataset
from jointdiff.errors import ConfigError, DatasetError

SIZES = {"train": 1437, "test": 360, "valid": 144, "train_minus_valid": 1293}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    prepare_dataset("digits", root)
    return root


def test_splits_have_documented_sizes_shape_range_and_labels(root):
    for split, size in SIZES.items():
        ds = load_split("digits", root, split)
        assert isinstance(ds, InMemoryDataset) and len(ds) == size
        x, y = ds.get_batch(torch.arange(len(ds)))
        assert x.shape == (size, 1, 16, 16) and x.dtype == torch.float32
        assert x.min() >= -1 and x.max() <= 1 and x.min() == -1 and x.max() == 1
        assert y.dtype == torch.int64 and set(y.tolist()) == set(range(10))
        x0, y0 = ds[0]
        assert torch.equal(x0, x[0]) and y0 == y[0]


def test_valid_is_a_fixed_part_of_train(root):
    train = load_uint8_split("digits", root, "train")[0]
    valid = load_uint8_split("digits", root, "valid")[0]
    rest = load_uint8_split("digits", root, "train_minus_valid")[0]
    assert len(valid) + len(rest) == len(train)
    rows = {t.numpy().tobytes() for t in train}
    assert all(v.numpy().tobytes() in rows for v in valid)
    assert torch.equal(valid, load_uint8_split("digits", root, "valid")[0])


def test_manifest_records_splits_shape_classes_and_checksum(root):
    manifest = read_manifest("DIGITS", root)
    assert manifest["name"] == "digits" and manifest["splits"] == SIZES
    assert manifest["image_shape"] == [1, 16, 16] and manifest["classes"] == [str(d) for d in range(10)]
    assert len(manifest["files"]["digits.npz"]["sha256"]) == 64


def test_resize_and_channels_follow_the_arguments(root):
    images, labels = load_uint8_split("digits", root, "test", image_size=32, channels=3)
    assert images.shape == (360, 3, 32, 32) and images.dtype == torch.uint8 and labels.shape == (360,)
    assert torch.equal(images[:, 0], images[:, 2])


def test_labelled_share_hides_labels_with_a_seed(root):
    ds = load_split("digits", root, "train", labelled_share=0.1, mask_seed=3)
    kept = ds.labels >= 0
    assert int(kept.sum()) == round(0.1 * 1437) and set(ds.labels[~kept].tolist()) == {-1}
    again = load_split("digits", root, "train", labelled_share=0.1, mask_seed=3)
    assert torch.equal(ds.labels, again.labels)
    full = load_split("digits", root, "train")
    assert torch.equal(ds.labels[kept], full.labels[kept])


def test_loading_needs_neither_scikit_learn_nor_torchvision(root):
    code = ("import sys; sys.modules['sklearn'] = None; sys.modules['torchvision'] = None\n"
            "from jointdiff.data import load_split\n"
            f"print(len(load_split('digits', {str(root)!r}, 'test')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "360"


@pytest.mark.parametrize("kwargs, field", [({"image_size": 0}, "image_size"), ({"image_size": -4}, "image_size"),
                                           ({"channels": 2}, "channels")])
def test_impossible_shapes_fail_naming_the_argument(root, kwargs, field):
    with pytest.raises(ConfigError, match=field):
        load_split("digits", root, "train", **kwargs)


def test_unknown_names_list_the_valid_ones(root):
    with pytest.raises(DatasetError, match="valid names: digits, MNIST"):
        load_split("ImageNet", root, "train")
    with pytest.raises(DatasetError, match="valid splits: " + ", ".join(SPLITS)):
        load_split("digits", root, "training")


def test_unprepared_dataset_says_which_command_to_run(tmp_path):
    with pytest.raises(DatasetError) as err:
        load_split("digits", tmp_path, "train")
    message = str(err.value)
    assert "digits" in message and str(tmp_path) in message and "\n" not in message
    assert f"jointdiff prepare --dataset digits --root {tmp_path}" in message


def test_corrupt_file_gives_one_clear_error(tmp_path):
    prepare_dataset("digits", tmp_path)
    (tmp_path / "digits" / "digits.npz").write_bytes(b"not an npz")
    with pytest.raises(DatasetError) as err:
        load_split("digits", tmp_path, "test")
    message = str(err.value)
    assert "digits" in message and str(tmp_path) in message and "jointdiff prepare" in message
    assert "\n" not in message


def test_a_data_file_changed_after_prepare_is_named_before_it_is_used(tmp_path):
    prepare_dataset("digits", tmp_path)
    path = tmp_path / "digits" / "digits.npz"
    arrays = dict(np.load(path))
    arrays["train_labels"] = (arrays["train_labels"] + 1) % 10  # same size, other content
    np.savez(path, **arrays)
    with pytest.raises(DatasetError, match=f"{path} has changed since `jointdiff prepare` recorded it"):
        load_split("digits", tmp_path, "train")
    path.write_bytes(path.read_bytes()[:1000])  # cut short, as by a full disk
    with pytest.raises(DatasetError, match=f"{path} has 1,000 bytes"):
        load_split("digits", tmp_path, "train")


def test_a_touched_but_unchanged_data_file_still_loads(tmp_path):
    prepare_dataset("digits", tmp_path)
    path = tmp_path / "digits" / "digits.npz"
    path.touch()  # a new modification time: the hash decides
    assert len(load_split("digits", tmp_path, "test")) == SIZES["test"]


def test_a_truncated_file_gives_one_clear_error_when_prepared(tmp_path, capsys):
    prepare_dataset("digits", tmp_path)
    path = tmp_path / "digits" / "digits.npz"
    path.write_bytes(path.read_bytes()[:1000])
    assert main(["prepare", "--dataset", "digits", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{path} is missing or unreadable" in err and "delete it" in err


def test_a_data_root_that_is_a_file_gives_one_line(tmp_path, capsys):
    root = tmp_path / "root"
    root.write_text("not a directory")
    assert main(["prepare", "--dataset", "digits", "--root", str(root)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"data root {root}: cannot write {root}/digits" in err


def test_prepare_command_prints_the_manifest_path(tmp_path, capsys):
    assert main(["prepare", "--dataset", "digits", "--root", str(tmp_path)]) == 0
    path = tmp_path / "digits" / "manifest.json"
    assert capsys.readouterr().out.strip() == str(path)
    assert json.loads(path.read_text())["splits"]["test"] == 360
    # A second run reuses the file and rewrites an identical description of it.
    first = np.load(tmp_path / "digits" / "digits.npz")["test_images"]
    assert main(["prepare", "--dataset", "digits", "--root", str(tmp_path)]) == 0
    assert np.array_equal(first, np.load(tmp_path / "digits" / "digits.npz")["test_images"])


def test_prepare_command_rejects_source_for_other_datasets(tmp_path, capsys):
    assert main(["prepare", "--dataset", "digits", "--root", str(tmp_path), "--source", str(tmp_path)]) == 2
    assert "--source only applies to the folder dataset" in capsys.readouterr().err
    assert not (tmp_path / "digits" / "manifest.json").exists()
