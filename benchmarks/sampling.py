"""Sampling throughput: the reverse process (jointdiff.diffusion.sample_loop) per variant, in images × steps per
second.

A sampler step is one UNet forward plus elementwise maths, whatever the schedule, so a run of a few respaced
steps measures the per-step cost of the paper's 1000-step ancestral sampler as well as of respaced/DDIM ones;
the time for k steps is k / throughput per image. What fewer steps cost in FID is a GPU-scale measurement
(thousands of samples) and is not estimated here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from benchmarks.training import variant_model
from benchmarks.variants import Variant
from jointdiff.choices import SAMPLERS
from jointdiff.config import ExperimentConfig
from jointdiff.diffusion import build_diffusion, make_generators, randn_per_sample, sample_loop
from jointdiff.model import build_model


def sampling_calls(cfg: ExperimentConfig, variants: Sequence[Variant], device: torch.device, batch_size: int,
                   steps: int, ddim: Sequence[Variant] | None = None) -> dict[str, Callable[[], torch.Tensor]]:
    """{name: one `steps`-step sample_loop over a batch}: ancestral sampling for each variant (named as the
    variant) and DDIM (η = 0) for each of `ddim` (default: the first variant; named '<variant> ddim'). The model
    is in eval mode, without its head."""
    torch.manual_seed(0)
    base = build_model(cfg).eval().requires_grad_(False)
    diffusion = build_diffusion(cfg)
    shape = (batch_size, cfg.resolved_channels(), cfg.resolved_image_size(), cfg.resolved_image_size())
    calls = {}
    for variant in variants:
        model = variant_model(base, Variant(variant.bf16, variant.channels_last, variant.compile, False), device)
        net = torch.compile(model) if variant.compile else model

        def eps_fn(x_t, t, net=net, variant=variant):
            with variant.autocast(device):
                return net(variant.layout(x_t), t).float()

        for sampler in SAMPLERS:
            if sampler == "ddim" and variant not in (variants[:1] if ddim is None else ddim):
                continue

            def call(eps_fn=eps_fn, sampler=sampler):
                return sample_loop(eps_fn, diffusion, make_generators(range(batch_size)), shape, steps=steps,
                                   sampler=sampler, device=device)

            calls[variant.name + (" ddim" if sampler == "ddim" else "")] = call
    return calls


def noise_calls(cfg: ExperimentConfig, device: torch.device, batch_size: int) -> dict[str, Callable[[], torch.Tensor]]:
    """One sampler step's noise: per-sample generators (what sample_loop does, so a sample depends only on its
    seed) against one batched draw on the device."""
    shape = (batch_size, cfg.resolved_channels(), cfg.resolved_image_size(), cfg.resolved_image_size())
    generators = make_generators(range(batch_size))
    return {"per-sample": lambda: randn_per_sample(generators, shape, device),
            "batched": lambda: torch.randn(shape, device=device)}
