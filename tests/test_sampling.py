"""Sampling commands: seeds, guidance by the joint classifier (its sign, and that it steers), counterfactuals,
errors."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO, TINY_FLAGS, subprocess_env
from jointdiff.cli import main
from jointdiff.config import load_config
from jointdiff.choices import GUIDANCE_METHODS
from jointdiff.cli import build_parser
from jointdiff.diffusion import build_diffusion
from jointdiff.distributed import DistInfo
from jointdiff.errors import CheckpointError, UserError
from jointdiff.images import from_uint8, save_npz, to_uint8
from jointdiff.metrics.samples import load_sample_images
from jointdiff.model import build_model, head_predict, load_trained
from jointdiff.data.manifest import sha256
from jointdiff.sample import guidance as guidance_module
from jointdiff.sample.generate import SampleRequest, generate, sample_batch, sample_to_file
from jointdiff.sample.guidance import GUIDANCE, shift_toward_target, target_loss
from jointdiff.sample.seeds import MAX_SAMPLES, parse_seeds
from jointdiff.sample.settings import SamplingSettings
from jointdiff.sample.targets import attribute_targets, class_targets, unconditional_targets

torch.set_num_threads(1)


def sample(model: Path, out: Path, *args: str) -> dict[str, np.ndarray]:
    assert main(["sample", "--model", str(model), "--out", str(out), "--sampler", "ddim", "--steps", "10",
                 "--device", "cpu", *args]) == 0
    return dict(np.load(out))


DDIM_10 = SamplingSettings(sampler="ddim", steps=10)  # what `sample` above passes


def sample_seeds(model: Path, out: Path, seeds: list[int]) -> dict[str, np.ndarray]:
    """`sample(model, out, "--seeds", ..., "--batch-size", "8")` through the library."""
    sample_to_file(model, out, unconditional_targets(seeds), DDIM_10, batch_size=8, device="cpu")
    return dict(np.load(out))


def probed_total_derivatives(model, x, t, targets, head_t):
    """dL/dh and dL/dhs_k by another route than the library's: forward hooks add a zero probe to the output of every
    encoder block and of the middle block, and autograd differentiates L with respect to the probes."""
    shapes = [a.shape for a in (model.unet.encode(x, t).h, *model.unet.encode(x, t).hs)]
    probes = [torch.zeros(s, dtype=x.dtype, requires_grad=True) for s in shapes]
    blocks = [model.unet.middle_block, *model.unet.input_blocks]
    handles = [b.register_forward_hook(lambda m, i, out, p=p: out + p) for b, p in zip(blocks, probes)]
    try:
        enc = model.unet.encode(x, t)
        head_time = torch.zeros_like(t) if head_t == "zero" else t
        loss = target_loss(model.head(enc.h, enc.hs, head_time), targets, False)
        return torch.autograd.grad(loss, probes)
    finally:
        for handle in handles:
            handle.remove()


def perturbed_tiny_model():
    """A float64 tiny joint model whose residual branches are not zero (at initialisation they are)."""
    torch.manual_seed(0)
    model = build_model(load_config(flags=TINY_FLAGS)).double().eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


@pytest.mark.parametrize("head_t", ["t", "zero"])
def test_representation_shift_moves_every_activation_by_its_total_derivative(head_t):
    model = perturbed_tiny_model()
    x, t = torch.randn(4, 1, 16, 16, dtype=torch.float64), torch.full((4,), 40)
    targets = torch.tensor([1, 3, 5, 7])
    settings = SamplingSettings(alpha=0.5, guidance="representation", head_t=head_t)
    enc = model.unet.encode(x, t)
    shifted = shift_toward_target(model, x, t, targets, settings, multi_label=False)
    expected = probed_total_derivatives(model, x, t, targets, head_t)
    for before, after, grad in zip((enc.h, *enc.hs), (shifted.h, *shifted.hs), expected):
        torch.testing.assert_close(after - before.detach(), 0.5 * grad, rtol=1e-9, atol=1e-12)


def test_the_first_skip_activation_gradient_differs_from_pixel_to_pixel():
    """A total derivative: hs_0 also feeds every later encoder block. Only the head's average pooling would give
    the same value at every pixel of a channel."""
    model = perturbed_tiny_model()
    x, t = torch.randn(4, 1, 16, 16, dtype=torch.float64), torch.full((4,), 40)
    settings = SamplingSettings(alpha=1.0, guidance="representation")
    enc = model.unet.encode(x, t)
    shift = shift_toward_target(model, x, t, torch.tensor([1, 3, 5, 7]), settings, multi_label=False).hs[0] - enc.hs[0]
    spread = shift.flatten(2).std(dim=2) / shift.flatten(2).mean(dim=2).abs().clamp(min=1e-30)
    assert (spread > 0.1).float().mean() > 0.9, spread


# A tiny attribute model (CelebA's 40 attributes at 16 px): built, never trained, so no CelebA files are needed.
ATTRIBUTE_FLAGS = ("--dataset CelebA --image_size 16 --num_channels 32 --num_res_blocks 1 --attention_resolutions 8 "
                   "--diffusion_steps 100 --train_with_classifier True --multi_label_classifier True "
                   "--classifier_dropout 0 --dropout 0")


@pytest.mark.parametrize("method, multi_label", [("x0", False), ("input", False), ("x0", True)])
def test_x_space_guidance_points_eps_up_the_target_loss(method, multi_label):
    """The sign of the x-space variants: the sampler subtracts eps, so eps~ - eps must point UP the loss; a small
    step of x_t against it lowers the head's loss (on x0-hat for "x0", on x_t for "input"; BCE for attributes)."""
    torch.manual_seed(0)
    cfg = load_config(flags=ATTRIBUTE_FLAGS) if multi_label else load_config(flags=TINY_FLAGS)
    model = build_model(cfg).eval()
    diffusion = build_diffusion(cfg)
    x, t = torch.randn(6, cfg.resolved_channels(), 16, 16), torch.full((6,), 40)
    targets = (torch.rand(6, 40) > 0.5).float() if multi_label else torch.arange(6) % 10
    settings = SamplingSettings(alpha=1.0, guidance=method)

    def loss_at(x_t) -> float:
        with torch.no_grad():
            seen = diffusion.predict_x0_from_eps(x_t, t, model(x_t, t)) if method == "x0" else x_t
            enc = model.unet.encode(seen, torch.zeros_like(t) if method == "x0" else t)
            return target_loss(model.head(enc.h, enc.hs, torch.zeros_like(t)), targets, multi_label).item()

    with torch.no_grad():
        correction = GUIDANCE[method](model, diffusion, x, t, targets, settings, multi_label) - model(x, t)
    step = 1e-2 * correction / correction.norm()
    assert loss_at(x - step) < loss_at(x) < loss_at(x + step)


