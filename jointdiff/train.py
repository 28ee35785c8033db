"""The training loop: joint diffusion on one or many processes, resumable at any step.

Rerunning the same command resumes: the loop loads the newest valid checkpoint of the run directory first.
Everything random is a function of (seed, step, sample): the global batch (`batches.py`), the timesteps and
noise of the diffusion loss (drawn for the whole global batch and sliced per rank), and the per-rank global RNG
used by dropout and augmentation. So a resumed run continues the same loss curve, and — with dropout and
augmentation off — N processes reach the same weights as one.
"""

from __future__ import annotations

import json
import logging
import signal
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

from jointdiff import distributed as jd_dist
from jointdiff.batches import GlobalBatchStream, rank_batches
from jointdiff.checkpoint import atomic_torch_save, load_latest_checkpoint, save_checkpoint
from jointdiff.config import ExperimentConfig
from jointdiff.crossrank_batchnorm import convert_to_crossrank
from jointdiff.ema import make_ema, update_ema
from jointdiff.errors import ConfigError, UserError

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class TrainingDiverged(UserError):
    """The loss became NaN or infinite."""


class TrainingPaused(Exception):
    """This invocation ended early (a signal or stop_after_steps) after writing a checkpoint."""


@dataclass
class RunPaths:
    run_dir: Path
    model_out: Path

    @property
    def ckpt_dir(self) -> Path:
        return self.run_dir / "checkpoints"

    @property
    def log_file(self) -> Path:
        return self.run_dir / "train_log.jsonl"

    @property
    def grid_dir(self) -> Path:
        return self.run_dir / "progress"


def train_splits(cfg: ExperimentConfig) -> tuple[str, str]:
    """(training split, validation split) from the authors' eval_on_test_set / validate_on_train switches."""
    if cfg.eval_on_test_set:
        return "train", "test"
    if cfg.validate_on_train:
        return "train", "train"
    return "train_minus_valid", "valid"


class TrainStep(nn.Module):
    """The whole per-micro-batch computation as one module, so DDP sees one forward per backward."""

    def __init__(self, model: nn.Module, diffusion, cfg: ExperimentConfig, augment,
                 all_labelled: bool = False) -> None:
        super().__init__()
        self.model = model
        self.diffusion = diffusion
        self.cfg = cfg
        self.augment = augment
        self.all_labelled = all_labelled  # every training label known: joint_loss need not count them per step

    def forward(self, x0, y, t, noise):
        from jointdiff.joint_loss import joint_loss
        return joint_loss(self.model, self.diffusion, x0, y, t=t, noise=noise,
                          scaling=self.cfg.classifier_loss_scaling,
                          noised_classifier=self.cfg.train_noised_classifier,
                          multi_label=self.cfg.multi_label_classifier, augment=self.augment,
                          diffusion_weight=self.cfg.diffusion_loss_weight, all_labelled=self.all_labelled)


def build_optimizer(params, cfg: ExperimentConfig, fused: bool = True) -> torch.optim.AdamW:
    """The paper's AdamW. Fused (one kernel over all parameters, CPU and CUDA): 4.5-7x faster than the foreach
    default in benchmarks/results/cpu.jsonl, the same update up to rounding (tests/test_fast_paths.py)."""
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.999),
                             fused=fused, foreach=None if fused else True)


def step_seed(seed: int, step: int, rank: int) -> int:
    return (seed * 1_000_003 + step * 7_919 + rank * 104_729) % (2 ** 63)


def _install_stop_handler() -> dict[str, bool]:
    """SIGTERM/SIGUSR1 ask for a checkpoint at the next step boundary (if the signal reaches us at all)."""
    flag = {"stop": False}

    def handler(signum, frame):
        log.warning("received signal %d: checkpointing at the next step and exiting", signum)
        flag["stop"] = True

    for sig in STOP_SIGNALS:
        signal.signal(sig, handler)
    return flag


