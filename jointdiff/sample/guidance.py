"""Classifier guidance with the joint model's own head: the paper's representation shift and two x-space variants.
(Classic guidance by a separately trained noised classifier, the paper's baseline, is `classic_guidance.py`.)

"representation" (the paper's `sampling_lr` α, as the authors' sampling script does it): at each reverse step the
encoder runs once on x_t as one autograd graph; the head's cross-entropy toward the target, L, is differentiated
with respect to the middle output h and every encoder activation hs_k. These are TOTAL derivatives — hs_k also feeds
the later encoder blocks and the middle block, so its gradient carries those paths and differs from pixel to
pixel. Every activation moves by its gradient at once, h ← h + α ∂L/∂h, hs_k ← hs_k + α ∂L/∂hs_k (the authors' sign),
and the decoder runs on the shifted activations; the encoder is not re-run. The sign is judged on the samples, not
on the head's loss: the decoder predicts the noise, which the sampler subtracts, so moving the activations UP the
loss moves the samples toward the target (measured on the digits demo; descending drives them away from it).

The x-space variants (ours) turn a gradient with respect to x_t into classifier guidance in ε form (Dhariwal &
Nichol 2021, eq. 14, with s = α): ε̃ = ε̂ + α √(1−ᾱ_t) ∇_{x_t} L.
- "x0": L is the head's loss on the denoiser's own clean estimate x̂_0(x_t), read at t = 0 — where the head
  was trained — and differentiated through the whole UNet back to x_t.
- "input": L is the head's loss on the encoder's activations of x_t itself (classic guidance, with the shared
  encoder as the noisy classifier). It needs a head that has seen noised inputs to be reliable.

Options every method reads from `SamplingSettings`: the timestep fed to the head (head_t "zero": the t = 0 it was
trained at, or "t"; x0 always reads its clean estimate at 0), guiding only the later steps
(t < guide_until · T), and normalising the gradient to unit RMS per sample (normalize_grad).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from jointdiff.choices import CLASSIC_GUIDANCE, GUIDANCE_METHODS
from jointdiff.diffusion import EpsFn, GaussianDiffusion, extract
from jointdiff.model import JointDiffusionModel, head_timesteps
from jointdiff.sample.settings import SamplingSettings
from jointdiff.unet import Encoding


def target_loss(logits: Tensor, targets: Tensor, multi_label: bool) -> Tensor:
    """Summed over the batch, so each sample's gradient is its own (CE for classes, BCE for attributes)."""
    if multi_label:
        return F.binary_cross_entropy_with_logits(logits, targets.float(), reduction="sum")
    return F.cross_entropy(logits, targets, reduction="sum")


def unit_rms(g: Tensor) -> Tensor:
    """g scaled to root-mean-square 1 per sample."""
    return g / g.flatten(1).pow(2).mean(1).sqrt().clamp(min=1e-12).view(-1, *[1] * (g.dim() - 1))


REPRESENTATION_SIGN = 1.0  # the authors' h ← h + α ∂L/∂h (tests flip it to check that the samples then move away)


def shift_toward_target(model: JointDiffusionModel, x_t: Tensor, t: Tensor, targets: Tensor,
                        settings: SamplingSettings, multi_label: bool) -> Encoding:
    """The encoding of x_t with h and every hs_k moved by α times the total derivative of the head's loss."""
    with torch.enable_grad():
        # x_t joins the graph so that every activation does, also when the weights are frozen; its own gradient
        # is never computed.
        enc = model.unet.encode(x_t.detach().requires_grad_(True), t)
        acts = [enc.h, *enc.hs]
        logits = model.head(enc.h, enc.hs, head_timesteps(t, settings.head_t))
        grads = torch.autograd.grad(target_loss(logits, targets, multi_label), acts)
    if settings.normalize_grad:
        grads = [unit_rms(g) for g in grads]
    shifted = [a.detach() + REPRESENTATION_SIGN * settings.alpha * g for a, g in zip(acts, grads)]
    return Encoding(shifted[0], shifted[1:], enc.emb.detach())