def test_cli_offers_every_guidance_method():
    parser = build_parser("sample")
    sample_parser = parser._subparsers._group_actions[0].choices["sample"]
    offered = next(a.choices for a in sample_parser._actions if a.dest == "guidance")
    assert tuple(offered) == GUIDANCE_METHODS == (*GUIDANCE, "classifier")


def test_attribute_targets_turn_one_attribute_off_then_on():
    train_labels = torch.tensor([[1, 0, 1], [0, 1, 1], [-1, -1, -1], [1, 1, 0]])
    targets = attribute_targets(train_labels, attribute=1, per_value=5)
    assert targets.shape == (10, 3)
    assert targets[:5, 1].eq(0).all() and targets[5:, 1].eq(1).all()
    assert torch.equal(targets[:5, [0, 2]], targets[5:, [0, 2]])  # the same real vectors, off then on
    known = {(1, 1), (0, 1), (1, 0)}  # attributes 0 and 2 of the rows with every label (never the hidden row)
    assert {tuple(int(v) for v in row) for row in targets[:, [0, 2]]} <= known


def test_attribute_guided_samples_are_scored_on_their_attribute(tmp_path):
    """The CelebA variant end to end from the sampler on: BCE guidance toward real-looking attribute vectors, the
    samples file as `jointdiff sample --attribute` writes it, and `jointdiff score` judging attribute 31."""
    torch.manual_seed(0)
    cfg = load_config(flags=ATTRIBUTE_FLAGS)
    model_file = tmp_path / "model.pt"
    state = build_model(cfg).state_dict()
    torch.save({"model": state, "ema": state, "config": cfg.to_dict(), "step": 0}, model_file)
    trained = load_trained(model_file)
    targets = attribute_targets((torch.rand(50, 40) > 0.5).long(), attribute=31, per_value=3)
    settings = SamplingSettings(sampler="ddim", steps=3, clip_x0=True, alpha=10.0, guidance="x0")
    x = sample_batch(trained, list(range(6)), targets, settings, torch.device("cpu"))
    samples = tmp_path / "smiling.npz"
    save_npz(samples, images=to_uint8(x).numpy(), labels=targets.numpy(), seeds=np.arange(6),
             alpha=np.asarray(10.0), settings=np.asarray(json.dumps(settings.to_dict())), attribute=np.asarray(31))
    out = tmp_path / "score.json"
    assert main(["score", "--samples", str(samples), "--model", str(model_file), "--out", str(out),
                 "--device", "cpu"]) == 0
    score = json.loads(out.read_text())
    pred = head_predict(trained.model, from_uint8(load_sample_images(samples)), multi_label=True)
    assert score["attribute"] == 31 and score["n"] == 6
    assert score["own_head_target_accuracy"] == pytest.approx(float((pred[:, 31] == targets[:, 31]).float().mean()))
    assert set(score["own_head_per_class"]) == {"off", "on"}
    assert score["own_head_attribute_agreement"] == pytest.approx(float((pred == targets).float().mean()))


