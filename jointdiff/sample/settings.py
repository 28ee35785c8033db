"""How samples are drawn, as one typed object from the command line to the guidance functions.

Each setting has one name end to end: the flag (`--head-t`), the field (`head_t`), the workflow config key
(`sampling.head_t`) and the key in the `settings` JSON stored with every output. The options come from the fields
(`jointdiff/settings.py`). Torch-free, so a bad value fails before any model is loaded.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from jointdiff.choices import CLASSIC_GUIDANCE, GUIDANCE_METHODS, HEAD_T, SAMPLERS, VARIANCES, WEIGHTS
from jointdiff.errors import UserError
from jointdiff.settings import Settings, flag, setting


@dataclass(frozen=True)
class SamplingSettings(Settings):
    # --- the sampler ---------------------------------------------------------------------------------------------
    weights: str = setting("ema", "which weights to sample from", choices=WEIGHTS)
    sampler: str = setting("ancestral", "ancestral (the paper's) or ddim", choices=SAMPLERS)
    variance: str = setting("fixedlarge", "the ancestral sampler's variance: fixedlarge (the paper's, beta_t) or "
                                          "fixedsmall (the posterior's)", choices=VARIANCES)
    steps: int = setting(0, "sampler steps; 0 = all T (the paper's)", metavar="N")
    eta: float = setting(0.0, "DDIM eta")
    clip_x0: bool = setting(False, "clip the predicted x0 to [-1, 1] at every step")
    # --- guidance by the joint classifier (jointdiff/sample/guidance.py) -----------------------------------------
    alpha: float = setting(0.0, "step size alpha (the authors' sampling_lr; the guidance scale s for "
                                "x0/input/classifier); 0 = unguided", metavar="A")
    guidance: str = setting("representation", "representation: the paper's shift of the encoder activations; x0 "
                                               "(ours): the head on the denoiser's clean estimate, gradient to x_t; "
                                               "input (ours): the head on x_t itself; classifier: classic guidance "
                                               "by --noised-classifier (the paper's baseline; any model)",
                            choices=GUIDANCE_METHODS)
    head_t: str = setting("t", "timestep feature the head reads during guidance: t (the authors') or zero (the value "
                               "a head trained on clean images saw)", choices=HEAD_T)
    guide_until: float = setting(1.0, "guide only while t < F*T (1 = every step)", metavar="F")
    normalize_grad: bool = setting(False, "unit-RMS gradients per sample")
    noised_classifier: str = setting("", "with --guidance classifier: the noised classifier from "
                                         "`jointdiff noised-classifier`", metavar="FILE")

    def __post_init__(self) -> None:
        for name, allowed in (("weights", WEIGHTS), ("sampler", SAMPLERS), ("variance", VARIANCES),
                              ("guidance", GUIDANCE_METHODS), ("head_t", HEAD_T)):
            if getattr(self, name) not in allowed:
                raise UserError(f"--{flag(name)} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}")
        if self.steps < 0:
            raise UserError(f"--steps must be >= 0 (0 = every diffusion step), got {self.steps}")
        if self.eta < 0 or self.alpha < 0:
            raise UserError(f"--eta and --alpha must be >= 0, got {self.eta} and {self.alpha}")
        if not 0 < self.guide_until <= 1:
            raise UserError(f"--guide-until must be in (0, 1], got {self.guide_until}")
        if self.guidance == CLASSIC_GUIDANCE and self.guided and not self.noised_classifier:
            raise UserError("--guidance classifier needs --noised-classifier FILE (from `jointdiff noised-classifier`)")
        if self.noised_classifier and self.guidance != CLASSIC_GUIDANCE:
            raise UserError(f"--noised-classifier is for --guidance classifier, not {self.guidance}")

    def check_fits(self, diffusion_steps: int) -> None:
        """UserError naming --steps when a model with `diffusion_steps` steps T cannot be sampled in `steps`."""
        if self.steps == 1 or self.steps > diffusion_steps:
            raise UserError(f"--steps {self.steps}: the model has {diffusion_steps} diffusion steps; use 2 to "
                            f"{diffusion_steps}, or 0 for all of them")

    @property
    def guided(self) -> bool:
        return self.alpha > 0


def add_sampling_arguments(p: argparse.ArgumentParser, alpha: float = 0.0) -> None:
    """The settings as options (`jointdiff sample`, `jointdiff counterfactual`), each defaulting to the field's
    default (alpha to `alpha`)."""
    SamplingSettings.add_arguments(p, "sampler and guidance (jointdiff/sample/guidance.py)", {"alpha": alpha})
