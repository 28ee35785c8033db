"""Everything a restart needs (EDM2's `state`): the step, the live model, its EMA and the optimizer.

No RNG state is kept: every random draw derives from (seed, step), so the step number alone puts a resumed run
back on the same batches, timesteps and noise.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jointdiff.config import ExperimentConfig
from jointdiff.model import JointDiffusionModel, build_model
from jointdiff.train.checkpoint import load_latest_checkpoint
from jointdiff.train.crossrank_batchnorm import convert_to_crossrank
from jointdiff.train.ema import make_ema
from jointdiff.train.labelled_buffer import LabelledBuffer

log = logging.getLogger(__name__)


def build_optimizer(params, cfg: ExperimentConfig, fused: bool = True) -> torch.optim.AdamW:
    """The paper's AdamW. Fused (one kernel over all parameters, CPU and CUDA): 4.5-7x faster than the foreach
    default in benchmarks/results/cpu.jsonl, the same update up to rounding (tests/test_fast_paths.py)."""
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.999),
                             fused=fused, foreach=None if fused else True)


@dataclass
class TrainState:
    model: JointDiffusionModel
    ema: nn.Module
    optimizer: torch.optim.Optimizer
    step: int = 0
    labelled_buffer: LabelledBuffer = field(default_factory=LabelledBuffer)  # semi-supervised runs only

    def to_dict(self, cfg: ExperimentConfig, world_size: int, data_manifest: dict | None) -> dict[str, Any]:
        """The checkpoint's contents."""
        return {"step": self.step, "model": self.model.state_dict(), "ema": self.ema.state_dict(),
                "optimizer": self.optimizer.state_dict(), "labelled_buffer": self.labelled_buffer.state_dict(),
                "config": cfg.to_dict(), "world_size": world_size, "data_manifest": data_manifest}

    def load(self, saved: dict[str, Any]) -> None:
        self.model.load_state_dict(saved["model"])
        self.ema.load_state_dict(saved["ema"])
        self.optimizer.load_state_dict(saved["optimizer"])
        self.labelled_buffer.load_state_dict(saved["labelled_buffer"], next(self.model.parameters()).device)
        self.step = saved["step"]


def build_state(cfg: ExperimentConfig, device: torch.device, world_size: int) -> TrainState:
    """A fresh state: the model initialised from cfg.seed, its EMA, and AdamW; with several processes the head's
    BatchNorm layers take global-batch statistics."""
    torch.manual_seed(cfg.seed)
    model = build_model(cfg).to(device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    ema = make_ema(model)  # before the BatchNorm swap: the EMA never trains, and a process group can't be copied
    if world_size > 1:
        convert_to_crossrank(model)
    return TrainState(model, ema, build_optimizer(model.parameters(), cfg))


def resume(state: TrainState, ckpt_dir: Path) -> Path | None:
    """Load the newest valid checkpoint of ckpt_dir into `state`; its path, or None for a new run."""
    found = load_latest_checkpoint(ckpt_dir)
    if found is None:
        return None
    saved, path = found
    state.load(saved)
    return path