def test_x0_guidance_steers_toward_the_target(trained_model, tmp_path):
    """x0 guidance: guided samples are the target class far more often than unguided ones (own head)."""
    args = ["--classes", "all", "--per-class", "3", "--guidance", "x0", "--clip-x0"]
    scores = {}
    for alpha in ("0", "100"):
        out = tmp_path / f"g{alpha}.npz"
        sample(trained_model, out, *args, "--alpha", alpha)
        score = tmp_path / f"score{alpha}.json"
        assert main(["score", "--samples", str(out), "--model", str(trained_model), "--out", str(score),
                     "--device", "cpu"]) == 0
        scores[alpha] = json.loads(score.read_text())["own_head_target_accuracy"]
    assert scores["100"] >= 0.6 and scores["100"] >= scores["0"] + 0.4, scores


def own_head_target_rate(model_file: Path, samples: dict[str, np.ndarray]) -> float:
    trained = load_trained(model_file)
    images = torch.as_tensor(samples["images"]).permute(0, 3, 1, 2)
    predicted = head_predict(trained.model, from_uint8(images), multi_label=False)
    return float((predicted == torch.as_tensor(samples["labels"])).float().mean())


def test_the_representation_shift_sign_is_judged_on_samples(trained_model, tmp_path, monkeypatch):
    """The authors' sign (+α ∂L) moves the samples to the target by the model's own head; the opposite sign does
    not. Same seeds, judged on the final images (a loss on shifted activations cannot tell the two apart).
    Measured on this 150-step model: 10% unguided, 47.5% with the authors' sign at α 100 (37.5% at α 10), 10%
    flipped."""
    args = ["--classes", "all", "--per-class", "4", "--guidance", "representation", "--head-t", "zero"]
    rates = {}
    for name, sign, alpha in (("unguided", 1.0, "0"), ("authors", 1.0, "100"), ("flipped", -1.0, "100")):
        monkeypatch.setattr(guidance_module, "REPRESENTATION_SIGN", sign)
        rates[name] = own_head_target_rate(trained_model, sample(trained_model, tmp_path / f"{name}.npz", *args,
                                                                  "--alpha", alpha))
    assert rates["authors"] >= rates["unguided"] + 0.25 and rates["flipped"] <= rates["unguided"], rates
    assert rates["flipped"] <= rates["authors"] - 0.25, rates


def test_seed_ranges_split_over_runs_give_identical_images(trained_model, tmp_path):
    whole = sample(trained_model, tmp_path / "whole.npz", "--seeds", "0-63", "--batch-size", "32")
    first = sample(trained_model, tmp_path / "a.npz", "--seeds", "0-31", "--batch-size", "32")
    second = sample(trained_model, tmp_path / "b.npz", "--seeds", "32-63", "--batch-size", "32")
    assert whole["images"].shape == (64, 16, 16, 1) and whole["images"].dtype == np.uint8
    assert np.array_equal(whole["images"], np.concatenate([first["images"], second["images"]]))
    assert np.array_equal(whole["seeds"], np.arange(64)) and (whole["labels"] == -1).all()
    assert (tmp_path / "whole.png").stat().st_size > 0 and not (tmp_path / "whole.parts").exists()


