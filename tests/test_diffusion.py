"""The diffusion maths against closed forms computed independently (numpy float64 / Gaussian conjugacy)."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from jointdiff.config import load_config
from jointdiff.diffusion import GaussianDiffusion, build_diffusion, make_beta_schedule, space_timesteps


@pytest.fixture(scope="module")
def diffusion() -> GaussianDiffusion:
    return GaussianDiffusion(make_beta_schedule("linear", 200))


def numpy_schedule(T: int, first: float = 1e-3) -> np.ndarray:
    scale = 1000.0 / T
    return np.linspace(first * scale, 0.02 * scale, T, dtype=np.float64)


@pytest.mark.parametrize("T", [1000, 500, 50])
@pytest.mark.parametrize("name, first", [("linear", 1e-3), ("linear_upstream", 1e-4)])
def test_linear_schedules_scale_by_1000_over_T(name, first, T):
    """linear is the authors' fork's (first beta 1e-3 at T = 1000), linear_upstream guided-diffusion's (1e-4)."""
    betas = make_beta_schedule(name, T)
    assert betas.dtype == torch.float64 and betas.shape == (T,)
    np.testing.assert_allclose(betas.numpy(), numpy_schedule(T, first), rtol=0, atol=1e-15)
    assert betas[0].item() == pytest.approx(first * 1000 / T) and betas[-1].item() == pytest.approx(0.02 * 1000 / T)


@pytest.mark.parametrize("experiment, first_beta", [("svhn", 1e-3), ("cifar10", 1e-3), ("cifar100", 1e-3),
                                                    ("fashionmnist", 2e-3)])
def test_paper_runs_use_the_authors_schedule(experiment, first_beta):
    """The paper's models were trained with the fork's schedule: beta_0 = 1e-3 at T = 1000, 2e-3 at T = 500."""
    cfg = load_config(Path(__file__).resolve().parents[1] / "config" / "experiments" / f"{experiment}.yaml")
    assert build_diffusion(cfg).betas[0].item() == pytest.approx(first_beta, rel=1e-12)


def test_cosine_schedule_follows_its_alpha_bar():
    T = 300
    abar = torch.cumprod(1 - make_beta_schedule("cosine", T), 0).numpy()
    f = lambda s: math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    expected = np.array([f((i + 1) / T) / f(0) for i in range(T)])
    np.testing.assert_allclose(abar[:-5], expected[:-5], rtol=1e-9)  # the last steps hit the 0.999 cap


def test_unknown_schedule_is_named():
    with pytest.raises(ValueError, match="quadratic"):
        make_beta_schedule("quadratic", 10)


def test_q_sample_matches_closed_form_moments(diffusion):
    torch.manual_seed(0)
    draws = 200_000
    abar = np.cumprod(1 - numpy_schedule(200))
    for step in (0, 20, 100, 199):
        x0 = torch.full((draws, 1), 0.7)
        t = torch.full((draws,), step, dtype=torch.long)
        x_t = diffusion.q_sample(x0, t, torch.randn_like(x0)).double()
        sd = math.sqrt(1 - abar[step])
        assert x_t.mean().item() == pytest.approx(math.sqrt(abar[step]) * 0.7, abs=4 * sd / math.sqrt(draws))
        assert x_t.var().item() == pytest.approx(1 - abar[step], rel=0.02)


