"""How samples are drawn, as one typed object from the command line to the guidance functions.

Each setting has one name end to end: the flag (`--head-t`), the field (`head_t`), the workflow config key
(`sampling.head_t`) and the key in the `settings` JSON stored with every output. Torch-free, so a bad value
fails before any model is loaded.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields

from jointdiff.choices import CLASSIC_GUIDANCE, GUIDANCE_METHODS, HEAD_T, SAMPLERS, VARIANCES, WEIGHTS
from jointdiff.errors import UserError


@dataclass(frozen=True)
class SamplingSettings:
    # --- the sampler ---------------------------------------------------------------------------------------------
    weights: str = "ema"              # which weights of the model file: ema or raw
    sampler: str = "ancestral"        # ancestral (the paper's) or ddim
    variance: str = "fixedlarge"      # the ancestral sampler's variance: fixedlarge (the paper's) or fixedsmall
    steps: int = 0                    # sampler steps; 0 = all T (the paper's)
    eta: float = 0.0                  # DDIM eta
    clip_x0: bool = False             # clip the predicted x0 to [-1, 1] at every step
    # --- guidance by the joint classifier (jointdiff/sample/guidance.py) -----------------------------------------
    alpha: float = 0.0                # step size α (the paper's sampling_lr; the guidance scale of x0/input); 0 = off
    guidance: str = "representation"  # one of GUIDANCE_METHODS
    head_t: str = "t"                 # the timestep feature the head reads during guidance (the authors': t)
    guide_until: float = 1.0          # guide only while t < guide_until · T
    normalize_grad: bool = False      # scale each gradient to unit RMS per sample
    noised_classifier: str = ""       # guidance "classifier": the file of `jointdiff noised-classifier`

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

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SamplingSettings:
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


def flag(name: str) -> str:
    """A field's command-line flag (without the dashes)."""
    return name.replace("_", "-")


def add_sampling_arguments(p: argparse.ArgumentParser, alpha: float = 0.0) -> None:
    """The settings as options (`jointdiff sample`, `jointdiff counterfactual`), each defaulting to the field's
    default (alpha to `alpha`)."""
    d = SamplingSettings()
    g = p.add_argument_group("sampler")
    g.add_argument("--weights", default=d.weights, choices=WEIGHTS, help="which weights to sample from")
    g.add_argument("--sampler", default=d.sampler, choices=SAMPLERS, help="ancestral (the paper's) or ddim")
    g.add_argument("--variance", default=d.variance, choices=VARIANCES,
                   help="the ancestral sampler's variance: fixedlarge (the paper's, beta_t) or fixedsmall (the "
                        "posterior's)")
    g.add_argument("--steps", type=int, default=d.steps, metavar="N", help="sampler steps; 0 = all T (the paper's)")
    g.add_argument("--eta", type=float, default=d.eta, help="DDIM eta")
    g.add_argument("--clip-x0", action="store_true", help="clip the predicted x0 to [-1, 1] at every step")
    g = p.add_argument_group("guidance (jointdiff/sample/guidance.py)")
    g.add_argument("--alpha", type=float, default=alpha, metavar="A",
                   help="step size alpha (the authors' sampling_lr; the guidance scale s for x0/input/classifier); "
                        "0 = unguided")
    g.add_argument("--guidance", default=d.guidance, choices=GUIDANCE_METHODS,
                   help="representation: the paper's shift of the encoder activations; x0 (ours): the head on the "
                        "denoiser's clean estimate, gradient to x_t; input (ours): the head on x_t itself; "
                        "classifier: classic guidance by --noised-classifier (the paper's baseline; any model)")
    g.add_argument("--noised-classifier", default=d.noised_classifier, metavar="FILE",
                   help="with --guidance classifier: the noised classifier from `jointdiff noised-classifier`")
    g.add_argument("--head-t", default=d.head_t, choices=HEAD_T,
                   help="timestep feature the head reads during guidance: t (the authors') or zero (the value a head "
                        "trained on clean images saw)")
    g.add_argument("--guide-until", type=float, default=d.guide_until, metavar="F",
                   help="guide only while t < F*T (1 = every step)")
    g.add_argument("--normalize-grad", action="store_true", help="unit-RMS gradients per sample")
