"""Reverse-process samplers: the paper's T-step ancestral sampler, respaced ancestral sampling, and DDIM.

Every random draw for sample i (its initial noise and each step's noise) comes from `generators[i]` alone, so a
sample depends only on its own seed, never on the batch it was generated in or on the batch size. The network is
reached only through `eps_fn(x_t, t) -> eps`, which always receives ORIGINAL timesteps (0..T-1), also when the
sampler runs on a respaced subset of them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from jointdiff.diffusion import EpsFn, GaussianDiffusion, extract, space_timesteps

METHODS = ("ancestral", "ddim")


def make_generators(seeds: Sequence[int], device: torch.device | str = "cpu") -> list[torch.Generator]:
    """One seeded torch.Generator per sample. CPU generators (the default) give the same noise on any device."""
    return [torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds]


def randn_per_sample(generators: Sequence[torch.Generator], shape: Sequence[int],
                     device: torch.device | str) -> Tensor:
    """[N, ...] standard normal noise whose row i is drawn from generators[i] only (on the generator's device,
    then moved to `device`)."""
    assert len(generators) == shape[0], f"{len(generators)} generators for a batch of {shape[0]}"
    rows = [torch.randn(tuple(shape[1:]), generator=g, device=g.device) for g in generators]
    return torch.stack(rows).to(device)


def ancestral_step(diffusion: GaussianDiffusion, x_t: Tensor, t: Tensor, eps: Tensor, noise: Tensor | None, *,
                   variance: str = "fixedlarge", clip_x0: bool = False) -> Tensor:
    """x_{t-1} = μ_θ(x_t, t) + σ_t z, with no noise at t = 0. t [N] indexes `diffusion`'s own steps;
    noise may be None only when every t is 0."""
    out = diffusion.p_mean_variance(eps, x_t, t, variance=variance, clip_x0=clip_x0)
    if noise is None:
        assert bool((t == 0).all()), "noise is needed for t > 0"
        return out["mean"]
    nonzero = (t != 0).to(x_t.dtype).reshape(-1, *([1] * (x_t.dim() - 1)))
    return out["mean"] + nonzero * torch.exp(0.5 * out["log_variance"]) * noise


def ddim_step(diffusion: GaussianDiffusion, x_t: Tensor, t: Tensor, eps: Tensor, noise: Tensor | None, *,
              eta: float = 0.0, clip_x0: bool = False) -> Tensor:
    """DDIM (Song et al. 2021, eq. 12): x_{t-1} = √ᾱ_{t-1} x̂_0 + √(1−ᾱ_{t-1}−σ²) ε̂ + σ z with
    σ_t = η √((1−ᾱ_{t-1})/(1−ᾱ_t)) √(1−ᾱ_t/ᾱ_{t-1}), which is 0 at t = 0; η = 1 is ancestral sampling with the
    fixed-small variance. noise may be None when η = 0 or every t is 0."""
    pred_x0 = diffusion.predict_x0_from_eps(x_t, t, eps)
    if clip_x0:
        pred_x0 = pred_x0.clamp(-1.0, 1.0)
        eps = diffusion.predict_eps_from_x0(x_t, t, pred_x0)
    abar, abar_prev = diffusion.alphas_cumprod, diffusion.alphas_cumprod_prev  # [T] float64
    sigma = eta * ((1 - abar_prev) / (1 - abar) * (1 - abar / abar_prev)).sqrt()
    eps_coef = (1 - abar_prev - sigma ** 2).clamp(min=0).sqrt()
    mean = extract(abar_prev.sqrt(), t, x_t) * pred_x0 + extract(eps_coef, t, x_t) * eps
    if noise is None:
        assert eta == 0 or bool((t == 0).all()), "noise is needed for eta > 0 and t > 0"
        return mean
    return mean + extract(sigma, t, x_t) * noise


def sampling_diffusion(diffusion: GaussianDiffusion, steps: int | None, t_start: int | None) -> GaussianDiffusion:
    """The diffusion a sampler walks: all steps 0..t_start (default T-1), or `steps` of them evenly spaced."""
    last = diffusion.num_timesteps - 1 if t_start is None else t_start
    if not 1 <= last < diffusion.num_timesteps:
        raise ValueError(f"t_start must be in [1, {diffusion.num_timesteps - 1}], got {t_start}")
    if steps is None and last == diffusion.num_timesteps - 1:
        return diffusion
    return diffusion.respaced(range(last + 1) if steps is None else space_timesteps(last + 1, steps))


@torch.no_grad()
def sample_loop(eps_fn: EpsFn, diffusion: GaussianDiffusion, generators: Sequence[torch.Generator],
                shape: Sequence[int], *, steps: int | None = None, method: str = "ancestral", eta: float = 0.0,
                variance: str = "fixedlarge", clip_x0: bool = False, x_start: Tensor | None = None,
                t_start: int | None = None, progress: bool = False, device: torch.device | str = "cpu") -> Tensor:
    """Run the reverse process and return x_0 ([N, ...] = shape).

    :param eps_fn: (x_t [N, ...], t [N] long ORIGINAL timesteps) -> eps [N, ...]. Called under no_grad; a
        guided eps_fn wraps its gradient part in torch.enable_grad().
    :param generators: one per sample; all of sample i's noise comes from generators[i].
    :param steps: None = every timestep (the paper's T-step sampler); k = k respaced steps.
    :param method: "ancestral" (with `variance`, fixed-large in the paper) or "ddim" (with `eta`).
    :param x_start, t_start: start from this x at original timestep t_start instead of pure noise at T-1
        (counterfactuals); the steps are then spaced over 0..t_start.
    :param device: where x lives when it starts from noise (x_start's device otherwise).
    """
    if method not in METHODS:
        raise ValueError(f"unknown sampling method {method!r}; valid: {', '.join(METHODS)}")
    if (x_start is None) != (t_start is None):
        raise ValueError("x_start and t_start go together")
    spaced = sampling_diffusion(diffusion, steps, t_start)
    if x_start is None:
        x = randn_per_sample(generators, shape, device)
    else:
        assert tuple(x_start.shape) == tuple(shape), f"x_start {tuple(x_start.shape)} != shape {tuple(shape)}"
        x = x_start
    indices = range(spaced.num_timesteps - 1, -1, -1)
    if progress:
        from tqdm.auto import tqdm
        indices = tqdm(indices, desc=f"{method} sampling")
    for i in indices:
        t = torch.full((shape[0],), i, dtype=torch.long, device=x.device)
        eps = eps_fn(x, spaced.timestep_map.to(x.device)[t])
        needs_noise = i > 0 and (method == "ancestral" or eta > 0)
        noise = randn_per_sample(generators, shape, x.device) if needs_noise else None
        if method == "ancestral":
            x = ancestral_step(spaced, x, t, eps, noise, variance=variance, clip_x0=clip_x0)
        else:
            x = ddim_step(spaced, x, t, eps, noise, eta=eta, clip_x0=clip_x0)
    return x
