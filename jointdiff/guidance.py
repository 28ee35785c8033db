"""Classifier guidance with the joint model's own head: the paper's representation shift and two x-space variants.

"representation" (the paper's `sampling_lr` α, METHOD.md §4): at each reverse step the encoder runs once on x_t;
the head's loss toward the target is differentiated with respect to the encoder's activations (the middle output
h and every skip activation hs_k), those are shifted DOWN the gradient, h ← h − α ∂L/∂h, hs_k ← hs_k − α ∂L/∂hs_k,
and the decoder runs on the shifted activations. The authors' script added +α∇L, which moves away from the target;
we descend (the paper's intent), and the tests prove the sign.

Measured on the digits demo (issue 5): the representation shift does not steer (10% of samples on target at any α,
with or without the options below) — the head average-pools every activation, so ∂L/∂hs_k is the same at every
pixel and the shift is a per-channel offset that cannot draw a digit. The x-space variants steer, because their
gradient has spatial structure; both turn the gradient into classifier guidance in ε form (Dhariwal & Nichol 2021,
eq. 14, with s = α): ε̃ = ε̂ + α √(1−ᾱ_t) ∇_{x_t} L.
- "x0" (ours): L is the head's loss on the denoiser's own clean estimate x̂_0(x_t), read at t = 0 — where the head
  was trained — and differentiated through the whole UNet back to x_t.
- "input": L is the head's loss on the encoder's activations of x_t itself (classic guidance, with the shared
  encoder as the noisy classifier). It needs a head that has seen noised inputs to be reliable.

Options the method leaves open: the timestep fed to the head ("zero": the t = 0 it was trained at, or "t"; the x0
variant always reads its clean estimate at 0), guiding only the later steps (t < guide_until · T), and normalising
the gradient to unit RMS per sample.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from jointdiff.diffusion import EpsFn, GaussianDiffusion, extract
from jointdiff.model import HEAD_T_CHOICES, JointDiffusionModel, head_timesteps
from jointdiff.unet import Encoding

METHODS = ("representation", "x0", "input")


@dataclass(frozen=True)
class GuidanceSettings:
    alpha: float                    # step size α (sampling_lr, or the guidance scale of the x-space variants); 0 = off
    method: str = "representation"  # one of METHODS
    head_t: str = "zero"            # timestep the head sees: "zero" (as trained, t = 0) or "t" (the real t)
    guide_until: float = 1.0        # guide only while t < guide_until · T (1.0 = every step)
    normalize: bool = False         # scale each gradient to unit RMS per sample

    def __post_init__(self) -> None:
        assert self.method in METHODS, f"method must be one of {METHODS}"
        assert self.head_t in HEAD_T_CHOICES, f"head_t must be one of {HEAD_T_CHOICES}"
        assert self.alpha >= 0 and 0 < self.guide_until <= 1


def target_loss(logits: Tensor, targets: Tensor, multi_label: bool) -> Tensor:
    """Summed over the batch, so each sample's gradient is its own (CE for classes, BCE for attributes)."""
    if multi_label:
        return F.binary_cross_entropy_with_logits(logits, targets.float(), reduction="sum")
    return F.cross_entropy(logits, targets, reduction="sum")


def unit_rms(g: Tensor) -> Tensor:
    """g scaled to root-mean-square 1 per sample."""
    return g / g.flatten(1).pow(2).mean(1).sqrt().clamp(min=1e-12).view(-1, *[1] * (g.dim() - 1))


def shift_toward_target(model: JointDiffusionModel, enc: Encoding, t: Tensor, targets: Tensor,
                        settings: GuidanceSettings, multi_label: bool) -> Encoding:
    """enc with h and every hs_k moved by −α ∂L/∂(activation) (the encoder is not re-run)."""
    assert model.head is not None, "guided sampling needs a model trained with the classifier head"
    with torch.enable_grad():
        acts = [a.detach().requires_grad_(True) for a in (enc.h, *enc.hs)]
        logits = model.head(acts[0], acts[1:], head_timesteps(t, settings.head_t))
        grads = torch.autograd.grad(target_loss(logits, targets, multi_label), acts)
    if settings.normalize:
        grads = [unit_rms(g) for g in grads]
    shifted = [a.detach() - settings.alpha * g for a, g in zip(acts, grads)]
    return Encoding(shifted[0], shifted[1:], enc.emb)


def x_space_guided_eps(model: JointDiffusionModel, diffusion: GaussianDiffusion, x_t: Tensor, t: Tensor,
                       targets: Tensor, settings: GuidanceSettings, multi_label: bool) -> Tensor:
    """ε̃ = ε̂ + α √(1−ᾱ_t) ∇_{x_t} L, with L read on x̂_0 ("x0") or on x_t itself ("input")."""
    assert model.head is not None, "guided sampling needs a model trained with the classifier head"
    with torch.enable_grad():
        x = x_t.detach().requires_grad_(True)
        if settings.method == "x0":
            eps = model(x, t)
            x0 = diffusion.predict_x0_from_eps(x, t, eps)
            logits = model.classify(x0, torch.zeros_like(t))
        else:
            enc = model.unet.encode(x, t)
            logits = model.head(enc.h, enc.hs, head_timesteps(t, settings.head_t))
        grad, = torch.autograd.grad(target_loss(logits, targets, multi_label), x)
    if settings.method == "input":
        with torch.no_grad():
            eps = model.unet.decode(enc)  # the same encoder pass feeds the denoiser
    if settings.normalize:
        grad = unit_rms(grad)
    return eps.detach() + settings.alpha * extract(diffusion.sqrt_one_minus_alphas_cumprod, t, x_t) * grad


def guided_eps_fn(model: JointDiffusionModel, diffusion: GaussianDiffusion, targets: Tensor,
                  settings: GuidanceSettings, multi_label: bool = False) -> EpsFn:
    """eps_fn(x_t, t) for `samplers.sample_loop` that steers every sample toward targets[i].

    diffusion: the model's full (not respaced) diffusion; t are its timesteps.
    targets: [N] class indices, or [N, K] 0/1 attribute vectors (multi_label).
    The head runs in eval mode (BatchNorm running statistics, no dropout), as at test time.
    """
    model.eval()
    cutoff = settings.guide_until * diffusion.num_timesteps

    def eps_fn(x_t: Tensor, t: Tensor) -> Tensor:
        if settings.alpha == 0 or float(t[0]) >= cutoff:
            return model(x_t, t)
        if settings.method != "representation":
            return x_space_guided_eps(model, diffusion, x_t, t, targets, settings, multi_label)
        enc = shift_toward_target(model, model.unet.encode(x_t, t), t, targets, settings, multi_label)
        return model.unet.decode(enc)

    return eps_fn
