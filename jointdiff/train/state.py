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
from jointdiff.errors import CheckpointError
from jointdiff.model import JointDiffusionModel, build_model
from jointdiff.jobs.resume import check_resume
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

    def load(self, saved: dict[str, Any], path: Path, train_set, rank_rows: slice) -> None:
        """Continue from a checkpoint (`path` names it in errors); this rank's share of the semi-supervised buffer
        (its rows `rank_rows` of the global batch) is read back from `train_set`."""
        try:
            self.model.load_state_dict(saved["model"])
            self.ema.load_state_dict(saved["ema"])
            self.optimizer.load_state_dict(saved["optimizer"])
            if "labelled_buffer" in saved:
                self.labelled_buffer.load_state_dict(saved["labelled_buffer"], train_set, rank_rows,
                                                     next(self.model.parameters()).device)
        except (KeyError, RuntimeError, ValueError) as err:
            first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise CheckpointError(f"checkpoint {path} does not fit the model this config builds ({first_line}); "
                                  "train into a new --run-dir") from err
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


def resume_point(cfg: ExperimentConfig, ckpt_dir: Path) -> tuple[dict[str, Any], Path] | None:
    """The newest valid checkpoint of ckpt_dir and its path, or None for a new run.

    Its weights were trained with the config it carries, so a run continues only with the same settings, except
    those in RESUME_MAY_CHANGE (num_steps, intervals, data location, ...). Any other difference is refused here,
    before anything of the run is touched, naming each setting.
    """
    found = load_latest_checkpoint(ckpt_dir)
    if found is None:
        return None
    saved, path = found
    if "config" not in saved:
        raise CheckpointError(f"checkpoint {path} carries no config, so whether it fits this run cannot be "
                              "checked; train into a new --run-dir")
    check_resume(saved["config"], saved["step"], cfg, path, ckpt_dir)
    return found