def representation_eps(model: JointDiffusionModel, diffusion: GaussianDiffusion, x_t: Tensor, t: Tensor,
                       targets: Tensor, settings: SamplingSettings, multi_label: bool) -> Tensor:
    """The paper's guidance: decode the encoding of x_t shifted toward the target."""
    return model.unet.decode(shift_toward_target(model, x_t, t, targets, settings, multi_label))


def x_space_guided(eps: Tensor, grad: Tensor, diffusion: GaussianDiffusion, t: Tensor,
                   settings: SamplingSettings) -> Tensor:
    """ε̃ = ε̂ + α √(1−ᾱ_t) ∇_{x_t} L."""
    if settings.normalize_grad:
        grad = unit_rms(grad)
    return eps.detach() + settings.alpha * extract(diffusion.sqrt_one_minus_alphas_cumprod, t, grad) * grad


def x0_eps(model: JointDiffusionModel, diffusion: GaussianDiffusion, x_t: Tensor, t: Tensor, targets: Tensor,
           settings: SamplingSettings, multi_label: bool) -> Tensor:
    """Ours: L is the head's loss on x̂_0(x_t) at t = 0, differentiated through the whole UNet to x_t."""
    with torch.enable_grad():
        x = x_t.detach().requires_grad_(True)
        eps = model(x, t)
        logits = model.classify(diffusion.predict_x0_from_eps(x, t, eps), torch.zeros_like(t))
        grad, = torch.autograd.grad(target_loss(logits, targets, multi_label), x)
    return x_space_guided(eps, grad, diffusion, t, settings)


def input_eps(model: JointDiffusionModel, diffusion: GaussianDiffusion, x_t: Tensor, t: Tensor, targets: Tensor,
              settings: SamplingSettings, multi_label: bool) -> Tensor:
    """Ours: L is the head's loss on the encoding of x_t itself; the same encoder pass feeds the denoiser."""
    with torch.enable_grad():
        x = x_t.detach().requires_grad_(True)
        enc = model.unet.encode(x, t)
        logits = model.head(enc.h, enc.hs, head_timesteps(t, settings.head_t))
        grad, = torch.autograd.grad(target_loss(logits, targets, multi_label), x)
    with torch.no_grad():
        eps = model.unet.decode(enc)
    return x_space_guided(eps, grad, diffusion, t, settings)


GuidedEps = Callable[[JointDiffusionModel, GaussianDiffusion, Tensor, Tensor, Tensor, SamplingSettings, bool], Tensor]
# The guidance methods by name: (model, diffusion, x_t, t, targets, settings, multi_label) -> guided ε.
GUIDANCE: dict[str, GuidedEps] = {"representation": representation_eps, "x0": x0_eps, "input": input_eps}
assert (*GUIDANCE, CLASSIC_GUIDANCE) == GUIDANCE_METHODS, (
    "every guidance method in jointdiff.choices has a function here, except classic guidance by a separate noised "
    "classifier, which moves the sampler's mean (classic_guidance.py)")


def guided_eps_fn(model: JointDiffusionModel, diffusion: GaussianDiffusion, targets: Tensor,
                  settings: SamplingSettings, multi_label: bool = False) -> EpsFn:
    """eps_fn(x_t, t) for `diffusion.sample_loop` that steers every sample toward targets[i] with
    settings.guidance.

    diffusion: the model's full (not respaced) diffusion; t are its timesteps.
    targets: [N] class indices, or [N, K] 0/1 attribute vectors (multi_label).
    The head runs in eval mode (BatchNorm running statistics, no dropout), as at test time.
    """
    assert model.head is not None, "guided sampling needs a model trained with the classifier head"
    model.eval()
    cutoff = settings.guide_until * diffusion.num_timesteps
    guided = GUIDANCE[settings.guidance]

    def eps_fn(x_t: Tensor, t: Tensor) -> Tensor:
        if settings.alpha == 0 or float(t[0]) >= cutoff:
            return model(x_t, t)
        return guided(model, diffusion, x_t, t, targets, settings, multi_label)

    return eps_fn
