"""Samplers: recover a known x0 from its true noise, agree with each other in distribution, and draw every
sample's noise from its own generator only."""

import pytest
import torch

from jointdiff.diffusion import (GaussianDiffusion, make_beta_schedule, make_generators, randn_per_sample, sample_loop,
                                 space_timesteps)
from jointdiff.unet import UNetModel

torch.set_num_threads(1)  # tiny models on a shared 2-core CPU: extra threads cost more than they save

T = 100
MEAN, STD = 0.5, 0.3  # the 1-D Gaussian toy data


@pytest.fixture(scope="module")
def diffusion() -> GaussianDiffusion:
    return GaussianDiffusion(make_beta_schedule("linear", T))


def true_eps_fn(diffusion, x0, seen=None):
    """ε = (x_t − √ᾱ_t x0)/√(1−ᾱ_t) for a known x0, at ORIGINAL timesteps t (records them in `seen`)."""
    def eps_fn(x_t, t):
        if seen is not None:
            seen.append(t.clone())
        abar = diffusion.alphas_cumprod[t].float().reshape(-1, *([1] * (x_t.dim() - 1)))
        return (x_t - abar.sqrt() * x0) / (1 - abar).sqrt()
    return eps_fn


def gaussian_eps_fn(diffusion):
    """The optimal ε for data N(MEAN, STD²): E[ε | x_t] = √(1−ᾱ)(x_t − √ᾱ MEAN)/(ᾱ STD² + 1 − ᾱ)."""
    def eps_fn(x_t, t):
        abar = diffusion.alphas_cumprod[t].float().reshape(-1, 1)
        return (1 - abar).sqrt() * (x_t - abar.sqrt() * MEAN) / (abar * STD ** 2 + 1 - abar)
    return eps_fn


@pytest.mark.parametrize("kwargs", [
    {},                                        # the paper's T-step ancestral sampler
    {"steps": 10},                             # respaced
    {"steps": 10, "variance": "fixedsmall"},
    {"sampler": "ddim", "steps": 10},
    {"sampler": "ddim", "steps": 25, "eta": 1.0},
    {"sampler": "ddim", "eta": 0.5, "clip_x0": True},
])
def test_true_eps_recovers_x0(diffusion, kwargs):
    x0 = torch.rand(3, 1, 4, 4) * 1.8 - 0.9
    seen = []
    out = sample_loop(true_eps_fn(diffusion, x0, seen), diffusion, make_generators([1, 2, 3]), x0.shape, **kwargs)
    torch.testing.assert_close(out, x0, atol=1e-4, rtol=1e-4)
    # eps_fn saw original timesteps, from the last to 0, one LongTensor [N] per step
    used = [int(t[0]) for t in seen]
    expected = list(range(T)) if "steps" not in kwargs else space_timesteps(T, kwargs["steps"])
    assert used == expected[::-1]
    assert all(t.dtype == torch.long and t.shape == (3,) for t in seen)


@pytest.mark.parametrize("steps", [None, 6])
def test_start_from_an_intermediate_timestep(diffusion, steps):
    x0 = torch.rand(2, 1, 3, 3) * 2 - 1
    t_start = 40
    x_t = diffusion.q_sample(x0, torch.full((2,), t_start), torch.randn_like(x0))
    seen = []
    out = sample_loop(true_eps_fn(diffusion, x0, seen), diffusion, make_generators([5, 6]), x0.shape, steps=steps,
                      x_start=x_t, t_start=t_start)
    torch.testing.assert_close(out, x0, atol=1e-4, rtol=1e-4)
    used = [int(t[0]) for t in seen]
    assert used == (list(range(t_start + 1)) if steps is None else space_timesteps(t_start + 1, steps))[::-1]


def test_start_arguments_are_checked(diffusion):
    eps_fn = gaussian_eps_fn(diffusion)
    with pytest.raises(ValueError, match="together"):
        sample_loop(eps_fn, diffusion, make_generators([0]), (1, 1), t_start=10)
    with pytest.raises(ValueError, match="t_start"):
        sample_loop(eps_fn, diffusion, make_generators([0]), (1, 1), x_start=torch.zeros(1, 1), t_start=T)
    with pytest.raises(ValueError, match="sampler"):
        sample_loop(eps_fn, diffusion, make_generators([0]), (1, 1), sampler="euler")


