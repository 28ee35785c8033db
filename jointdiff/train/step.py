"""One optimizer step: the per-step randomness, the forward/backward over micro-batches, AdamW and the EMA.

Randomness is a function of (seed, step, sample): the timesteps and noise of the diffusion loss are drawn for the
whole global batch, on the device by a generator seeded per step, and sliced per rank; the per-rank global RNG
(dropout, augmentation) is reseeded every step. So a resumed run continues the same loss curve, and - with
dropout and augmentation off - N processes reach the same weights as one, also with hidden labels (the
semi-supervised buffer spans the global batch, `labelled_buffer.py`).

Nothing in a step waits for the device: the draws happen there, and the buffer's decisions come from the label
mask on the host. (CUDA's generators give the same numbers on GPUs of one model; a run resumed on another model of
GPU draws other, equally distributed, noise from there on.)
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
from jointdiff.train.batches import rank_slice
from jointdiff.train.data import TrainingData
from jointdiff.train.joint_loss import ClassifierRows, joint_loss
from jointdiff.train.records import LossTotals
from jointdiff.train.state import TrainState


class TrainStep(nn.Module):
    """The whole per-micro-batch computation as one module, so DDP sees one forward per backward."""

    def __init__(self, model: nn.Module, diffusion, cfg: ExperimentConfig, augment) -> None:
        super().__init__()
        self.model = model
        self.diffusion = diffusion
        self.cfg = cfg
        self.augment = augment

    def forward(self, x0, y, t, noise, buffered: ClassifierRows | None = None):
        return joint_loss(self.model, self.diffusion, x0, y, t=t, noise=noise,
                          scaling=self.cfg.classifier_loss_scaling,
                          head_sees_x_t=self.cfg.train_noised_classifier,
                          multi_label=self.cfg.multi_label_classifier, augment=self.augment,
                          diffusion_weight=self.cfg.diffusion_loss_weight, buffered=buffered)


def step_seed(seed: int, step: int, rank: int) -> int:
    return (seed * 1_000_003 + step * 7_919 + rank * 104_729) % (2 ** 63)


class StepRunner:
    """Runs optimizer steps on one rank: `runner(x_rank, y_rank, totals)` trains on this rank's slice of the
    global batch of `state.step` and advances the step.

    The TrainStep is wrapped in DDP with several processes and compiled with cfg.compile; micro-batches
    (cfg.microbatch) accumulate gradients, which sync across ranks only on the last one. A semi-supervised
    classifier step spreads this rank's buffered rows over its micro-batches.
    """

    def __init__(self, state: TrainState, diffusion: GaussianDiffusion, cfg: ExperimentConfig, info: DistInfo,
                 data: TrainingData) -> None:
        self.state, self.diffusion, self.cfg, self.info, self.data = state, diffusion.to(info.device), cfg, info, data
        augment = build_augmentation(cfg) if state.model.head is not None else None
        module: nn.Module = TrainStep(state.model, self.diffusion, cfg, augment)
        if info.world_size > 1:
            module = DDP(module, device_ids=[info.device.index] if info.device.type == "cuda" else None)
        self.module = module
        self.run = torch.compile(module) if cfg.compile else module
        self.autocast = torch.autocast(info.device.type, dtype=torch.bfloat16) if cfg.bf16 else nullcontext()
        self.per_rank = cfg.batch_size // info.world_size
        self.micro = self.per_rank if cfg.microbatch < 0 else min(cfg.microbatch, self.per_rank)
        self.rank_rows = rank_slice(cfg.batch_size, info.rank, info.world_size)
        size, channels = cfg.resolved_image_size(), cfg.resolved_channels()
        self.global_shape = (cfg.batch_size, channels, size, size)
        self.generator = torch.Generator(info.device)
        self.semi_supervised = state.model.head is not None and not data.all_labelled

    def draws(self, step: int) -> tuple[Tensor, Tensor]:
        """The global batch's timesteps [B] and noise [B, C, H, W] of `step`, drawn on the device."""
        self.generator.manual_seed(step_seed(self.cfg.seed, step, 10 ** 6))
        device = self.info.device
        t_all = torch.randint(0, self.diffusion.num_timesteps, (self.cfg.batch_size,), generator=self.generator,
                              device=device)
        return t_all, torch.randn(self.global_shape, generator=self.generator, device=device)

    def classifier_rows(self, x_rank: Tensor, y_rank: Tensor) -> list[ClassifierRows | None]:
        """Each micro-batch's semi-supervised classifier term (None for all of them when every label is known)."""
        starts = range(0, self.per_rank, self.micro)
        if not self.semi_supervised:
            return [None for _ in starts]
        indices = self.data.stream.global_indices(self.state.step)
        taken = self.state.labelled_buffer.step(x_rank, y_rank, indices, self.data.known[indices], self.rank_rows,
                                                self.info.device)
        if taken is None:
            return [ClassifierRows() for _ in starts]
        images, labels, total = taken
        # each micro-batch's loss is multiplied by its share of the rank's batch, and DDP averages over ranks
        shares = [(min(start + self.micro, self.per_rank) - start) / self.per_rank for start in starts]
        return [ClassifierRows(x, y, self.info.world_size / (total * share))
                for x, y, share in zip(images.tensor_split(len(shares)), labels.tensor_split(len(shares)), shares)]

    def __call__(self, x_rank: Tensor, y_rank: Tensor, totals: LossTotals) -> None:
        cfg, info, state = self.cfg, self.info, self.state
        # Randomness of this step: global RNG per rank (dropout, augmentation); t and noise for the global batch.
        torch.manual_seed(step_seed(cfg.seed, state.step, info.rank))
        t_all, noise_all = self.draws(state.step)
        buffered = self.classifier_rows(x_rank, y_rank)

        # Forward/backward over micro-batches; gradients sync only on the last one.
        state.optimizer.zero_grad(set_to_none=True)
        for start, rows_cls in zip(range(0, self.per_rank, self.micro), buffered):
            local = slice(start, min(start + self.micro, self.per_rank))
            rows = slice(self.rank_rows.start + local.start, self.rank_rows.start + local.stop)  # of t and noise
            x0 = x_rank[local].to(info.device, non_blocking=True)
            y = y_rank[local].to(info.device, non_blocking=True)
            if cfg.channels_last:
                x0 = x0.contiguous(memory_format=torch.channels_last)
            weight = (rows.stop - rows.start) / self.per_rank
            last = local.stop == self.per_rank
            sync = nullcontext() if (last or info.world_size == 1) else self.module.no_sync()
            with sync:
                with self.autocast:
                    terms = self.run(x0, y, t_all[rows], noise_all[rows], rows_cls)
                (terms["loss"] * weight).backward()
            totals.add(terms, weight, state.step)
        state.optimizer.step()
        update_ema(state.ema, state.model, cfg.ema_rate)
        state.step += 1
