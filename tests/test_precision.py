"""The authors' precision: TF32 set from the config by training and by loading a model, restored around FID's
Inception features, recorded in the run's config and in metric files."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import TINY_FLAGS
from jointdiff.config import load_config
from jointdiff.gpu.precision import full_float32, numerics, precision, set_precision


def flags() -> tuple[bool, bool, bool]:
    return torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark


@pytest.fixture(autouse=True)
def restore_flags():
    saved = flags()
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, torch.backends.cudnn.benchmark = saved


def test_paper_runs_default_to_tf32_and_a_key_turns_it_off():
    assert load_config(flags=TINY_FLAGS).tf32 is True
    assert load_config(flags=TINY_FLAGS + ["--tf32", "False"]).tf32 is False


def test_set_precision_and_the_context_managers_restore():
    set_precision(True, benchmark=False)
    assert flags() == (True, True, False)
    with precision(False, benchmark=True):
        assert flags() == (False, False, True)
    assert flags() == (True, True, False)
    with full_float32():
        assert flags()[:2] == (False, False) and numerics("cuda") == {"device": "cuda", "tf32": False}
    assert flags() == (True, True, False)
    assert numerics("cuda") == {"device": "cuda", "tf32": True}
    assert numerics("cpu") == {"device": "cpu", "tf32": False}  # CPUs have no TF32


@pytest.mark.parametrize("tf32", [True, False])
def test_training_and_loading_the_model_set_the_configs_precision(digits_root, tmp_path, tf32):
    from jointdiff.model import load_trained
    from jointdiff.train.loop import training_loop
    from jointdiff.train.run_dir import RunPaths

    cfg = load_config(flags=TINY_FLAGS + ["--dataroot", str(digits_root), "--num_steps", "1", "--tf32", str(tf32),
                                          "--skip_validation", "True"])
    paths = RunPaths(tmp_path / "run", tmp_path / "run" / "model.pt")
    set_precision(not tf32, benchmark=False)
    training_loop(cfg, paths, device="cpu", progress=False)
    assert flags() == (tf32, tf32, True)
    assert json.loads(paths.config_file.read_text())["tf32"] is tf32

    set_precision(not tf32)
    trained = load_trained(paths.model_out, "ema", "cpu")
    assert trained.cfg.tf32 is tf32 and flags()[:2] == (tf32, tf32)
    assert trained.diffusion.device == torch.device("cpu")