def earlier_request(model: Path, **changes) -> SampleRequest:
    """The request `sample(model, ..., "--seeds", "0-15", "--batch-size", "8")` makes, with `changes`."""
    request = SampleRequest(seeds=list(range(16)), labels=[-1] * 16, batch_size=8, settings=DDIM_10,
                            model_sha256=sha256(model))
    return replace(request, **changes)


@pytest.mark.parametrize("earlier", [
    {},
    {"settings": SamplingSettings(sampler="ddim", steps=5)},
    {"model_sha256": "0" * 64},                       # another model file
    {"seeds": list(range(100, 116))},                 # other seeds in the same positions
])
def test_interrupted_sampling_reuses_only_batches_made_the_same_way(trained_model, tmp_path, caplog, earlier):
    """An interrupted run left its first batch (zeros here, to tell it apart); the rerun uses it only if that run
    had the same model file, settings and seeds, and otherwise deletes it and samples the batch again."""
    done = sample(trained_model, tmp_path / "ref.npz", "--seeds", "0-15", "--batch-size", "8")
    parts = tmp_path / "s.parts"
    parts.mkdir()
    np.savez(earlier_request(trained_model, **earlier).part_path(parts, 0),
             images=np.zeros_like(done["images"][:8]), seeds=np.arange(8))
    resumed = sample_seeds(trained_model, tmp_path / "s.npz", list(range(16)))
    if not earlier:
        assert (resumed["images"][:8] == 0).all()  # the existing batch was reused, not recomputed
    else:
        assert np.array_equal(resumed["images"], done["images"])
        assert "deleted 1 finished seed batches of an earlier run" in caplog.text
    assert np.array_equal(resumed["images"][8:], done["images"][8:])
    assert json.loads(str(resumed["settings"]))["model_sha256"] == sha256(trained_model)


def test_a_damaged_batch_file_is_reported_and_sampled_again(trained_model, tmp_path, caplog):
    done = sample(trained_model, tmp_path / "ref.npz", "--seeds", "0-15", "--batch-size", "8")
    parts = tmp_path / "s.parts"
    parts.mkdir()
    part = earlier_request(trained_model).part_path(parts, 0)
    np.savez(part, images=done["images"][:8], seeds=np.arange(8))
    part.write_bytes(part.read_bytes()[:200])  # a copy cut short
    resumed = sample_seeds(trained_model, tmp_path / "s.npz", list(range(16)))
    assert np.array_equal(resumed["images"], done["images"])
    assert f"seed batch {part} is damaged (BadZipFile" in caplog.text


def test_a_killed_run_is_finished_from_its_parts_which_are_then_deleted(trained_model, tmp_path, caplog):
    """A launch killed after its first seed batch left that batch in OUT.parts/ (here: rank 0 of two processes
    made it); the rerun samples only the other, joins both in seed order into what one run makes, and deletes
    the parts."""
    done = sample(trained_model, tmp_path / "ref.npz", "--seeds", "0-15", "--batch-size", "8")
    out = tmp_path / "s.npz"
    request = earlier_request(trained_model)
    trained = load_trained(trained_model, DDIM_10.weights)
    generate(trained, request, out.with_suffix(".parts"), DistInfo(0, 0, 2, torch.device("cpu")))
    assert [p.name[:15] for p in out.with_suffix(".parts").iterdir()] == ["batch-000000000"]
    caplog.set_level("INFO")
    resumed = sample_seeds(trained_model, out, list(range(16)))
    assert "rank 0: 1 of 2 seed batches already done" in caplog.text
    assert np.array_equal(resumed["images"], done["images"]) and np.array_equal(resumed["seeds"], np.arange(16))
    assert not out.with_suffix(".parts").exists()


