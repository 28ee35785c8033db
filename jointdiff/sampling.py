"""Seeded, sharded, resumable sample generation (the work behind `jointdiff sample`).

Seeds are cut into batches in order; batch k goes to process k mod W, and each finished batch is written as
`<parts_dir>/batch-<first seed>.npz`, so a rerun skips what exists. Guided batches steer each sample toward
its label; label -1 means unconditional.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jointdiff.guidance import GuidanceSettings, guided_eps_fn
from jointdiff.images import save_npz, to_uint8
from jointdiff.samplers import make_generators, sample_loop

log = logging.getLogger(__name__)


@dataclass
class SampleRequest:
    seeds: list[int]
    labels: list                            # per seed: target class (-1 = unconditional) or attribute vector
    batch_size: int
    settings: dict[str, Any] = field(default_factory=dict)  # sampler options (see commands/sample.py)


def eps_fn_for(trained, labels: torch.Tensor, settings: dict[str, Any]):
    """The model's eps function: plain, or guided toward `labels` when alpha > 0."""
    model = trained.model
    if settings.get("alpha", 0) > 0:
        guidance = GuidanceSettings(alpha=settings["alpha"], method=settings["guidance"], head_t=settings["head_t"],
                                    guide_until=settings["guide_until"], normalize=settings["normalize_grad"])
        return guided_eps_fn(model, trained.diffusion, labels, guidance, trained.cfg.multi_label_classifier)
    return lambda x_t, t: model(x_t, t)


def attribute_targets(train_labels: torch.Tensor, attribute: int, per_value: int, seed: int = 0) -> torch.Tensor:
    """Targets for attribute-guided sampling (CelebA, METHOD.md §4: real attribute vectors as targets).

    `per_value` training vectors drawn with `seed`, first with `attribute` set to 0, then the same ones set to 1:
    [2 · per_value, A] float 0/1. Rows with a hidden label (-1) are never drawn.
    """
    known = train_labels[(train_labels >= 0).all(dim=1)].float()
    if len(known) == 0:
        raise ValueError("no training image has all its attributes")
    rows = known[torch.randint(len(known), (per_value,), generator=torch.Generator().manual_seed(seed))]
    off, on = rows.clone(), rows.clone()
    off[:, attribute], on[:, attribute] = 0.0, 1.0
    return torch.cat([off, on])


def sample_batch(trained, seeds: list[int], labels: torch.Tensor, settings: dict[str, Any], device,
                 x_start: torch.Tensor | None = None, t_start: int | None = None) -> torch.Tensor:
    """x_0 in [-1, 1] for one batch of seeds ([N, C, H, W])."""
    cfg = trained.cfg
    shape = (len(seeds), cfg.resolved_channels(), cfg.resolved_image_size(), cfg.resolved_image_size())
    return sample_loop(eps_fn_for(trained, labels.to(device), settings), trained.diffusion,
                       make_generators(seeds), shape, steps=settings["steps"] or None,
                       method=settings["sampler"], eta=settings["eta"], clip_x0=settings["clip_x0"],
                       x_start=x_start, t_start=t_start, device=device)


def generate(trained, request: SampleRequest, parts_dir: Path, info) -> None:
    """Write this process's share of the seed batches into parts_dir (skipping finished ones)."""
    parts_dir.mkdir(parents=True, exist_ok=True)
    batches = [(i, request.seeds[i:i + request.batch_size]) for i in range(0, len(request.seeds), request.batch_size)]
    mine = batches[info.rank::info.world_size]
    todo = [(i, s) for i, s in mine if not (parts_dir / f"batch-{i:09d}.npz").exists()]
    if len(todo) < len(mine):
        log.info("rank %d: %d of %d seed batches already done", info.rank, len(mine) - len(todo), len(mine))
    progress = None
    if info.is_main:
        from tqdm import tqdm
        progress = tqdm(total=len(mine), initial=len(mine) - len(todo), unit="batch", desc="sampling",
                        mininterval=5)
    for start, seeds in todo:
        labels = torch.tensor(request.labels[start:start + len(seeds)])
        x = sample_batch(trained, seeds, labels, request.settings, info.device)
        save_npz(parts_dir / f"batch-{start:09d}.npz", images=to_uint8(x).numpy(), seeds=np.asarray(seeds))
        if progress is not None:
            progress.update(1)
    if progress is not None:
        progress.close()
