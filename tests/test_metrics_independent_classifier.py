"""The independent classifier: trained on real digits in seconds, accurate on held-out digits."""

from __future__ import annotations

import pytest
import torch

from metrics_fixtures import single_cpu_thread
from jointdiff.errors import CheckpointError, UserError
from jointdiff.metrics.independent_classifier import (classify_images, load_independent_classifier,
                                                      save_independent_classifier, target_accuracy,
                                                      train_independent_classifier)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Module-wide (the module-scoped fixtures below train under it too)."""
    with single_cpu_thread():
        yield


@pytest.fixture(scope="module")
def digits(digits_root):
    from jointdiff.data.loaders import load_uint8_split
    return load_uint8_split("digits", digits_root, "train"), load_uint8_split("digits", digits_root, "test")


@pytest.fixture(scope="module")
def trained(digits):
    (images, labels), _ = digits
    return train_independent_classifier(images, labels, epochs=10, seed=0)


@pytest.mark.slow
def test_high_accuracy_on_held_out_real_digits(digits, trained):
    _, (test_images, test_labels) = digits
    assert test_images.shape[1:] == (1, 16, 16)
    assert target_accuracy(trained, test_images, test_labels) >= 0.9
    wrong = (test_labels + 1) % 10
    assert target_accuracy(trained, test_images, wrong) <= 0.1


@pytest.mark.slow
def test_save_and_load_give_the_same_predictions(digits, trained, tmp_path):
    _, (test_images, _) = digits
    path = save_independent_classifier(trained, tmp_path / "ref" / "classifier.pt", {"dataset": "digits"})
    assert [p.name for p in path.parent.iterdir()] == ["classifier.pt"]
    loaded, metadata = load_independent_classifier(path)
    assert metadata == {"dataset": "digits"}
    assert torch.equal(classify_images(loaded, test_images), classify_images(trained, test_images))


def test_training_is_seeded(digits):
    (images, labels), _ = digits
    a = train_independent_classifier(images[:128], labels[:128], epochs=1, seed=3)
    b = train_independent_classifier(images[:128], labels[:128], epochs=1, seed=3)
    c = train_independent_classifier(images[:128], labels[:128], epochs=1, seed=4)
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    assert not torch.equal(a.head.weight, c.head.weight)


def test_bad_inputs_and_files_are_refused(digits, tmp_path):
    (images, labels), _ = digits
    model = train_independent_classifier(images[:64], labels[:64], epochs=1, seed=0)
    with pytest.raises(UserError, match="uint8"):
        target_accuracy(model, images[:4].float(), labels[:4])
    with pytest.raises(UserError, match="3 channels but the independent classifier was trained on 1"):
        target_accuracy(model, images[:4].expand(-1, 3, -1, -1), labels[:4])
    with pytest.raises(UserError, match="expected 4 non-negative integer class labels"):
        target_accuracy(model, images[:4], labels[:3])
    with pytest.raises(CheckpointError, match="no such independent classifier"):
        load_independent_classifier(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a readable independent classifier"):
        load_independent_classifier(tmp_path / "bad.pt")
