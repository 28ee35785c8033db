"""On a CUDA GPU only (skipped elsewhere): real training steps at the authors' TF32 and in bf16, the steps free of
host syncs, the sampler and FID's features on the GPU against the CPU."""

from __future__ import annotations

import json

import pytest
import torch

from benchmarks.gpu_check import count_syncs, recorded_syncs
from conftest import TINY_FLAGS
from jointdiff.config import load_config

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]
CUDA = torch.device("cuda", 0)


def test_twenty_training_steps_in_bf16_and_tf32(digits_root, tmp_path):
    from jointdiff.train.loop import training_loop
    from jointdiff.train.run_dir import RunPaths

    cfg = load_config(flags=TINY_FLAGS + ["--dataroot", str(digits_root), "--num_steps", "20", "--bf16", "True",
                                          "--tf32", "True", "--validation_interval", "10", "--save_interval", "10"])
    paths = RunPaths(tmp_path, tmp_path / "model.pt")
    training_loop(cfg, paths, device="cuda", progress=False, log_interval=5)
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    records = [json.loads(line) for line in paths.log_file.read_text().splitlines()]
    assert [r["step"] for r in records if not r.get("final")] == [5, 10, 15, 20]
    assert all(torch.isfinite(torch.tensor(r["loss"])) and r["gpu_mem_gb"] > 0 for r in records if "loss" in r)
    assert records[-1]["final"] and paths.model_out.exists()


def test_the_training_step_does_not_wait_for_the_gpu(digits_root):
    from benchmarks.gpu_check import synthetic_data
    from jointdiff.diffusion import build_diffusion
    from jointdiff.distributed import DistInfo
    from jointdiff.train.batches import rank_batches
    from jointdiff.train.records import LossTotals
    from jointdiff.train.state import build_state
    from jointdiff.train.step import StepRunner

    for share in ("1.0", "0.5"):
        cfg = load_config(flags=TINY_FLAGS + ["--labelled_data_share", share])
        info = DistInfo(0, 0, 1, CUDA)
        data = synthetic_data(cfg, CUDA, 256)
        state = build_state(cfg, CUDA, 1)
        runner = StepRunner(state, build_diffusion(cfg), cfg, info, data)
        batches = rank_batches(data.train_set, data.stream, 0, 1, 0, 6, {})
        totals = LossTotals(CUDA)
        for _ in range(3):
            runner(*next(batches), totals)
        torch.cuda.synchronize()
        with recorded_syncs() as caught:
            for _ in range(3):
                runner(*next(batches), totals)
        assert count_syncs(caught) == 0, [str(w.message) for w in caught]


def test_sampling_on_the_gpu_matches_the_cpu_and_syncs_once_per_batch():
    from jointdiff.diffusion import build_diffusion, make_generators, sample_loop
    from jointdiff.model import build_model
    from jointdiff.gpu.precision import full_float32

    cfg = load_config(flags=TINY_FLAGS)
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    for p in model.parameters():  # ADM's zero-initialised output would make eps 0 everywhere
        p.data.add_(0.02 * torch.randn_like(p))
    diffusion = build_diffusion(cfg)
    shape = (4, 1, 16, 16)

    def sample(device):
        net = model.to(device)
        return sample_loop(lambda x, t: net(x, t), diffusion, make_generators(range(4)), shape, steps=10,
                           device=device).cpu()

    with full_float32():
        on_cpu = sample("cpu")
        sample(CUDA)  # warm-up
        with recorded_syncs() as caught:
            on_gpu = sample(CUDA)
    torch.testing.assert_close(on_gpu, on_cpu, atol=1e-3, rtol=1e-3)
    assert count_syncs(caught) <= 2  # the last step's check and the copy of the result


def test_fid_features_on_the_gpu_match_the_cpu():
    from jointdiff.metrics.features import extract_inception_features
    from jointdiff.metrics.inception import resolve_inception_weights

    weights = resolve_inception_weights()
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    on_cpu = extract_inception_features(images, weights, device="cpu")["2048"]
    on_gpu = extract_inception_features(images, weights, device="cuda")["2048"]
    assert on_gpu.device.type == "cpu" and on_gpu.shape == (8, 2048)
    torch.testing.assert_close(on_gpu, on_cpu, atol=1e-3, rtol=1e-3)
