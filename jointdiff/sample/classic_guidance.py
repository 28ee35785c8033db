"""Classic classifier guidance (Dhariwal & Nichol 2021; the authors' `classifier_sample.py`), the paper's baseline
for conditional generation: a noised classifier p(y | x_t, t), trained apart from the diffusion model
(`jointdiff noised-classifier`), steers the reverse process through its mean,

    μ' = μ + σ²_t · s ∇_{x_t} log p(y | x_t, t),

with s the classifier scale (`--alpha`; the authors' default 1). The sampler adds the shift after x̂_0 is clipped,
with the variance of the step it takes (`diffusion.sample_loop`'s cond_fn; DDIM takes D&N's eq. 14 instead). In
ε form the shift is ε̃ = ε̂ − √(1−ᾱ_t) s ∇ log p only up to a factor 1/√α_t of the mean shift (the ancestral mean
moves by β_t/√α_t per unit of ε), and not at all where clipping x̂_0 cuts it off; hence the mean. log p is
−cross-entropy, or −BCE over attributes (the authors' attribute branch added +∇BCE, moving away from the target).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from jointdiff.config import ExperimentConfig
from jointdiff.diffusion import CondFn
from jointdiff.errors import UserError
from jointdiff.noised_classifier.network import NoisedClassifier, load_noised_classifier
from jointdiff.sample.guidance import target_loss, unit_rms
from jointdiff.sample.settings import SamplingSettings

CLASSIC_SIGN = 1.0  # +s ∇ log p, toward the target (tests flip it to check that the samples then move away)


@lru_cache(maxsize=2)
def cached_noised_classifier(path: str, device: str) -> tuple[NoisedClassifier, dict[str, Any]]:
    """The classifier of `path` on `device`, read once per process (every seed batch reuses it)."""
    return load_noised_classifier(path, device)


def check_noised_classifier(info: dict[str, Any], cfg: ExperimentConfig, path: str | Path) -> None:
    """UserError naming the file unless the classifier reads the model's images on the model's diffusion."""
    expected = {"image_size": cfg.resolved_image_size(), "channels": cfg.resolved_channels(),
                "num_classes": cfg.resolved_num_classes(), "multi_label": cfg.multi_label_classifier,
                "diffusion_steps": cfg.diffusion_steps, "noise_schedule": cfg.noise_schedule}
    wrong = [f"{k} {info.get(k)!r} (the model's {v!r})" for k, v in expected.items() if info.get(k) != v]
    if wrong:
        raise UserError(f"--noised-classifier {path} does not fit the model: {'; '.join(wrong)}; train one with "
                        "the model's dataset, size and diffusion (`jointdiff noised-classifier`)")


def classifier_cond_fn(cfg: ExperimentConfig, targets: Tensor, settings: SamplingSettings) -> CondFn:
    """cond_fn(x_t, t) = s ∇_{x_t} log p(targets | x_t, t) by settings.noised_classifier, for `sample_loop`.

    targets: [N] class indices, or [N, K] 0/1 attribute vectors; t: original timesteps. Guides only while
    t < guide_until · T; normalize_grad scales each gradient to unit RMS first.
    """
    classifier, info = cached_noised_classifier(settings.noised_classifier, str(targets.device))
    check_noised_classifier(info, cfg, settings.noised_classifier)
    cutoff = settings.guide_until * cfg.diffusion_steps

    def cond_fn(x_t: Tensor, t: Tensor) -> Tensor:
        if float(t[0]) >= cutoff:
            return torch.zeros_like(x_t)
        with torch.enable_grad():
            x = x_t.detach().requires_grad_(True)
            log_p = -target_loss(classifier(x, t), targets, cfg.multi_label_classifier)
            grad, = torch.autograd.grad(log_p, x)
        if settings.normalize_grad:
            grad = unit_rms(grad)
        return CLASSIC_SIGN * settings.alpha * grad

    return cond_fn