def test_ddim_eta1_is_ancestral_with_fixed_small_variance(diffusion):
    """Same noise, same process: DDIM(η=1) over every step equals ancestral sampling with σ²_t = β̃_t."""
    eps_fn = gaussian_eps_fn(diffusion)
    seeds = range(16)
    ddim = sample_loop(eps_fn, diffusion, make_generators(seeds), (16, 1), sampler="ddim", eta=1.0)
    ancestral = sample_loop(eps_fn, diffusion, make_generators(seeds), (16, 1), variance="fixedsmall")
    torch.testing.assert_close(ddim, ancestral, atol=1e-5, rtol=1e-5)


def test_samplers_agree_in_distribution_on_gaussian_data(diffusion):
    n = 2000
    eps_fn = gaussian_eps_fn(diffusion)
    ddim = sample_loop(eps_fn, diffusion, make_generators(range(n)), (n, 1), sampler="ddim", eta=1.0)
    ancestral = sample_loop(eps_fn, diffusion, make_generators(range(n, 2 * n)), (n, 1), variance="fixedsmall")
    assert ddim.mean().item() == pytest.approx(ancestral.mean().item(), abs=0.03)  # ~3 standard errors
    assert ddim.std().item() == pytest.approx(ancestral.std().item(), abs=0.02)
    # the paper's fixed-large sampler and the deterministic DDIM both land near the data (T = 100 is coarse)
    for out in (sample_loop(eps_fn, diffusion, make_generators(range(n)), (n, 1)),
                sample_loop(eps_fn, diffusion, make_generators(range(n)), (n, 1), sampler="ddim", steps=50)):
        assert out.mean().item() == pytest.approx(MEAN, abs=0.03)
        assert out.std().item() == pytest.approx(STD, abs=0.04)


def test_same_seed_gives_bit_identical_samples_whatever_the_batch(diffusion):
    eps_fn = gaussian_eps_fn(diffusion)
    batch = sample_loop(eps_fn, diffusion, make_generators([11, 12, 13, 14]), (4, 1), steps=20)
    again = sample_loop(eps_fn, diffusion, make_generators([11, 12, 13, 14]), (4, 1), steps=20)
    alone = sample_loop(eps_fn, diffusion, make_generators([13]), (1, 1), steps=20)
    other_batch = sample_loop(eps_fn, diffusion, make_generators([99, 13]), (2, 1), steps=20)
    assert torch.equal(batch, again)
    assert torch.equal(batch[2], alone[0]) and torch.equal(batch[2], other_batch[1])
    assert not torch.equal(batch[0], batch[1])


def test_unet_samples_do_not_depend_on_batch_composition(diffusion):
    torch.manual_seed(0)
    unet = UNetModel(8, 1, 32, 1, 1, attention_ds={2}, channel_mult=(1, 2)).eval()
    torch.nn.init.normal_(unet.out[-1].weight, std=0.1)  # the zero-initialised output would make eps = 0
    batch = sample_loop(unet, diffusion, make_generators([3, 4, 5, 6]), (4, 1, 8, 8), steps=5)
    alone = sample_loop(unet, diffusion, make_generators([5]), (1, 1, 8, 8), steps=5)
    # the noise is identical; only the convolutions' float rounding may differ with the batch size
    torch.testing.assert_close(batch[2], alone[0], atol=2e-3, rtol=1e-3)
    assert (batch[2] - batch[3]).abs().max() > 0.1


def test_randn_per_sample_rows_come_from_their_generator():
    rows = randn_per_sample(make_generators([7, 8]), (2, 3, 2), "cpu")
    torch.testing.assert_close(rows[1], torch.randn(3, 2, generator=torch.Generator().manual_seed(8)))
    with pytest.raises(AssertionError):
        randn_per_sample(make_generators([7]), (2, 3), "cpu")