def test_posterior_matches_gaussian_conjugacy(diffusion):
    """q(x_{t-1} | x_t, x_0) ∝ N(x_{t-1}; √ᾱ_{t-1} x_0, 1−ᾱ_{t-1}) · N(x_t; √α_t x_{t-1}, β_t)."""
    rng = np.random.default_rng(0)
    betas = numpy_schedule(200)
    abar = np.cumprod(1 - betas)
    t = rng.integers(1, 200, size=64)
    x0, x_t = rng.normal(size=(64, 3)), rng.normal(size=(64, 3))
    prior_var = 1 - abar[t - 1]
    var = 1 / (1 / prior_var + (1 - betas[t]) / betas[t])
    mean = var[:, None] * (np.sqrt(abar[t - 1])[:, None] * x0 / prior_var[:, None]
                           + np.sqrt(1 - betas[t])[:, None] * x_t / betas[t][:, None])
    got_mean, got_var, got_log_var = diffusion.q_posterior_mean_variance(
        torch.tensor(x0), torch.tensor(x_t), torch.tensor(t))
    np.testing.assert_allclose(got_mean.numpy(), mean, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(got_var.numpy()[:, 0], var, rtol=1e-9)
    np.testing.assert_allclose(got_log_var.numpy()[:, 0], np.log(var), rtol=1e-9)


def test_posterior_at_t0_is_x0_and_log_variance_is_clipped(diffusion):
    x0, x_t = torch.randn(2, 4, dtype=torch.float64), torch.randn(2, 4, dtype=torch.float64)
    t = torch.zeros(2, dtype=torch.long)
    mean, var, log_var = diffusion.q_posterior_mean_variance(x0, x_t, t)
    torch.testing.assert_close(mean, x0)
    assert var.abs().max() == 0
    assert torch.allclose(log_var, diffusion.posterior_variance[1].log().expand_as(log_var))


def test_predict_x0_from_eps_inverts_q_sample(diffusion):
    x0, noise = torch.randn(8, 1, 4, 4), torch.randn(8, 1, 4, 4)
    t = torch.arange(0, 200, 25)
    x_t = diffusion.q_sample(x0, t, noise)
    torch.testing.assert_close(diffusion.predict_x0_from_eps(x_t, t, noise), x0, atol=2e-4, rtol=1e-4)
    torch.testing.assert_close(diffusion.predict_eps_from_x0(x_t, t, x0), noise, atol=1e-4, rtol=1e-4)


def test_p_mean_variance_fixed_large_and_small(diffusion):
    betas = numpy_schedule(200)
    abar = np.cumprod(1 - betas)
    abar_prev = np.append(1.0, abar[:-1])
    posterior_var = betas * (1 - abar_prev) / (1 - abar)
    x_t, eps = torch.randn(4, 2, 3, 3, dtype=torch.float64), torch.randn(4, 2, 3, 3, dtype=torch.float64)
    t = torch.tensor([0, 1, 57, 199])
    large = diffusion.p_mean_variance(eps, x_t, t, variance="fixedlarge")
    expected_large = np.where(t.numpy() == 0, posterior_var[1], betas[t.numpy()])
    np.testing.assert_allclose(large["variance"].flatten().numpy(), expected_large, rtol=1e-12)
    np.testing.assert_allclose(large["log_variance"].flatten().numpy(), np.log(expected_large), rtol=1e-12)
    small = diffusion.p_mean_variance(eps, x_t, t, variance="fixedsmall")
    np.testing.assert_allclose(small["variance"].flatten().numpy(), posterior_var[t.numpy()], rtol=1e-12)
    # the mean is the posterior mean at x̂_0, identical for both variances
    abar_t = abar[t.numpy()][:, None, None, None]
    pred_x0 = (x_t.numpy() - np.sqrt(1 - abar_t) * eps.numpy()) / np.sqrt(abar_t)
    np.testing.assert_allclose(large["pred_x0"].numpy(), pred_x0, rtol=1e-9)
    mean, _, _ = diffusion.q_posterior_mean_variance(large["pred_x0"], x_t, t)
    torch.testing.assert_close(large["mean"], mean)
    torch.testing.assert_close(small["mean"], mean)


def test_p_mean_variance_clips_x0_only_when_asked(diffusion):
    x_t, eps = torch.randn(3, 1, 2, 2) * 5, torch.randn(3, 1, 2, 2)
    t = torch.tensor([5, 50, 150])
    assert diffusion.p_mean_variance(eps, x_t, t)["pred_x0"].abs().max() > 1
    clipped = diffusion.p_mean_variance(eps, x_t, t, clip_x0=True)
    assert clipped["pred_x0"].abs().max() <= 1
    with pytest.raises(ValueError, match="learned"):
        diffusion.p_mean_variance(eps, x_t, t, variance="learned")


def test_diffusion_loss_is_eps_mse_over_batch_and_pixels(diffusion):
    x0 = torch.randn(6, 1, 4, 4)
    t = diffusion.sample_timesteps(6, "cpu")
    noise = torch.randn_like(x0)
    perfect = diffusion.diffusion_loss(lambda x_t, t_: noise, x0, t, noise)
    assert perfect.item() == 0
    offset = torch.zeros_like(x0)
    offset[0] = 2.0  # one sample wrong by 2 everywhere: mean over 6 samples of 4 -> 4/6
    assert diffusion.diffusion_loss(lambda x_t, t_: noise + offset, x0, t, noise).item() == pytest.approx(4 / 6)
    seen = {}

    def eps_fn(x_t, t_):
        seen["x_t"], seen["t"] = x_t, t_
        return torch.zeros_like(x_t)

    diffusion.diffusion_loss(eps_fn, x0, t, noise)
    torch.testing.assert_close(seen["x_t"], diffusion.q_sample(x0, t, noise))
    assert torch.equal(seen["t"], t)


def test_sample_timesteps_are_uniform(diffusion):
    t = diffusion.sample_timesteps(200_000, "cpu", generator=torch.Generator().manual_seed(0))
    counts = torch.bincount(t, minlength=200).double()
    assert t.min() == 0 and t.max() == 199
    assert (counts / counts.mean() - 1).abs().max() < 0.15


def test_respacing_keeps_alpha_bar_and_maps_timesteps(diffusion):
    kept = space_timesteps(200, 11)
    assert kept[0] == 0 and kept[-1] == 199 and len(kept) == 11
    spaced = diffusion.respaced(kept)
    assert spaced.num_timesteps == 11
    assert spaced.timestep_map.tolist() == kept
    torch.testing.assert_close(spaced.alphas_cumprod, diffusion.alphas_cumprod[kept])
    # respacing a respaced diffusion composes the maps
    again = spaced.respaced([0, 5, 10])
    assert again.timestep_map.tolist() == [kept[0], kept[5], kept[10]]
    torch.testing.assert_close(again.alphas_cumprod, diffusion.alphas_cumprod[[kept[0], kept[5], kept[10]]])
    # keeping every step gives back the same betas
    torch.testing.assert_close(diffusion.respaced(range(200)).betas, diffusion.betas)


def test_space_timesteps_rejects_bad_counts():
    with pytest.raises(ValueError):
        space_timesteps(100, 1)
    with pytest.raises(ValueError):
        space_timesteps(100, 101)


def test_build_diffusion_from_config():
    cfg = load_config(flags="--dataset FashionMNIST --diffusion_steps 500 --noise_schedule linear_upstream")
    d = build_diffusion(cfg)
    assert d.num_timesteps == 500
    np.testing.assert_allclose(d.betas.numpy(), numpy_schedule(500, first=1e-4))
