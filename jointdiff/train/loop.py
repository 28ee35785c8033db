"""The training loop: joint diffusion on one or many processes, resumable at any step.

Rerunning the same command resumes: the loop loads the newest valid checkpoint of the run directory first, and
refuses it if it was trained with other settings (`state.resume_point`). One launch at a time writes a run
directory: rank 0 holds its lock for the whole run. The loop itself only orders the parts: data (`data.py`),
state and resume (`state.py`), the optimizer step (`step.py`), the records (`records.py`), validation
(`validation.py`), early stops (`stopping.py`) and checkpoints (`checkpoint.py`).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch

from jointdiff import distributed as jd_dist
from jointdiff.atomic import atomic_write_text
from jointdiff.config import ExperimentConfig
from jointdiff.data.datasets import loader_settings
from jointdiff.diffusion import build_diffusion
from jointdiff.errors import ConfigError
from jointdiff.gpu.precision import set_precision
from jointdiff.progress import progress as progress_reporter
from jointdiff.train.batches import rank_batches, rank_slice
from jointdiff.train.checkpoint import atomic_torch_save, save_checkpoint
from jointdiff.train.data import load_training_data
from jointdiff.train.progress_grid import save_progress_grid
from jointdiff.train.records import LossTotals, append_record, keep_records_up_to
from jointdiff.train.run_dir import RunPaths
from jointdiff.train.state import build_state, resume_point
from jointdiff.train.step import StepRunner
from jointdiff.train.stopping import StopControl, TrainingPaused
from jointdiff.train.trackers import TrackerSettings, open_trackers
from jointdiff.train.validation import validate

log = logging.getLogger(__name__)


def training_loop(cfg: ExperimentConfig, paths: RunPaths, *, device: str = "auto",
                  data_manifest: dict[str, Any] | None = None, progress: bool = True,
                  log_interval: int = 0, stop_after_steps: int = 0,
                  trackers: TrackerSettings = TrackerSettings()) -> None:
    """Train (or resume) the run in `paths.run_dir`; write `paths.model_out` at the end.

    log_interval: steps between train_log.jsonl lines (0: validation_interval).
    stop_after_steps: end this invocation early after this many steps (cluster time slices); 0 = run to the end.
    trackers: TensorBoard and/or W&B, which get what train_log.jsonl gets (trackers.py).
    Raises TrainingPaused when it ends early after a checkpoint, TrainingDiverged on a NaN/inf loss.
    """
    info = jd_dist.init_distributed(device, cfg.gpu_id)
    try:
        with jd_dist.main_rank_lock(paths.lock_file, f"run directory {paths.run_dir}", info):
            _train(cfg, paths, info, data_manifest, progress, log_interval, stop_after_steps, trackers)
    finally:
        jd_dist.cleanup()


def _train(cfg: ExperimentConfig, paths: RunPaths, info: jd_dist.DistInfo, data_manifest: dict[str, Any] | None,
           progress: bool, log_interval: int, stop_after_steps: int, tracker_settings: TrackerSettings) -> None:
    # --- checks, numerics ---------------------------------------------------------------------------------------
    if info.device.type == "cpu" and not cfg.allow_cpu:
        raise ConfigError("this config sets allow_cpu False (a paper-scale run) but no GPU is visible")
    if cfg.batch_size % info.world_size:
        raise ConfigError(f"batch_size {cfg.batch_size} is not divisible by the {info.world_size} processes")
    set_precision(cfg.tf32, benchmark=True)  # the authors' TF32; cuDNN picks its kernels for the fixed shapes
    log_interval = log_interval or cfg.validation_interval
    stops = StopControl(cfg, stop_after_steps, info.device)

    # --- the checkpoint to resume from, checked before the run's files are touched --------------------------------
    found = resume_point(cfg, paths.ckpt_dir)
    last_ckpt = found[1] if found else None
    if info.is_main:
        atomic_write_text(paths.config_file, json.dumps(cfg.to_dict(), indent=2) + "\n")
        keep_records_up_to(paths.log_file, found[0]["step"] if found else 0)

    # --- data, state ----------------------------------------------------------------------------------------------
    data = load_training_data(cfg, info.device)
    state = build_state(cfg, info.device, info.world_size)
    if found:
        state.load(*found, data.train_set, rank_slice(cfg.batch_size, info.rank, info.world_size))
        del found  # the checkpoint's tensors are in the state now
    diffusion = build_diffusion(cfg)
    run_step = StepRunner(state, diffusion, cfg, info, data)
    if info.is_main and last_ckpt:
        log.info("resumed from %s at step %d", last_ckpt, state.step)
    elif info.is_main:
        log.info("starting a new run in %s", paths.run_dir)
    trackers = open_trackers(tracker_settings, paths.run_dir, cfg.to_dict(), state.step, info.is_main)

    def checkpoint() -> Path | None:
        totals.check_finite(last_ckpt)
        path = last_ckpt
        if info.is_main and not cfg.skip_save:
            path = save_checkpoint(state.to_dict(cfg, info.world_size, data_manifest), paths.ckpt_dir, state.step,
                                   cfg.keep_checkpoints)
            log.info("checkpoint %s", path)
        stops.checkpointed()
        jd_dist.barrier()
        return path

    # --- the loop: a step, then log, validate, plot and checkpoint at their intervals ------------------------------
    totals = LossTotals(info.device)
    bar = progress_reporter(cfg.num_steps, desc="training", unit="step", initial=state.step,
                            enabled=info.is_main and progress)
    batches = rank_batches(data.train_set, data.stream, info.rank, info.world_size, state.step, cfg.num_steps,
                           loader_settings(data.train_set, info.device, cfg.num_workers))
    interval_start, steps_since_log, steps_this_run = time.monotonic(), 0, 0
    state.model.train()
    while state.step < cfg.num_steps:
        run_step(*next(batches), totals)
        step = state.step
        steps_this_run += 1
        steps_since_log += 1
        bar.update(1)

        if step % log_interval == 0 or step == cfg.num_steps:
            totals.check_finite(last_ckpt)
            elapsed = time.monotonic() - interval_start
            record = {"step": step, **totals.read(steps_since_log, info.world_size), "lr": cfg.lr,
                      "images_per_s": steps_since_log * cfg.batch_size / max(elapsed, 1e-9), "time": time.time()}
            if info.device.type == "cuda":
                record["gpu_mem_gb"] = torch.cuda.max_memory_allocated(info.device) / 2 ** 30
            if info.is_main and step % cfg.validation_interval == 0 and not cfg.skip_validation:
                record.update(validate(state, data.valid_set, data.valid_subset, info.device,
                                       cfg.multi_label_classifier))
            if info.is_main:
                append_record(paths.log_file, record)
                trackers.log(record)
                bar.set_postfix(loss=f"{record['loss']:.4f}", **{k: f"{v:.3f}" for k, v in record.items()
                                                                 if k.startswith("acc_")})
            interval_start, steps_since_log = time.monotonic(), 0
        if info.is_main and cfg.plot_interval and step % cfg.plot_interval == 0:
            grid = paths.grid_dir / f"step-{step:09d}.png"
            save_progress_grid(state.ema, diffusion, cfg, grid, info.device)
            trackers.image("progress", grid, step)
        stop_now, timer_due = stops.poll(step, steps_this_run)
        if step < cfg.num_steps and (step % cfg.save_interval == 0 or timer_due or stop_now):
            last_ckpt = checkpoint()
        if stop_now and step < cfg.num_steps:
            bar.close()
            raise TrainingPaused(f"stopped at step {step} of {cfg.num_steps}; rerun the same command to resume")

    # --- the end: full validation, the final model and its checkpoint ----------------------------------------------
    bar.close()
    totals.check_finite(last_ckpt)
    if info.is_main:
        final = validate(state, data.valid_set, torch.arange(len(data.valid_set)), info.device,
                         cfg.multi_label_classifier)
        record = {"step": state.step, "final": True, **{f"{k}_full": v for k, v in final.items()}, "time": time.time()}
        append_record(paths.log_file, record)
        trackers.log(record)
        atomic_torch_save({"model": state.model.state_dict(), "ema": state.ema.state_dict(), "config": cfg.to_dict(),
                           "step": state.step, "data_manifest": data_manifest, "final_validation": final},
                          paths.model_out, paths.ckpt_dir, state.step)
        log.info("wrote %s (%s)", paths.model_out, ", ".join(f"{k} {v:.4f}" for k, v in final.items()))
        if not cfg.skip_save:
            save_checkpoint(state.to_dict(cfg, info.world_size, data_manifest), paths.ckpt_dir, state.step,
                            cfg.keep_checkpoints)
    trackers.close()
    jd_dist.barrier()