def training_loop(cfg: ExperimentConfig, paths: RunPaths, *, device: str = "auto",
                  data_manifest: dict[str, Any] | None = None, progress: bool = True,
                  log_interval: int = 0, stop_after_steps: int = 0) -> None:
    """Train (or resume) the run in `paths.run_dir`; write `paths.model_out` at the end.

    log_interval: steps between train_log.jsonl lines (0: validation_interval).
    stop_after_steps: end this invocation early after this many steps (cluster time slices); 0 = run to the end.
    """
    from jointdiff.augment import build_augmentation
    from jointdiff.data.datasets import loader_settings
    from jointdiff.data.loaders import load_split
    from jointdiff.diffusion import build_diffusion
    from jointdiff.model import build_model
    from jointdiff.metrics.accuracy import accuracy_from_logits, collect_logits

    # --- processes, devices, numerics ---------------------------------------------------------------------
    info = jd_dist.init_distributed(device, cfg.gpu_id)
    if info.device.type == "cpu" and not cfg.allow_cpu:
        raise ConfigError("this config sets allow_cpu False (a paper-scale run) but no GPU is visible")
    if cfg.batch_size % info.world_size:
        raise ConfigError(f"batch_size {cfg.batch_size} is not divisible by the {info.world_size} processes")
    per_rank = cfg.batch_size // info.world_size
    micro = per_rank if cfg.microbatch < 0 else min(cfg.microbatch, per_rank)
    torch.backends.cuda.matmul.allow_tf32 = False  # paper-faithful fp32 unless bf16 is asked for
    torch.backends.cudnn.allow_tf32 = False
    log_interval = log_interval or cfg.validation_interval
    stop_flag = _install_stop_handler()

    # --- data -----------------------------------------------------------------------------------------------
    train_split, valid_split = train_splits(cfg)
    common = dict(image_size=cfg.resolved_image_size(), channels=cfg.resolved_channels())
    train_set = load_split(cfg.dataset, cfg.dataroot, train_split, labelled_share=cfg.labelled_data_share,
                           mask_seed=cfg.seed, in_memory=cfg.in_memory, num_workers=cfg.num_workers, **common)
    valid_set = load_split(cfg.dataset, cfg.dataroot, valid_split, **common)
    if hasattr(train_set, "to") and info.device.type == "cuda":
        train_set = train_set.to(info.device)  # small datasets live on the GPU: no per-step copies
    stream = GlobalBatchStream(len(train_set), cfg.batch_size, cfg.seed)
    valid_gen = torch.Generator().manual_seed(cfg.seed)
    valid_subset = torch.randperm(len(valid_set), generator=valid_gen)[:cfg.validation_subset]

    # --- model, EMA, optimizer ------------------------------------------------------------------------------
    torch.manual_seed(cfg.seed)
    model = build_model(cfg).to(info.device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    ema = make_ema(model)  # before the BatchNorm swap: the EMA never trains, and a process group can't be copied
    if info.world_size > 1:
        convert_to_crossrank(model)
    diffusion = build_diffusion(cfg)
    optimizer = build_optimizer(model.parameters(), cfg)
    step_module = TrainStep(model, diffusion, cfg, build_augmentation(cfg) if model.head is not None else None,
                            all_labelled=bool((train_set.labels >= 0).all()))
    if info.world_size > 1:
        step_module = DDP(step_module, device_ids=[info.device.index] if info.device.type == "cuda" else None)
    run_step = torch.compile(step_module) if cfg.compile else step_module
    autocast = (torch.autocast(info.device.type, dtype=torch.bfloat16) if cfg.bf16 else nullcontext())

    # --- resume -----------------------------------------------------------------------------------------------
    step = 0
    resumed = load_latest_checkpoint(paths.ckpt_dir)
    if resumed is not None:
        state, path = resumed
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        optimizer.load_state_dict(state["optimizer"])
        step = state["step"]
        if info.is_main:
            log.info("resumed from %s at step %d", path, step)
    elif info.is_main:
        log.info("starting a new run in %s", paths.run_dir)
    last_ckpt = resumed[1] if resumed else None

    def make_state() -> dict[str, Any]:
        return {"step": step, "model": model.state_dict(), "ema": ema.state_dict(),
                "optimizer": optimizer.state_dict(), "config": cfg.to_dict(), "world_size": info.world_size,
                "data_manifest": data_manifest}  # no RNG state: every draw derives from (seed, step)

    def checkpoint() -> None:
        nonlocal last_ckpt, last_ckpt_time
        check_finite()
        if info.is_main and not cfg.skip_save:
            last_ckpt = save_checkpoint(make_state(), paths.ckpt_dir, step, cfg.keep_checkpoints)
            log.info("checkpoint %s", last_ckpt)
        last_ckpt_time = time.monotonic()
        jd_dist.barrier()

    # --- bookkeeping: losses stay on the device, read every log_interval steps (no per-step host sync) -----------
    sums = torch.zeros(5, device=info.device)  # loss, diffusion, classifier (per step); correct, labelled (counts)
    first_bad_step = torch.full((), -1, dtype=torch.long, device=info.device)
    interval_start, images_seen = time.monotonic(), 0
    last_ckpt_time = time.monotonic()

    def check_finite() -> None:
        bad = int(jd_dist.all_reduce_sum(first_bad_step.clamp(min=-1) + 1).item())
        if bad:
            raise TrainingDiverged(f"the loss became NaN/inf at step {int(first_bad_step.item())} (or on another "
                                   f"rank); last good checkpoint: {last_ckpt or 'none'}")

    def validate(full: bool) -> dict[str, Any]:
        if model.head is None or (cfg.skip_validation and not full):
            return {}
        idx = torch.arange(len(valid_set)) if full else valid_subset
        out = {}
        for name, net in (("raw", model), ("ema", ema)):
            logits, labels = collect_logits(net, valid_set.get_batch, idx, device=info.device)
            out[f"acc_{name}"] = accuracy_from_logits(logits, labels, cfg.multi_label_classifier)["accuracy"]
        return out

    def write_log(record: dict[str, Any]) -> None:
        paths.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(paths.log_file, "a") as f:
            f.write(json.dumps(record) + "\n")

    bar = None
    if info.is_main and progress:
        from tqdm import tqdm
        bar = tqdm(total=cfg.num_steps, initial=step, unit="step", dynamic_ncols=True, mininterval=5)
    steps_this_run = 0

    # --- the loop -----------------------------------------------------------------------------------------------
    batches = rank_batches(train_set, stream, info.rank, info.world_size, step, cfg.num_steps,
                           loader_settings(train_set, info.device, cfg.num_workers))
    model.train()
    while step < cfg.num_steps:
        # Randomness of this step: global RNG per rank (dropout, augmentation); t and noise for the global batch.
        torch.manual_seed(step_seed(cfg.seed, step, info.rank))
        gen = torch.Generator().manual_seed(step_seed(cfg.seed, step, 10 ** 6))
        x_rank, y_rank = next(batches)
        shape = (cfg.batch_size, cfg.resolved_channels(), cfg.resolved_image_size(), cfg.resolved_image_size())
        t_all = torch.randint(0, diffusion.num_timesteps, (cfg.batch_size,), generator=gen)
        noise_all = torch.randn(shape, generator=gen)
        lo = info.rank * per_rank

        # Forward/backward over micro-batches; gradients sync only on the last one.
        optimizer.zero_grad(set_to_none=True)
        for start in range(0, per_rank, micro):
            local = slice(start, min(start + micro, per_rank))
            sl = slice(lo + local.start, lo + local.stop)  # the same rows of the global batch's t and noise
            x0 = x_rank[local].to(info.device, non_blocking=True)
            y = y_rank[local].to(info.device, non_blocking=True)
            if cfg.channels_last:
                x0 = x0.contiguous(memory_format=torch.channels_last)
            weight = (sl.stop - sl.start) / per_rank
            last = local.stop == per_rank
            sync = nullcontext() if (last or info.world_size == 1) else step_module.no_sync()
            with sync:
                with autocast:
                    terms = run_step(x0, y, t_all[sl].to(info.device), noise_all[sl].to(info.device))
                (terms["loss"] * weight).backward()
            labelled = terms["labelled"].detach().float()
            sums += torch.stack([weight * terms["loss"].detach().float(), weight * terms["diffusion"].detach().float(),
                                 weight * terms["classifier"].detach().float(),
                                 terms["accuracy"].detach().float() * labelled, labelled])
            bad = ~torch.isfinite(terms["loss"].detach())
            first_bad_step = torch.where(bad & (first_bad_step < 0), torch.full_like(first_bad_step, step),
                                         first_bad_step)
        optimizer.step()
        update_ema(ema, model, cfg.ema_rate)
        step += 1
        steps_this_run += 1
        images_seen += cfg.batch_size
        if bar is not None:
            bar.update(1)

        # Log, validate, checkpoint, plot: at intervals, all ranks agreeing on when to stop.
        if step % log_interval == 0 or step == cfg.num_steps:
            check_finite()
            totals = jd_dist.all_reduce_sum(sums).tolist()
            avg = [v / (log_interval * info.world_size) for v in totals[:3]]
            sums.zero_()
            elapsed = time.monotonic() - interval_start
            record = {"step": step, "loss": avg[0], "loss_diffusion": avg[1], "loss_classifier": avg[2],
                      "train_batch_acc": totals[3] / max(totals[4], 1.0), "lr": cfg.lr, "images_per_s": images_seen / max(elapsed, 1e-9),
                      "time": time.time()}
            if info.device.type == "cuda":
                record["gpu_mem_gb"] = torch.cuda.max_memory_allocated(info.device) / 2 ** 30
            if info.is_main and step % cfg.validation_interval == 0:
                record.update(validate(full=False))
            if info.is_main:
                write_log(record)
                if bar is not None:
                    bar.set_postfix(loss=f"{avg[0]:.4f}", **{k: f"{v:.3f}" for k, v in record.items()
                                                             if k.startswith("acc_")})
            interval_start, images_seen = time.monotonic(), 0
        if info.is_main and cfg.plot_interval and step % cfg.plot_interval == 0:
            from jointdiff.progress_grid import save_progress_grid
            save_progress_grid(ema, diffusion, cfg, paths.grid_dir / f"step-{step:09d}.png", info.device)
        stop_now = timer_due = False
        if step % 10 == 0:  # every rank agrees, at most 10 steps after a signal or the timer
            timer_due = cfg.checkpoint_minutes > 0 and time.monotonic() - last_ckpt_time > 60 * cfg.checkpoint_minutes
            flags = jd_dist.all_reduce_sum(torch.tensor([float(stop_flag["stop"]), float(timer_due)],
                                                        device=info.device))
            stop_now, timer_due = bool(flags[0] > 0), bool(flags[1] > 0)
        stop_now = stop_now or 0 < stop_after_steps <= steps_this_run
        if step < cfg.num_steps and (step % cfg.save_interval == 0 or timer_due or stop_now):
            checkpoint()
        if stop_now and step < cfg.num_steps:
            if bar is not None:
                bar.close()
            jd_dist.cleanup()
            raise TrainingPaused(f"stopped at step {step} of {cfg.num_steps}; rerun the same command to resume")

    # --- the end: full validation and the final model -------------------------------------------------------------
    if bar is not None:
        bar.close()
    check_finite()
    if info.is_main:
        final = validate(full=True)
        write_log({"step": step, "final": True, **{f"{k}_full": v for k, v in final.items()}, "time": time.time()})
        atomic_torch_save({"model": model.state_dict(), "ema": ema.state_dict(), "config": cfg.to_dict(),
                           "step": step, "data_manifest": data_manifest, "final_validation": final},
                          paths.model_out)
        log.info("wrote %s (%s)", paths.model_out, ", ".join(f"{k} {v:.4f}" for k, v in final.items()))
        if not cfg.skip_save:
            save_checkpoint(make_state(), paths.ckpt_dir, step, cfg.keep_checkpoints)
    jd_dist.barrier()
    jd_dist.cleanup()
