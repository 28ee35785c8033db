"""Reference statistics: computed once, read back from the cache, never reused for other images or weights."""

from __future__ import annotations


import numpy as np
import pytest
import torch

import jointdiff.metrics.reference as reference_module
from metrics_fixtures import offline, one_thread  # noqa: F401  (autouse fixtures)
from jointdiff.metrics.inception import POOL3, resolve_inception_weights
from jointdiff.metrics.reference import ReferenceImages, reference_cache_dir, reference_statistics

pytestmark = pytest.mark.slow  # each computation runs Inception on a few images


@pytest.fixture
def extractions(monkeypatch) -> list[int]:
    """Counts Inception runs of the reference code (the real extractor still runs)."""
    calls: list[int] = []
    real = reference_module.extract_inception_features

    def counting(images, *args, **kwargs):
        calls.append(len(images))
        return real(images, *args, **kwargs)
    monkeypatch.setattr(reference_module, "extract_inception_features", counting)
    return calls


def images(seed: int, n: int = 4) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, 16, 16), generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def test_second_call_reads_the_cache(tmp_path, extractions):
    cache = reference_cache_dir(tmp_path, "digits")
    reference = ReferenceImages(images(0), {"dataset": "digits", "split": "train"}, cache)
    weights = resolve_inception_weights()

    first = reference_statistics(reference, weights, device="cpu")
    assert extractions == [4] and not first.from_cache
    assert first.path.parent == tmp_path / "digits" / "fid_refs" and first.path.is_file()
    assert [p.name for p in cache.iterdir()] == [first.path.name]  # no temporary file left behind
    assert first.features.shape == (4, 2048) and first.mu.dtype == np.float64 and first.sigma.shape == (2048, 2048)

    second = reference_statistics(reference, weights, device="cpu")
    assert extractions == [4] and second.from_cache
    assert second.key == first.key and second.path == first.path
    torch.testing.assert_close(second.features, first.features, rtol=0, atol=0)
    np.testing.assert_array_equal(second.mu, first.mu)
    np.testing.assert_array_equal(second.sigma, first.sigma)


def test_another_split_or_other_images_are_not_served_from_the_cache(tmp_path, extractions):
    cache = reference_cache_dir(tmp_path, "digits")
    weights = resolve_inception_weights()
    train = reference_statistics(ReferenceImages(images(0), {"dataset": "digits", "split": "train"}, cache),
                                 weights, device="cpu")
    test = reference_statistics(ReferenceImages(images(0), {"dataset": "digits", "split": "test"}, cache),
                                weights, device="cpu")
    other = reference_statistics(ReferenceImages(images(1), {"dataset": "digits", "split": "train"}, cache),
                                 weights, device="cpu")
    assert extractions == [4, 4, 4]
    assert not (test.from_cache or other.from_cache)
    assert len({train.path, test.path, other.path}) == 3


def test_other_weights_are_not_served_from_the_cache(tmp_path, extractions):
    cache = reference_cache_dir(tmp_path, "digits")
    reference = ReferenceImages(images(0), {"dataset": "digits", "split": "train"}, cache)
    converted = resolve_inception_weights()
    state = torch.load(converted.path, weights_only=True)
    state["fc.bias"] = torch.zeros_like(state["fc.bias"])  # same features, but a different weights file
    torch.save(state, tmp_path / "other.pth")
    other = resolve_inception_weights(tmp_path / "other.pth")

    first = reference_statistics(reference, converted, device="cpu")
    second = reference_statistics(reference, other, device="cpu")
    assert extractions == [4, 4] and not second.from_cache and second.path != first.path
    assert second.identity["extractor"] == other.extractor_id != first.identity["extractor"]


def test_a_damaged_or_foreign_cache_file_is_recomputed(tmp_path, extractions, caplog):
    cache = reference_cache_dir(tmp_path, "digits")
    reference = ReferenceImages(images(0), {"dataset": "digits", "split": "train"}, cache)
    weights = resolve_inception_weights()
    first = reference_statistics(reference, weights, device="cpu")

    whole = first.path.read_bytes()
    first.path.write_bytes(b"truncated")
    again = reference_statistics(reference, weights, device="cpu")
    assert extractions == [4, 4] and not again.from_cache
    first.path.write_bytes(whole[:len(whole) // 2])  # a zip cut short (zipfile.BadZipFile)
    caplog.clear()
    assert not reference_statistics(reference, weights, device="cpu").from_cache and extractions == [4, 4, 4]
    assert f"ignoring unreadable reference cache {first.path}" in caplog.text

    with np.load(first.path) as data:  # the right name, but a stored key for something else
        arrays = {k: data[k] for k in data.files}
    arrays["key"] = np.str_("0" * 64)
    np.savez(first.path, **arrays)
    third = reference_statistics(reference, weights, device="cpu")
    assert extractions == [4, 4, 4, 4] and not third.from_cache
    assert reference_statistics(reference, weights, device="cpu").from_cache
    torch.testing.assert_close(third.features, first.features)


def test_without_a_cache_dir_nothing_is_written(tmp_path, extractions):
    reference = ReferenceImages(images(0), {"dataset": "digits", "split": "train"})
    stats = reference_statistics(reference, resolve_inception_weights(), device="cpu")
    assert stats.path is None and extractions == [4]
    assert stats.identity["n"] == 4 and stats.identity["layer"] == POOL3
