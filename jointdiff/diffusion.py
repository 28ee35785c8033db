"""The Gaussian diffusion process and the samplers that walk it backwards.

The maths (beta schedules, q(x_t | x_0), the posterior, p(x_{t-1} | x_t), L_diff) uses guided-diffusion's names,
so that each line can be read against Ho et al. (2020) and Nichol & Dhariwal (2021). Schedule quantities are kept
in float64 and cast to the input's dtype when extracted; `diffusion.to(device)` puts them where the model runs, so
that no step copies them from the host. Timesteps t are 0-based: t = 0 is the first noising
step, x_0 the data.

Respacing (fewer sampling steps) reuses the same maths: `GaussianDiffusion.respaced(timesteps)` returns a
diffusion over a subset of the original timesteps whose betas are recomputed so that its ᾱ equal the originals
at those timesteps, and whose `timestep_map[i]` is the original timestep of its step i (what the network sees).

Samplers (the paper's T-step ancestral sampler, respaced ancestral sampling, DDIM) reach the network only through
`eps_fn(x_t, t) -> eps` (and, for classic classifier guidance, `cond_fn(x_t, t) -> s ∇ log p(y | x_t, t)`), which
always receive ORIGINAL timesteps (0..T-1), also on a respaced subset. Every
random draw for sample i (its initial noise and each step's noise) comes from `generators[i]` alone, so a sample
depends only on its own seed, never on the batch it was generated in or on the batch size.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from typing import Protocol

import torch
from torch import Tensor

from jointdiff.choices import NOISE_SCHEDULES, SAMPLERS, VARIANCES
from jointdiff.gpu.transfer import host_to_device

EpsFn = Callable[[Tensor, Tensor], Tensor]
# Classic classifier guidance (Dhariwal & Nichol 2021): (x_t, t ORIGINAL timesteps) -> s ∇_{x_t} log p(y | x_t, t)
CondFn = Callable[[Tensor, Tensor], Tensor]


def make_beta_schedule(name: str, num_timesteps: int) -> Tensor:
    """The [T] float64 betas of a named schedule.

    linear: the authors' fork, which the paper's models were trained with: β from 1e-3·s to 0.02·s, s = 1000/T
        (for T < 10 the fork takes s = 100/T and starts at 0.01·s, keeping every β below 1).
    linear_upstream: guided-diffusion's and Ho et al.'s 1e-4·s to 0.02·s. At T = 1000 the fork's start triples
        the noise std at t = 0 (√(1−ᾱ_0) 0.032 instead of 0.010).
    cosine: Nichol & Dhariwal's ᾱ(s) = cos²((s + 0.008)/1.008 · π/2), betas capped at 0.999.
    """
    if name == "linear":
        scale, first = (1000.0 / num_timesteps, 1e-3) if num_timesteps >= 10 else (100.0 / num_timesteps, 1e-2)
        return torch.linspace(first * scale, 0.02 * scale, num_timesteps, dtype=torch.float64)
    if name == "linear_upstream":
        scale = 1000.0 / num_timesteps
        return torch.linspace(1e-4 * scale, 0.02 * scale, num_timesteps, dtype=torch.float64)
    if name == "cosine":
        def alpha_bar(s: float) -> float:
            return math.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2
        betas = [min(1.0 - alpha_bar((i + 1) / num_timesteps) / alpha_bar(i / num_timesteps), 0.999)
                 for i in range(num_timesteps)]
        return torch.tensor(betas, dtype=torch.float64)
    raise ValueError(f"unknown beta schedule {name!r}; valid: {', '.join(NOISE_SCHEDULES)}")


def space_timesteps(num_timesteps: int, count: int) -> list[int]:
    """`count` original timesteps evenly spread over 0..num_timesteps-1, both ends included (guided-diffusion's
    single-section `space_timesteps`)."""
    if not 2 <= count <= num_timesteps:
        raise ValueError(f"steps must be in [2, {num_timesteps}], got {count}")
    stride = (num_timesteps - 1) / (count - 1)
    return [round(i * stride) for i in range(count)]


def extract(values: Tensor, t: Tensor, like: Tensor) -> Tensor:
    """values[t] as a [N, 1, ..., 1] tensor that broadcasts against `like` ([N, ...]), in like's dtype.
    (`values` is copied to t's device only if it lives elsewhere: a diffusion moved there copies nothing.)"""
    out = values.to(t.device)[t].to(like.dtype)
    return out.reshape(-1, *([1] * (like.dim() - 1)))


class GaussianDiffusion:
    """The forward process q and the fixed-variance reverse process p of an ε-prediction model.

    :param betas: [T] noise variances β_t (T >= 2).
    :param timestep_map: [T] original timestep of each step; identity unless this is a respaced diffusion.
    """

    def __init__(self, betas: Tensor, timestep_map: Tensor | None = None) -> None:
        betas = torch.as_tensor(betas, dtype=torch.float64)
        assert betas.dim() == 1 and betas.numel() >= 2, "betas must be 1-D with at least 2 steps"
        assert bool((betas > 0).all() and (betas <= 1).all()), "betas must lie in (0, 1]"
        self.num_timesteps = betas.numel()
        self.timestep_map = (torch.arange(self.num_timesteps) if timestep_map is None
                             else torch.as_tensor(timestep_map, dtype=torch.long))
        assert self.timestep_map.shape == betas.shape
        self.betas = betas

        alphas = 1.0 - betas
        self.alphas_cumprod = torch.cumprod(alphas, dim=0)
        self.alphas_cumprod_prev = torch.cat([betas.new_ones(1), self.alphas_cumprod[:-1]])
        # q(x_t | x_0)
        self.sqrt_alphas_cumprod = self.alphas_cumprod.sqrt()
        self.sqrt_one_minus_alphas_cumprod = (1.0 - self.alphas_cumprod).sqrt()
        self.sqrt_recip_alphas_cumprod = (1.0 / self.alphas_cumprod).sqrt()
        self.sqrt_recipm1_alphas_cumprod = (1.0 / self.alphas_cumprod - 1.0).sqrt()
        # q(x_{t-1} | x_t, x_0); its variance is 0 at t = 0, so the log is clipped to the t = 1 value there
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        self.posterior_log_variance_clipped = torch.log(
            torch.cat([self.posterior_variance[1:2], self.posterior_variance[1:]]))
        self.posterior_mean_coef1 = betas * self.alphas_cumprod_prev.sqrt() / (1.0 - self.alphas_cumprod)
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * alphas.sqrt() / (1.0 - self.alphas_cumprod)
        # p(x_{t-1} | x_t) variances: fixed-large σ²_t = β_t, except σ²_0 = posterior variance at t = 1
        # (a better decoder likelihood, as in guided-diffusion); fixed-small σ²_t = posterior variance
        fixed_large = torch.cat([self.posterior_variance[1:2], betas[1:]])
        self.model_variance = {"fixedlarge": fixed_large, "fixedsmall": self.posterior_variance}
        self.model_log_variance = {"fixedlarge": fixed_large.log(),
                                   "fixedsmall": self.posterior_log_variance_clipped}

    @property
    def device(self) -> torch.device:
        return self.betas.device

    def to(self, device: torch.device | str) -> GaussianDiffusion:
        """This diffusion with every schedule tensor on `device` (itself when they are there already)."""
        device = torch.device(device)
        if self.device == device:
            return self
        moved = copy.copy(self)
        for name, value in vars(self).items():
            if isinstance(value, Tensor):
                setattr(moved, name, value.to(device))
            elif isinstance(value, dict):
                setattr(moved, name, {k: v.to(device) for k, v in value.items()})
        return moved

    # --- forward process -------------------------------------------------------------------------------
    def q_sample(self, x0: Tensor, t: Tensor, noise: Tensor) -> Tensor:
        """x_t = √ᾱ_t x_0 + √(1−ᾱ_t) ε: a draw of q(x_t | x_0). x0, noise [N, ...]; t [N] long."""
        assert noise.shape == x0.shape
        return (extract(self.sqrt_alphas_cumprod, t, x0) * x0
                + extract(self.sqrt_one_minus_alphas_cumprod, t, x0) * noise)

    def q_posterior_mean_variance(self, x0: Tensor, x_t: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Mean, variance and clipped log-variance of q(x_{t-1} | x_t, x_0); each broadcastable to x_t's shape."""
        assert x0.shape == x_t.shape
        mean = extract(self.posterior_mean_coef1, t, x_t) * x0 + extract(self.posterior_mean_coef2, t, x_t) * x_t
        return (mean, extract(self.posterior_variance, t, x_t),
                extract(self.posterior_log_variance_clipped, t, x_t))

    # --- reverse process -------------------------------------------------------------------------------
    def predict_x0_from_eps(self, x_t: Tensor, t: Tensor, eps: Tensor) -> Tensor:
        """x̂_0 = (x_t − √(1−ᾱ_t) ε) / √ᾱ_t, the data estimate implied by a noise prediction."""
        assert x_t.shape == eps.shape
        return extract(self.sqrt_recip_alphas_cumprod, t, x_t) * x_t - extract(
            self.sqrt_recipm1_alphas_cumprod, t, x_t) * eps

    def predict_eps_from_x0(self, x_t: Tensor, t: Tensor, x0: Tensor) -> Tensor:
        """The inverse of `predict_x0_from_eps` (DDIM re-derives ε after x̂_0 was clipped)."""
        return (extract(self.sqrt_recip_alphas_cumprod, t, x_t) * x_t - x0) / extract(
            self.sqrt_recipm1_alphas_cumprod, t, x_t)

    def p_mean_variance(self, eps: Tensor, x_t: Tensor, t: Tensor, variance: str = "fixedlarge",
                        clip_x0: bool = False) -> dict[str, Tensor]:
        """p(x_{t-1} | x_t) from a noise prediction.

        :param eps: [N, ...] predicted ε for x_t.
        :param variance: "fixedlarge" (the paper's) or "fixedsmall".
        :param clip_x0: clamp x̂_0 to [-1, 1] before taking the posterior mean (off in the paper's runs).
        :return: mean [N, ...], variance and log_variance [N, 1, ...], pred_x0 [N, ...].
        """
        if variance not in VARIANCES:
            raise ValueError(f"unknown variance {variance!r}; valid: {', '.join(VARIANCES)}")
        pred_x0 = self.predict_x0_from_eps(x_t, t, eps)
        if clip_x0:
            pred_x0 = pred_x0.clamp(-1.0, 1.0)
        mean, _, _ = self.q_posterior_mean_variance(pred_x0, x_t, t)
        return {"mean": mean, "variance": extract(self.model_variance[variance], t, x_t),
                "log_variance": extract(self.model_log_variance[variance], t, x_t), "pred_x0": pred_x0}

    # --- training --------------------------------------------------------------------------------------
    def sample_timesteps(self, n: int, device: torch.device | str, generator: torch.Generator | None = None
                         ) -> Tensor:
        """[n] timesteps drawn uniformly from 0..T-1 (the paper's `schedule_sampler uniform`)."""
        return torch.randint(0, self.num_timesteps, (n,), device=device, generator=generator)

    def diffusion_loss(self, eps_fn: EpsFn, x0: Tensor, t: Tensor | None = None, noise: Tensor | None = None
                       ) -> Tensor:
        """L_diff = mean over batch and pixels of ‖ε − ε_θ(x_t, t)‖² (a scalar).

        t defaults to uniform timesteps and noise to N(0, I) from the global RNG; pass both to reuse x_t.
        """
        if t is None:
            t = self.sample_timesteps(x0.shape[0], x0.device)
        if noise is None:
            noise = torch.randn_like(x0)
        eps = eps_fn(self.q_sample(x0, t, noise), t)
        assert eps.shape == noise.shape, f"eps_fn returned {tuple(eps.shape)} for x of {tuple(noise.shape)}"
        return (noise - eps).square().mean()

    # --- respacing -------------------------------------------------------------------------------------
    def respaced(self, timesteps: Sequence[int]) -> GaussianDiffusion:
        """A diffusion over a subset of this one's steps (sorted, unique, at least 2).

        Its betas are β'_i = 1 − ᾱ_{t_i} / ᾱ_{t_{i-1}} (ᾱ before the first kept step is 1), so its ᾱ'_i equals
        this ᾱ_{t_i}; its timestep_map[i] is the original timestep of t_i, what the network must be given.
        """
        kept = sorted(set(int(s) for s in timesteps))
        assert len(kept) >= 2 and kept[0] >= 0 and kept[-1] < self.num_timesteps, f"bad timesteps {kept[:5]}..."
        alphas_cumprod = self.alphas_cumprod[kept]
        previous = torch.cat([alphas_cumprod.new_ones(1), alphas_cumprod[:-1]])
        return GaussianDiffusion(1.0 - alphas_cumprod / previous, timestep_map=self.timestep_map[kept])


class DiffusionSettings(Protocol):
    """What decides a diffusion: an ExperimentConfig, or the same two flags of `jointdiff noised-classifier`."""

    noise_schedule: str
    diffusion_steps: int


def build_diffusion(settings: DiffusionSettings) -> GaussianDiffusion:
    """The experiment's diffusion: `noise_schedule` betas over `diffusion_steps` timesteps."""
    return GaussianDiffusion(make_beta_schedule(settings.noise_schedule, settings.diffusion_steps))


# --- samplers ---------------------------------------------------------------------------------------------
def make_generators(seeds: Sequence[int], device: torch.device | str = "cpu") -> list[torch.Generator]:
    """One seeded torch.Generator per sample. CPU generators (the default) give the same noise on any device."""
    return [torch.Generator(device=device).manual_seed(int(seed)) for seed in seeds]


def randn_per_sample(generators: Sequence[torch.Generator], shape: Sequence[int],
                     device: torch.device | str) -> Tensor:
    """[N, ...] standard normal noise whose row i is drawn from generators[i] only (on the generator's device,
    then moved to `device`).

    With CPU generators a sample's noise is the same on any device; the rows reach a GPU through pinned memory
    without making the host wait, so the host draws the next step's noise while the GPU runs this one."""
    assert len(generators) == shape[0], f"{len(generators)} generators for a batch of {shape[0]}"
    rows = [torch.randn(tuple(shape[1:]), generator=g, device=g.device) for g in generators]
    return host_to_device(torch.stack(rows), device)


def ancestral_step(diffusion: GaussianDiffusion, x_t: Tensor, t: Tensor, eps: Tensor, noise: Tensor | None, *,
                   variance: str = "fixedlarge", clip_x0: bool = False, mean_shift: Tensor | None = None) -> Tensor:
    """x_{t-1} = μ_θ(x_t, t) + σ_t z, with no noise at t = 0. t [N] indexes `diffusion`'s own steps;
    noise may be None only when every t is 0.

    mean_shift: g = s ∇ log p(y | x_t, t) of classic guidance, added as μ + σ²_t g (guided-diffusion's
    `condition_mean`: after x̂_0 is clipped, with this diffusion's own σ²_t, so respaced steps use theirs).
    """
    out = diffusion.p_mean_variance(eps, x_t, t, variance=variance, clip_x0=clip_x0)
    mean = out["mean"] if mean_shift is None else out["mean"] + out["variance"] * mean_shift
    if noise is None:
        assert bool((t == 0).all()), "noise is needed for t > 0"
        return mean
    nonzero = (t != 0).to(x_t.dtype).reshape(-1, *([1] * (x_t.dim() - 1)))
    return mean + nonzero * torch.exp(0.5 * out["log_variance"]) * noise


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
                shape: Sequence[int], *, steps: int | None = None, sampler: str = "ancestral", eta: float = 0.0,
                variance: str = "fixedlarge", clip_x0: bool = False, x_start: Tensor | None = None,
                t_start: int | None = None, device: torch.device | str = "cpu",
                cond_fn: CondFn | None = None) -> Tensor:
    """Run the reverse process and return x_0 ([N, ...] = shape).

    :param eps_fn: (x_t [N, ...], t [N] long ORIGINAL timesteps) -> eps [N, ...]. Called under no_grad; a
        guided eps_fn wraps its gradient part in torch.enable_grad().
    :param cond_fn: classic classifier guidance, g = s ∇ log p(y | x_t, t) at ORIGINAL timesteps (Dhariwal &
        Nichol): the ancestral sampler moves its mean, μ + σ²_t g; DDIM its noise estimate, ε − √(1−ᾱ_t) g
        (their eq. 14), before x̂_0 is formed and clipped.
    :param generators: one per sample; all of sample i's noise comes from generators[i].
    :param steps: None = every timestep (the paper's T-step sampler); k = k respaced steps.
    :param sampler: "ancestral" (with `variance`, fixed-large in the paper) or "ddim" (with `eta`).
    :param x_start, t_start: start from this x at original timestep t_start instead of pure noise at T-1
        (counterfactuals); the steps are then spaced over 0..t_start.
    :param device: where x lives when it starts from noise (x_start's device otherwise).
    """
    if sampler not in SAMPLERS:
        raise ValueError(f"unknown sampler {sampler!r}; valid: {', '.join(SAMPLERS)}")
    if (x_start is None) != (t_start is None):
        raise ValueError("x_start and t_start go together")
    if x_start is None:
        x = randn_per_sample(generators, shape, device)
    else:
        assert tuple(x_start.shape) == tuple(shape), f"x_start {tuple(x_start.shape)} != shape {tuple(shape)}"
        x = x_start
    spaced = sampling_diffusion(diffusion, steps, t_start).to(x.device)
    for i in range(spaced.num_timesteps - 1, -1, -1):
        t = torch.full((shape[0],), i, dtype=torch.long, device=x.device)
        original_t = spaced.timestep_map[t]
        eps = eps_fn(x, original_t)
        shift = None if cond_fn is None else cond_fn(x, original_t)
        needs_noise = i > 0 and (sampler == "ancestral" or eta > 0)
        noise = randn_per_sample(generators, shape, x.device) if needs_noise else None
        if sampler == "ancestral":
            x = ancestral_step(spaced, x, t, eps, noise, variance=variance, clip_x0=clip_x0, mean_shift=shift)
        else:
            if shift is not None:
                eps = eps - extract(spaced.sqrt_one_minus_alphas_cumprod, t, x) * shift
            x = ddim_step(spaced, x, t, eps, noise, eta=eta, clip_x0=clip_x0)
    return x
