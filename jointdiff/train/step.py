"""One optimizer step: the per-step randomness, the forward/backward over micro-batches, AdamW and the EMA.

Randomness is a function of (seed, step, sample): the timesteps and noise of the diffusion loss are drawn for the
whole global batch and sliced per rank, and the per-rank global RNG (dropout, augmentation) is reseeded every
step. So a resumed run continues the same loss curve, and - with dropout and augmentation off - N processes reach
the same weights as one.
"""

from __future__ import annotations

from contextlib import nullcontext

import torch
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel as DDP

from jointdiff.config import ExperimentConfig
from jointdiff.diffusion import GaussianDiffusion
from jointdiff.distributed import DistInfo
from jointdiff.train.augment import build_augmentation
from jointdiff.train.ema import update_ema
from jointdiff.train.joint_loss import joint_loss
from jointdiff.train.labelled_buffer import LabelledBuffer
from jointdiff.train.records import LossTotals
from jointdiff.train.state import TrainState


class TrainStep(nn.Module):
    """The whole per-micro-batch computation as one module, so DDP sees one forward per backward."""

    def __init__(self, model: nn.Module, diffusion, cfg: ExperimentConfig, augment,
                 buffer: LabelledBuffer | None = None) -> None:
        super().__init__()
        self.model = model
        self.diffusion = diffusion
        self.cfg = cfg
        self.augment = augment
        self.buffer = buffer  # the semi-supervised buffer; None when every training label is known

    def forward(self, x0, y, t, noise):
        return joint_loss(self.model, self.diffusion, x0, y, t=t, noise=noise,
                          scaling=self.cfg.classifier_loss_scaling,
                          noised_classifier=self.cfg.train_noised_classifier,
                          multi_label=self.cfg.multi_label_classifier, augment=self.augment,
                          diffusion_weight=self.cfg.diffusion_loss_weight, buffer=self.buffer)


def step_seed(seed: int, step: int, rank: int) -> int:
    return (seed * 1_000_003 + step * 7_919 + rank * 104_729) % (2 ** 63)


class StepRunner:
    """Runs optimizer steps on one rank: `runner(x_rank, y_rank, totals)` trains on this rank's slice of the
    global batch of `state.step` and advances the step.

    The TrainStep is wrapped in DDP with several processes and compiled with cfg.compile; micro-batches
    (cfg.microbatch) accumulate gradients, which sync across ranks only on the last one.
    """

    def __init__(self, state: TrainState, diffusion: GaussianDiffusion, cfg: ExperimentConfig, info: DistInfo,
                 all_labelled: bool) -> None:
        self.state, self.diffusion, self.cfg, self.info = state, diffusion, cfg, info
        augment = build_augmentation(cfg) if state.model.head is not None else None
        buffer = None if all_labelled else state.labelled_buffer
        module: nn.Module = TrainStep(state.model, diffusion, cfg, augment, buffer)
        if info.world_size > 1:
            module = DDP(module, device_ids=[info.device.index] if info.device.type == "cuda" else None)
        self.module = module
        self.run = torch.compile(module) if cfg.compile else module
        self.autocast = torch.autocast(info.device.type, dtype=torch.bfloat16) if cfg.bf16 else nullcontext()
        self.per_rank = cfg.batch_size // info.world_size
        self.micro = self.per_rank if cfg.microbatch < 0 else min(cfg.microbatch, self.per_rank)
        size, channels = cfg.resolved_image_size(), cfg.resolved_channels()
        self.global_shape = (cfg.batch_size, channels, size, size)

    def __call__(self, x_rank: Tensor, y_rank: Tensor, totals: LossTotals) -> None:
        cfg, info, state = self.cfg, self.info, self.state
        # Randomness of this step: global RNG per rank (dropout, augmentation); t and noise for the global batch.
        torch.manual_seed(step_seed(cfg.seed, state.step, info.rank))
        gen = torch.Generator().manual_seed(step_seed(cfg.seed, state.step, 10 ** 6))
        t_all = torch.randint(0, self.diffusion.num_timesteps, (cfg.batch_size,), generator=gen)
        noise_all = torch.randn(self.global_shape, generator=gen)
        lo = info.rank * self.per_rank

        # Forward/backward over micro-batches; gradients sync only on the last one.
        state.optimizer.zero_grad(set_to_none=True)
        for start in range(0, self.per_rank, self.micro):
            local = slice(start, min(start + self.micro, self.per_rank))
            rows = slice(lo + local.start, lo + local.stop)  # the same rows of the global batch's t and noise
            x0 = x_rank[local].to(info.device, non_blocking=True)
            y = y_rank[local].to(info.device, non_blocking=True)
            if cfg.channels_last:
                x0 = x0.contiguous(memory_format=torch.channels_last)
            weight = (rows.stop - rows.start) / self.per_rank
            last = local.stop == self.per_rank
            sync = nullcontext() if (last or info.world_size == 1) else self.module.no_sync()
            with sync:
                with self.autocast:
                    terms = self.run(x0, y, t_all[rows].to(info.device), noise_all[rows].to(info.device))
                (terms["loss"] * weight).backward()
            totals.add(terms, weight, state.step)
        state.optimizer.step()
        update_ema(state.ema, state.model, cfg.ema_rate)
        state.step += 1