def test_seeds_are_ranges_or_lists_counted_before_they_are_built():
    assert parse_seeds("0-3,7, 9-10") == [0, 1, 2, 3, 7, 9, 10]
    assert parse_seeds("5") == [5]
    for text, message in [("5-2", "runs backwards"), ("0-3,x", "expects ranges like 0-999"),
                          (f"0-{MAX_SAMPLES}", f"asks for {MAX_SAMPLES + 1:,} samples, more than {MAX_SAMPLES:,}")]:
        with pytest.raises(UserError, match=message):
            parse_seeds(text)
    assert len(parse_seeds(f"0-{MAX_SAMPLES}", allow_large=True)) == MAX_SAMPLES + 1


def test_class_targets_give_each_class_its_samples_in_turn():
    cfg = load_config(flags=TINY_FLAGS)
    targets = class_targets(cfg, "3,5", 2, allow_large=False)
    assert targets.seeds == [0, 1, 2, 3] and targets.labels.tolist() == [3, 3, 5, 5]
    assert targets.per_class == 2 and targets.attribute is None
    assert class_targets(cfg, "all", 1, allow_large=False).labels.tolist() == list(range(10))
    with pytest.raises(UserError, match="--classes all --per-class 20000 asks for 200,000 samples"):
        class_targets(cfg, "all", 20_000, allow_large=False)
    unconditional = unconditional_targets([4, 5])
    assert unconditional.labels.tolist() == [-1, -1] and unconditional.per_class == 0


