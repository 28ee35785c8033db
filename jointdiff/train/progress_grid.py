"""Sample grids during training (every plot_interval steps): cheap, fixed seeds, so grids are comparable."""

from __future__ import annotations

from pathlib import Path

import torch

from jointdiff.images import save_grid, to_uint8
from jointdiff.diffusion import make_generators, sample_loop

GRID_SEEDS = list(range(16))
GRID_STEPS = 50  # DDIM steps: a progress picture, not a paper sample


@torch.no_grad()
def save_progress_grid(model, diffusion, cfg, path: Path, device: torch.device) -> None:
    was_training = model.training
    model.eval()
    shape = (len(GRID_SEEDS), cfg.resolved_channels(), cfg.resolved_image_size(), cfg.resolved_image_size())
    x = sample_loop(lambda x_t, t: model(x_t, t), diffusion, make_generators(GRID_SEEDS), shape,
                    steps=GRID_STEPS, sampler="ddim", device=device)
    save_grid(to_uint8(x).numpy(), path, nrow=4)
    model.train(was_training)
