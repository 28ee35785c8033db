"""`jointdiff fid`: flags and files checked first, the reference loaded before any Inception work, JSON out."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from metrics_fixtures import offline, one_thread  # noqa: F401  (autouse fixtures)
from jointdiff.cli import main


def write_samples(path: Path, n: int, size: int, channels: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    np.savez(path, images=rng.integers(0, 256, (n, size, size, channels), dtype=np.uint8))
    return path


def fid(*flags: str) -> list[str]:
    return ["fid", *flags]


def test_missing_samples_fail_with_one_line(tmp_path, capsys):
    code = main(fid("--samples", str(tmp_path / "none.npz"), "--dataset", "digits", "--dataroot", str(tmp_path)))
    assert code == 2
    assert "jointdiff fid: error: --samples" in capsys.readouterr().err


def test_split_other_than_the_protocols_is_refused(tmp_path, capsys):
    samples = write_samples(tmp_path / "s.npz", 4, 16, 1)
    code = main(fid("--samples", str(samples), "--dataset", "digits", "--dataroot", str(tmp_path),
                    "--protocol", "paper", "--split", "train"))
    assert code == 2
    assert "--split train: the paper protocol compares against the test split" in capsys.readouterr().err


def test_unknown_metric_is_refused(tmp_path, capsys):
    samples = write_samples(tmp_path / "s.npz", 4, 16, 1)
    code = main(fid("--samples", str(samples), "--dataset", "digits", "--dataroot", str(tmp_path),
                    "--metrics", "fid,ssim"))
    assert code == 2 and "--metrics 'fid,ssim'" in capsys.readouterr().err


def test_unknown_dataset_is_refused(tmp_path, capsys):
    samples = write_samples(tmp_path / "s.npz", 4, 16, 1)
    code = main(fid("--samples", str(samples), "--dataset", "imagenet", "--dataroot", str(tmp_path)))
    assert code == 2 and "unknown dataset 'imagenet'" in capsys.readouterr().err


def test_unprepared_dataset_fails_before_any_inception_work(tmp_path, capsys):
    samples = write_samples(tmp_path / "s.npz", 4, 16, 1)
    code = main(fid("--samples", str(samples), "--dataset", "digits", "--dataroot", str(tmp_path / "empty"),
                    "--smoke"))
    assert code == 2
    assert "jointdiff fid: error:" in capsys.readouterr().err
    assert not (tmp_path / "empty" / "digits" / "fid_refs").exists()


def test_jpeg_samples_are_refused(tmp_path, capsys, digits_root):
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "s.jpg")
    code = main(fid("--samples", str(tmp_path / "s.jpg"), "--dataset", "digits", "--dataroot", str(digits_root),
                    "--smoke"))
    assert code == 2 and "JPEG" in capsys.readouterr().err


@pytest.fixture
def folder_root(tmp_path) -> Path:
    """A prepared `folder` dataset with its own train/test split: 2 classes x 2 RGB images each."""
    from jointdiff.data.prepare import prepare_dataset
    rng = np.random.default_rng(1)
    source = tmp_path / "mine"
    for split in ("train", "test"):
        for name in ("a", "b"):
            (source / split / name).mkdir(parents=True)
            for i in range(2):
                pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(source / split / name / f"{i}.png")
    root = tmp_path / "data"
    prepare_dataset("folder", root, source=source)
    return root


@pytest.mark.slow
def test_paper_protocol_smoke_run_writes_labelled_json_and_caches_the_reference(tmp_path, folder_root, capsys):
    samples = write_samples(tmp_path / "s.npz", 4, 32, 3)
    out = tmp_path / "metrics" / "fid_paper.json"
    flags = fid("--samples", str(samples), "--dataset", "folder", "--dataroot", str(folder_root), "--protocol",
                "paper", "--metrics", "fid,prc", "--smoke", "--device", "cpu", "--out", str(out))

    assert main(flags) == 0
    assert capsys.readouterr().out.strip() == str(out)
    result = json.loads(out.read_text())
    assert result["protocol"] == "paper" and result["smoke"] is True
    assert result["reference"]["split"] == "test" and result["reference"]["dataset"] == "folder"
    assert result["n_samples"] == 4 and result["n_reference"] == 4 and result["min_samples"] == 5000
    assert result["metrics"] == ["fid", "prc"] and "kid_mean" not in result
    assert result["numerics"] == {"device": "cpu", "tf32": False}
    assert np.isfinite(result["fid"]) and 0 <= result["precision"] <= 1
    assert [p.name for p in out.parent.iterdir()] == ["fid_paper.json"]
    cache_file = Path(result["reference"]["cache_file"])
    assert cache_file.parent == folder_root / "folder" / "fid_refs"
    mtime = cache_file.stat().st_mtime_ns

    assert main(flags) == 0  # the second run reads the reference from the cache
    again = json.loads(out.read_text())
    assert again["fid"] == result["fid"] and cache_file.stat().st_mtime_ns == mtime


@pytest.mark.slow
def test_the_floor_scores_real_held_out_images_and_caches_their_features(tmp_path, digits_root):
    out, real = tmp_path / "floor.json", tmp_path / "real.npz"
    flags = fid("--real-split", "test", "--real-count", "24", "--save-real", str(real), "--dataset", "digits",
                "--dataroot", str(digits_root), "--smoke", "--reference-limit", "24", "--device", "cpu",
                "--out", str(out))
    assert main(flags) == 0
    result = json.loads(out.read_text())
    assert result["floor"] is True and result["n_samples"] == 24 and result["n_reference"] == 24
    assert result["samples"]["real"]["split"] == "test" and result["reference"]["split"] == "train"
    images = np.load(real)["images"]
    assert images.shape == (24, 16, 16, 1) and images.dtype == np.uint8
    cached = sorted((digits_root / "digits" / "fid_refs").glob("digits-test-n24-*.npz"))
    assert len(cached) == 1
    mtime = cached[0].stat().st_mtime_ns
    assert main(flags) == 0  # the real images' features come from the cache the second time
    assert json.loads(out.read_text())["fid"] == result["fid"] and cached[0].stat().st_mtime_ns == mtime


def test_the_floor_needs_a_split_other_than_the_reference(tmp_path, capsys, digits_root):
    code = main(fid("--real-split", "train", "--dataset", "digits", "--dataroot", str(digits_root), "--smoke",
                    "--device", "cpu"))
    assert code == 2 and "--real-split train must differ from the reference split train" in capsys.readouterr().err