def test_a_second_sampling_into_the_same_output_is_refused_naming_the_first(trained_model, tmp_path):
    out = tmp_path / "s.npz"
    command = [sys.executable, "-m", "jointdiff", "sample", "--model", str(trained_model), "--out", str(out),
               "--device", "cpu", "--batch-size", "4"]
    first = subprocess.Popen([*command, "--seeds", "0-9999"], env=subprocess_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while not list(out.with_suffix(".parts").glob("batch-*.npz")):
            assert time.monotonic() < deadline and first.poll() is None, "the first sampling never got going"
            time.sleep(0.1)
        second = subprocess.run([*command, "--seeds", "0-3"], capture_output=True, text=True, env=subprocess_env())
        assert second.returncode == 2
        assert f"sample output {out} is in use by pid {first.pid}" in second.stderr
    finally:
        first.kill()
        first.wait()


def test_a_model_file_whose_weights_do_not_fit_its_config_gives_one_line(tmp_path, capsys):
    cfg = load_config(flags=TINY_FLAGS)
    state = build_model(cfg).state_dict()
    bad = tmp_path / "model.pt"
    torch.save({"model": state, "ema": state, "step": 1, "config": {**cfg.to_dict(), "num_channels": 64}}, bad)
    assert main(["sample", "--model", str(bad), "--seeds", "0-3", "--out", str(tmp_path / "x.npz"),
                 "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "weights do not fit the config stored with them" in err


@pytest.mark.parametrize("damaged, asked", [("ema", "raw"), ("model", "ema"), ("model", "raw")])
def test_a_model_file_with_a_missing_or_extra_weight_is_refused_whichever_half_is_asked_for(tmp_path, damaged,
                                                                                            asked):
    cfg = load_config(flags=TINY_FLAGS)
    state = build_model(cfg).state_dict()
    first = next(iter(state))
    halves = {"model": dict(state), "ema": dict(state)}
    del halves[damaged][first]
    halves[damaged]["head.extra"] = torch.zeros(1)
    torch.save({**halves, "step": 1, "config": cfg.to_dict()}, tmp_path / "model.pt")
    name = "ema" if damaged == "ema" else "raw"
    with pytest.raises(CheckpointError, match=rf"its {name} weights do not fit the config stored with them "
                                              rf"\(1 missing: {re.escape(first)}; 1 unexpected: head.extra\)"):
        load_trained(tmp_path / "model.pt", weights=asked)


def test_guidance_changes_samples_and_alpha_zero_is_unguided(trained_model, tmp_path):
    """The paper's representation shift, same seeds: alpha 0 reproduces unconditional sampling exactly; alpha > 0
    changes the images."""
    plain = sample(trained_model, tmp_path / "u.npz", "--seeds", "0-19")
    zero = sample(trained_model, tmp_path / "g0.npz", "--classes", "all", "--per-class", "2", "--alpha", "0")
    guided = sample(trained_model, tmp_path / "g1.npz", "--classes", "all", "--per-class", "2", "--alpha", "100")
    assert np.array_equal(zero["images"], plain["images"])
    assert np.array_equal(guided["labels"], np.repeat(np.arange(10), 2))
    changed = np.abs(guided["images"].astype(int) - zero["images"].astype(int)).mean()
    assert changed > 1.0, changed
    out = tmp_path / "score.json"
    assert main(["score", "--samples", str(tmp_path / "g1.npz"), "--model", str(trained_model), "--out", str(out),
                 "--device", "cpu"]) == 0
    score = json.loads(out.read_text())
    assert score["alpha"] == 100 and score["n"] == 20 and 0 <= score["own_head_target_accuracy"] <= 1


def test_counterfactual_moves_predictions_toward_the_target(trained_model, digits_root, tmp_path):
    out = tmp_path / "cf.npz"
    assert main(["counterfactual", "--model", str(trained_model), "--dataroot", str(digits_root), "--out", str(out),
                 "--num-images", "6", "--t-fraction", "0.5", "--alpha", "1", "--sampler", "ddim", "--steps", "10",
                 "--device", "cpu"]) == 0
    cf = np.load(out)
    assert cf["originals"].shape == cf["counterfactuals"].shape == (6, 16, 16, 1)
    assert np.array_equal(cf["target_labels"], (cf["source_labels"] + 1) % 10)
    assert int(cf["t_star"]) == round(0.5 * 99)
    assert (out.with_suffix(".png")).stat().st_size > 0


@pytest.mark.slow
def test_sampler_steps_benchmark_records_time_and_fid_per_setting(trained_model, digits_root, tmp_path,
                                                                  inception_cache):
    out = tmp_path / "steps.jsonl"
    proc = subprocess.run([sys.executable, "-m", "benchmarks.sampler_steps", "--model", str(trained_model),
                           "--dataroot", str(digits_root), "--dataset", "digits", "--samples", "6",
                           "--reference-limit", "12", "--settings", "ddim:2,ancestral:4", "--out", str(out)],
                          cwd=REPO, env=subprocess_env(threads=2) | inception_cache[1], capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["sampler"], r["steps"]) for r in records] == [("ddim", 2), ("ancestral", 4)]
    for r in records:
        assert r["n_samples"] == 6 and r["n_reference"] == 12 and r["sample_s"] > 0 and r["fid"] > 0
        assert r["git_commit"]


@pytest.mark.parametrize("args, message", [
    (["--model", "missing.pt", "--seeds", "0-3"], "missing.pt does not exist"),
    (["--classes", "all", "--per-class", "2", "--seeds", "0-3"], "give one of --seeds"),
    (["--classes", "3,12", "--per-class", "2"], "--classes [12] out of range: the model has 10 classes"),
    (["--classes", "three", "--per-class", "2"], "comma list of integers"),
    (["--seeds", "5-2"], "runs backwards"),
    (["--seeds", "0-3", "--alpha", "2"], "use it with --classes"),
    (["--attribute", "31", "--per-class", "2"], "give --dataroot"),
    (["--attribute", "31", "--per-class", "2", "--dataroot", "data"], "predicts classes: use --classes"),
    (["--seeds", "0-999999999"], "asks for 1,000,000,000 samples, more than 100,000"),
    (["--classes", "all", "--per-class", "1000000"], "pass --allow-large if you mean it"),
    (["--seeds", "0-3", "--steps", "500"], "--steps 500: the model has 100 diffusion steps"),
])
def test_bad_sampling_requests_fail_before_sampling(trained_model, tmp_path, capsys, args, message):
    if "--model" not in args:
        args = ["--model", str(trained_model), *args]
    assert main(["sample", "--out", str(tmp_path / "x.npz"), *args]) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.glob("x*"))


def test_alpha_must_be_a_number(trained_model, tmp_path):
    with pytest.raises(SystemExit):  # argparse: "argument --alpha: invalid float value"
        main(["sample", "--model", str(trained_model), "--out", str(tmp_path / "x.npz"), "--classes", "all",
              "--per-class", "1", "--alpha", "big"])
