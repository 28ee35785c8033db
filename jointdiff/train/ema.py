"""Exponential moving average of the weights (guided-diffusion's `update_ema`).

The authors never saved their EMA and evaluated raw weights; we keep both and every metric says which one it
used.
"""

from __future__ import annotations

import copy

import torch
from torch import nn


def make_ema(model: nn.Module) -> nn.Module:
    """A frozen copy of `model` that `update_ema` moves toward the live weights."""
    ema = copy.deepcopy(model)
    ema.requires_grad_(False)
    ema.eval()
    return ema


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, rate: float) -> None:
    """ema ← rate · ema + (1 − rate) · model, for parameters and for float buffers (BatchNorm statistics).

    The statistics are averaged like the weights they normalise: copied from the live model, they would fit the
    averaged head badly while it still moves fast (measured in docs/METHOD.md). Integer buffers (BatchNorm's
    batch count) are copied.
    """
    ema_params = list(ema.parameters())
    params = [p.detach() for p in model.parameters()]
    torch._foreach_lerp_(ema_params, params, 1.0 - rate)
    for ema_buf, buf in zip(ema.buffers(), model.buffers()):
        if ema_buf.is_floating_point():
            ema_buf.lerp_(buf, 1.0 - rate)
        else:
            ema_buf.copy_(buf)
