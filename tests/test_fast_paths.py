"""Each fast path computes what the plain fp32 eager NCHW path computes, and the benchmark suite runs.

channels_last and bf16 autocast are compared on a tiny joint model (weights perturbed: the zero-initialised output
layers would otherwise make ε_θ ≡ 0 and every path agree trivially) with dropout and augmentation off, through the
training loop's own TrainStep. Tolerances live in benchmarks/equivalence.py. torch.compile is opt-in on CPU (see
its test). Inception features in channels_last must equal the NCHW ones to 1e-5 of the largest feature.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from conftest import REPO, subprocess_env

if str(REPO) not in sys.path:  # `benchmarks` is a folder of the repository, not part of the installed package
    sys.path.insert(0, str(REPO))

from benchmarks.equivalence import TOLERANCES, compare  # noqa: E402
from benchmarks.training import training_steps  # noqa: E402
from benchmarks.variants import parse_variant, parse_variants  # noqa: E402
from jointdiff.config import load_config  # noqa: E402
from jointdiff.model import build_model  # noqa: E402
from jointdiff.train import build_optimizer  # noqa: E402

TINY = load_config(flags="--dataset digits --image_size 8 --num_channels 32 --num_res_blocks 1 "
                         "--attention_resolutions 4 --diffusion_steps 100 --dropout 0 --classifier_dropout 0 "
                         "--classifier_augmentation none --train_with_classifier True")
CPU = torch.device("cpu")
GRAD_ATOL_CL = 1e-4   # channels_last: each gradient to 1e-4 of its largest entry (measured: below 1e-6)
FEATURE_RTOL = 1e-5   # Inception: of the largest feature (measured: about 2e-6)
COMPILE_ENV = "JOINTDIFF_TEST_COMPILE"


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def loss_and_grads(names: str, batch: int = 4):
    steps = training_steps(TINY, parse_variants(names), CPU, batch, perturb=True)
    return {name: step.loss_and_grads() for name, step in steps.items()}


def test_variant_names_round_trip():
    for name in ("fp32", "fp32+cl", "bf16+cl+compile", "fp32+cl/nocls"):
        assert parse_variant(name).name == name
    assert [v.name for v in parse_variants("bf16,fp32+cl")] == ["fp32", "bf16", "fp32+cl"]  # baseline first
    with pytest.raises(ValueError, match="fp16"):
        parse_variant("fp16+cl")


def test_channels_last_gives_the_same_loss_and_gradients():
    out = loss_and_grads("fp32,fp32+cl")
    (terms, grads), (terms_cl, grads_cl) = out["fp32"], out["fp32+cl"]
    assert float(terms["diffusion"]) > 0 and float(terms["classifier"]) > 0
    for key in ("loss", "diffusion", "classifier"):
        torch.testing.assert_close(terms_cl[key], terms[key], rtol=1e-5, atol=0)
    assert grads.keys() == grads_cl.keys() and len(grads) == len(list(build_model(TINY).parameters()))
    # Relative to the largest gradient anywhere: some parameters (conv biases under a one-channel GroupNorm) have
    # mathematically zero gradients whose rounding noise differs between memory layouts.
    scale = max(g.abs().max() for g in grads.values())
    for name, g in grads.items():
        err = (grads_cl[name] - g).abs().max() / scale
        assert err <= GRAD_ATOL_CL, f"{name}: channels_last gradient off by {err:.1e} of the largest gradient"
    assert compare(out["fp32"], out["fp32+cl"], "fp32")["ok"]


def test_fused_adamw_makes_the_same_update_as_foreach():
    torch.manual_seed(0)
    params = [torch.randn(64, 32), torch.randn(300), torch.randn(8, 4, 3, 3)]
    copies = {fused: [torch.nn.Parameter(p.clone()) for p in params] for fused in (False, True)}
    optimizers = {fused: build_optimizer(ps, TINY, fused=fused) for fused, ps in copies.items()}
    for step in range(3):
        grads = [torch.randn_like(p) for p in params]
        for fused, ps in copies.items():
            for p, g in zip(ps, grads):
                p.grad = g.clone()
            optimizers[fused].step()
    for before, foreach, fused in zip(params, copies[False], copies[True]):
        assert (foreach - before).abs().max() > 1e-4  # the steps moved the weights
        torch.testing.assert_close(fused, foreach, rtol=1e-6, atol=1e-7)


def test_bf16_autocast_agrees_with_fp32_within_bf16_tolerance():
    out = loss_and_grads("fp32,bf16,bf16+cl")
    for name in ("bf16", "bf16+cl"):
        verdict = compare(out["fp32"], out[name], "bf16")
        assert verdict["ok"], f"{name} vs fp32: {verdict} (tolerance {TOLERANCES['bf16']})"
        assert verdict["loss_rel"] > 0, "bf16 gave bit-identical results: autocast was not active"


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get(COMPILE_ENV) != "1",
                    reason=f"torch.compile on the 2-core CPU takes minutes: this tiny step 121 s, the digits demo "
                           f"step 185 s, the paper step 450-510 s (measured); set {COMPILE_ENV}=1 to run it")
def test_compiled_step_agrees_with_eager():
    out = loss_and_grads("fp32,fp32+compile")
    verdict = compare(out["fp32"], out["fp32+compile"], "fp32")
    assert verdict["ok"], verdict


def test_channels_last_inception_features_equal_nchw(inception_cache):
    from benchmarks.fid_features import inception_extractors, pool3
    from jointdiff.metrics.features import extract_inception_features
    weights, _ = inception_cache
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    nchw = pool3(inception_extractors(weights, CPU)["fp32"], images)
    pipeline = extract_inception_features(images, weights, device="cpu")["2048"]  # channels_last inside
    assert nchw.shape == pipeline.shape == (2, 2048)
    torch.testing.assert_close(pipeline, nchw, rtol=0, atol=FEATURE_RTOL * float(nchw.abs().max()))


def test_result_lines_name_the_instruction_set_that_ran_them():
    # An AVX-512 CPU limited to AVX2 stands in for an AVX2 machine: its lines must not read as the full CPU's.
    env = subprocess_env(threads=1) | {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    proc = subprocess.run([sys.executable, "-c", "import json, torch; from benchmarks.common import environment; "
                           "print(json.dumps(environment(torch.device('cpu'))))"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    record = json.loads(proc.stdout)
    assert record["cpu_capability"] == "DEFAULT" and record["onednn_max_cpu_isa"] == "AVX2"


@pytest.mark.slow
def test_benchmark_smoke_mode_appends_parseable_json_lines(tmp_path, inception_cache):
    out = tmp_path / "smoke.jsonl"
    env = subprocess_env(threads=1) | inception_cache[1]
    proc = subprocess.run([sys.executable, "-m", "benchmarks.run", "--smoke", "--threads", "1", "--out", str(out)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "x base" in proc.stdout and "classifier branch" in proc.stdout
    records = [json.loads(line) for line in out.read_text().splitlines()]
    sections = {r["section"] for r in records}
    assert {"train", "optim", "sample", "sample-noise", "fid", "classifier-share"} <= sections
    assert any(r["variant"] == "fp32 ddim" for r in records)
    for r in records:
        assert {"git_commit", "torch", "threads", "load_average_1min", "device"} <= r.keys()
        assert r["threads"] == 1 and r["device"] == "cpu" and r["smoke"] is True
    baseline = next(r for r in records if r["section"] == "train" and r["variant"] == "fp32")
    assert baseline["ratio"] == 1.0 and baseline["throughput"] > 0 and baseline["unit"] == "img/s"
