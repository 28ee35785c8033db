"""Classic classifier guidance (the paper's baseline): the mean shift in the sampler, its sign judged on samples, and
the command-line checks of the noised classifier's file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from jointdiff.cli import main
from jointdiff.diffusion import (GaussianDiffusion, ancestral_step, extract, make_beta_schedule, make_generators,
                                 sample_loop, space_timesteps)
from jointdiff.sample import classic_guidance

torch.set_num_threads(1)
NOISED_FLAGS = ["--width", "32", "--depth", "1", "--attention-resolutions", "8", "--head-channels", "32",
                "--batch-size", "32", "--lr", "1e-3"]


def respaced_diffusion() -> GaussianDiffusion:
    return GaussianDiffusion(make_beta_schedule("linear", 100)).respaced(space_timesteps(100, 10))


def test_the_ancestral_mean_moves_by_sigma_squared_times_the_gradient_after_clipping():
    """guided-diffusion's condition_mean on a respaced walk: the step's own σ²_t (its β'), x̂_0 clipped first."""
    torch.manual_seed(0)
    spaced, x, eps, g = respaced_diffusion(), 3 * torch.randn(4, 1, 4, 4), *torch.randn(2, 4, 1, 4, 4)
    t = torch.full((4,), 5)
    out = spaced.p_mean_variance(eps, x, t, variance="fixedlarge", clip_x0=True)
    guided = ancestral_step(spaced, x, t, eps, torch.zeros_like(x), clip_x0=True, mean_shift=g)
    torch.testing.assert_close(guided, out["mean"] + spaced.betas[5].float() * g)


def test_the_eps_form_would_shift_the_mean_by_beta_over_sqrt_alpha_instead():
    """Why the mean, not ε: ε − √(1−ᾱ_t) g moves the unclipped ancestral mean by β_t/√α_t · g, not σ²_t g = β_t g."""
    torch.manual_seed(0)
    spaced, (x, eps, g) = respaced_diffusion(), torch.randn(3, 4, 1, 4, 4)
    t = torch.full((4,), 5)
    shifted_eps = eps - extract(spaced.sqrt_one_minus_alphas_cumprod, t, x) * g
    moved = (spaced.p_mean_variance(shifted_eps, x, t)["mean"] - spaced.p_mean_variance(eps, x, t)["mean"])
    beta = float(spaced.betas[5])
    torch.testing.assert_close(moved, beta / (1 - beta) ** 0.5 * g)


def test_ddim_takes_the_gradient_into_eps_at_original_timesteps():
    """DDIM uses D&N's eq. 14: the same as an eps_fn that subtracts √(1−ᾱ_t) g; cond_fn sees original timesteps."""
    diffusion, seen = GaussianDiffusion(make_beta_schedule("linear", 100)), []
    g = torch.full((2, 1, 4, 4), 0.3)

    def eps_fn(x, t):
        return 0.1 * x

    def cond_fn(x, t):
        seen.append(int(t[0]))
        return g

    def shifted(x, t):
        return eps_fn(x, t) - extract(diffusion.sqrt_one_minus_alphas_cumprod, t, x) * g

    kwargs = dict(steps=10, sampler="ddim", clip_x0=True)
    guided = sample_loop(eps_fn, diffusion, make_generators([1, 2]), (2, 1, 4, 4), cond_fn=cond_fn, **kwargs)
    reference = sample_loop(shifted, diffusion, make_generators([1, 2]), (2, 1, 4, 4), **kwargs)
    torch.testing.assert_close(guided, reference)
    assert seen == list(reversed(space_timesteps(100, 10)))


@pytest.fixture(scope="module")
def noised_classifier(digits_root, tmp_path_factory):
    """A tiny noised classifier of the trained model's diffusion (T = 100), 300 steps on noised digits."""
    out = tmp_path_factory.mktemp("noised") / "noised_classifier.pt"
    assert main(["noised-classifier", "--dataset", "digits", "--dataroot", str(digits_root), "--diffusion-steps",
                 "100", "--noise-schedule", "linear", *NOISED_FLAGS, "--iterations", "300", "--save-interval", "300",
                 "--run-dir", str(out.parent / "run"), "--out", str(out), "--device", "cpu"]) == 0
    return out


def classic_target_rate(trained_model, classifier, out, scale: str) -> float:
    """Share of classic-guided samples (3 per class) that the noised classifier at t = 0 puts in their class."""
    assert main(["sample", "--model", str(trained_model), "--out", str(out), "--classes", "all", "--per-class", "3",
                 "--guidance", "classifier", "--noised-classifier", str(classifier), "--alpha", scale,
                 "--steps", "20", "--clip-x0", "--device", "cpu"]) == 0
    score = out.with_suffix(".json")
    assert main(["score", "--samples", str(out), "--model", str(trained_model), "--noised-classifier",
                 str(classifier), "--out", str(score), "--device", "cpu"]) == 0
    result = json.loads(score.read_text())
    assert result["guidance"] == "classifier"
    assert result["own_judge"] == f"the noised classifier {classifier} at t = 0"
    return result["own_head_target_accuracy"]


@pytest.mark.slow
def test_the_sign_is_judged_on_samples(trained_model, noised_classifier, tmp_path, monkeypatch):
    """+s ∇ log p moves samples to their target class (by the noised classifier's own reading of the final images);
    the opposite sign moves them away. Same seeds, respaced ancestral sampling with x̂_0 clipped, as the workflow."""
    rates = {}
    for name, sign, scale in (("unguided", 1.0, "0"), ("ours", 1.0, "10"), ("flipped", -1.0, "10")):
        monkeypatch.setattr(classic_guidance, "CLASSIC_SIGN", sign)
        rates[name] = classic_target_rate(trained_model, noised_classifier, tmp_path / f"{name}.npz", scale)
    assert rates["ours"] >= rates["unguided"] + 0.3 and rates["flipped"] < rates["unguided"], rates


@pytest.mark.slow
def test_classic_guidance_needs_a_matching_classifier(trained_model, noised_classifier, digits_root, tmp_path,
                                                      capsys):
    other = tmp_path / "t1000.pt"
    assert main(["noised-classifier", "--dataset", "digits", "--dataroot", str(digits_root), "--diffusion-steps",
                 "1000", "--noise-schedule", "linear", *NOISED_FLAGS, "--iterations", "1", "--run-dir",
                 str(tmp_path / "r"), "--out", str(other), "--device", "cpu"]) == 0
    base = ["sample", "--model", str(trained_model), "--out", str(tmp_path / "x.npz"), "--classes", "all",
            "--per-class", "1", "--alpha", "1"]
    for extra, message in ((["--guidance", "classifier"], "--guidance classifier needs --noised-classifier FILE"),
                           (["--guidance", "classifier", "--noised-classifier", str(other)],
                            f"--noised-classifier {other} does not fit the model: diffusion_steps 1000 (the "
                            "model's 100)"),
                           (["--guidance", "x0", "--noised-classifier", str(noised_classifier)],
                            "--noised-classifier is for --guidance classifier, not x0")):
        assert main(base + extra) == 2
        assert message in capsys.readouterr().err
    assert not list(tmp_path.glob("x*"))
    guided = tmp_path / "g.npz"
    assert main(base[:4] + [str(guided)] + base[5:] + ["--guidance", "classifier", "--noised-classifier",
                                                       str(noised_classifier), "--steps", "2"]) == 0
    assert main(["score", "--samples", str(guided), "--model", str(trained_model), "--out",
                 str(tmp_path / "s.json")]) == 2
    assert "give its file with --noised-classifier" in capsys.readouterr().err
    assert np.load(guided)["labels"].tolist() == list(range(10))
