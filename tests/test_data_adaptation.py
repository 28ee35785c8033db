"""Domain-adaptation sets: the digits stand-in made of two halves of digits, SVHN -> MNIST made of two prepared
datasets (its errors, without downloading), and Office-31 placed by hand."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from PIL import Image

from jointdiff.data import load_uint8_split, prepare_dataset
from jointdiff.data.adaptation import COMPONENTS
from jointdiff.data.office import OfficeSource
from jointdiff.errors import DatasetError


@pytest.fixture(scope="module")
def root(digits_root, tmp_path_factory):
    root = tmp_path_factory.mktemp("adaptation")
    shutil.copytree(digits_root / "digits", root / "digits")
    prepare_dataset("DA_digits_inverted", root)
    return root


def test_the_stand_in_is_a_labelled_half_and_an_inverted_unlabelled_half(root):
    digits, digit_labels = load_uint8_split("digits", root, "train")
    images, labels = load_uint8_split("DA_digits_inverted", root, "train")
    assert len(images) == len(digits) == 1437
    labelled = labels >= 0
    assert int(labelled.sum()) == 718 and bool(labelled[:718].all()) and not labelled[718:].any()
    source, target = images[:718], 255 - images[718:]  # the target half, inverted back
    rows = {bytes(x.numpy()): i for i, x in enumerate(digits)}
    source_rows = [rows[bytes(x.numpy())] for x in source]
    target_rows = [rows[bytes(x.numpy())] for x in target]
    assert not set(source_rows) & set(target_rows) and len(set(source_rows + target_rows)) == 1437
    assert torch.equal(labels[:718], digit_labels[source_rows])


def test_the_stand_in_tests_on_the_inverted_test_digits(root):
    digits, digit_labels = load_uint8_split("digits", root, "test")
    images, labels = load_uint8_split("DA_digits_inverted", root, "test")
    assert torch.equal(images, 255 - digits) and torch.equal(labels, digit_labels)


def test_a_changed_component_is_noticed(root, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    assert (copy / "DA_digits_inverted" / COMPONENTS).is_file()
    manifest = copy / "digits" / "manifest.json"
    prepared = json.loads(manifest.read_text())
    manifest.write_text(json.dumps({**prepared, "created": "2000-01-01T00:00:00+00:00"}))  # prepared again later
    with pytest.raises(DatasetError, match="digits changed since it was prepared"):
        load_uint8_split("DA_digits_inverted", copy, "test")


def test_svhn_mnist_names_the_datasets_to_prepare_first(tmp_path, no_network):
    with pytest.raises(DatasetError) as err:
        prepare_dataset("DA_SVHN_MNIST", tmp_path)
    message = str(err.value)
    for name in ("SVHN", "MNIST"):
        assert f"jointdiff prepare --dataset {name} --root {tmp_path}" in message
    assert not (tmp_path / "DA_SVHN_MNIST" / "manifest.json").exists()


def test_office_without_its_files_names_them(tmp_path, no_network):
    with pytest.raises(DatasetError) as err:
        prepare_dataset("DA_OFFICE_A_W", tmp_path)
    message = str(err.value)
    assert "domain_adaptation_images.tar.gz" in message and "\n" not in message
    assert f"{tmp_path}/DA_OFFICE_A_W/amazon/images" in message and "webcam/images" in message


def test_office_trains_on_amazon_and_webcam_without_its_labels_and_tests_on_webcam(tmp_path):
    for domain, count in (("amazon", 3), ("webcam", 2)):
        for label in ("back_pack", "bike", "calculator"):
            folder = tmp_path / "DA_OFFICE_A_W" / domain / "images" / label
            folder.mkdir(parents=True)
            for i in range(count):
                Image.new("RGB", (80, 60), (i * 40, 0, 0)).save(folder / f"frame_{i:04d}.jpg")
    source = OfficeSource()
    train, test = source.open(tmp_path, "train"), source.open(tmp_path, "test")
    assert train.classes == test.classes == ("back_pack", "bike", "calculator")
    assert train.labels.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2] + [-1] * 6
    assert test.labels.tolist() == [0, 0, 1, 1, 2, 2] and all("/webcam/" in p for p in test.paths)
    with pytest.raises(DatasetError, match="the train split has 15 images, expected 3612"):
        prepare_dataset("DA_OFFICE_A_W", tmp_path, download=False)
