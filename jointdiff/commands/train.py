"""Train a joint diffusion model; rerunning the same command resumes from the newest checkpoint.

The experiment comes from --config (a YAML file) and/or the seed README's flags, which follow verbatim:

    jointdiff train --config config/experiments/cifar10.yaml --run-dir results/cifar10 --out results/cifar10/model.pt
    torchrun --standalone --nproc-per-node=4 -m jointdiff train --dataset CIFAR10 --num_channels 128 ... \\
        --run-dir results/cifar10 --out results/cifar10/model.pt

--batch_size is the global batch, split over the torchrun processes. Exit status 3 means the run stopped early
(a signal, or --stop-after-steps) after a checkpoint: rerun to continue.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from jointdiff.choices import DEVICES, TRACKERS, WANDB_MODES
from jointdiff.commands.experiment_options import add_config_flags, flags_from_args
from jointdiff.config import load_config
from jointdiff.errors import UserError

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run")
    g.add_argument("--config", metavar="YAML", help="experiment file (flags on the command line override it)")
    g.add_argument("--run-dir", metavar="DIR", required=True, help="checkpoints, train_log.jsonl, progress grids")
    g.add_argument("--out", metavar="FILE", required=True, help="final model file (raw + EMA weights + config)")
    g.add_argument("--device", default="auto", choices=DEVICES, help="where to train")
    g.add_argument("--log-interval", type=int, default=0, metavar="STEPS",
                   help="steps between log lines (default: validation_interval)")
    g.add_argument("--stop-after-steps", type=int, default=0, metavar="STEPS",
                   help="end this invocation after STEPS steps with a checkpoint (cluster time slices)")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")
    g.add_argument("--tracker", action="append", choices=TRACKERS, default=[],
                   help="also log to this experiment tracker (repeat for both); none by default")
    g.add_argument("--wandb-mode", choices=WANDB_MODES, default="online",
                   help="W&B online, or offline (no internet; upload later: wandb sync RUN_DIR/wandb/offline-run-*)")
    g.add_argument("--wandb-project", default="jointdiff", metavar="NAME", help="the W&B project (default: jointdiff)")
    g.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    add_config_flags(p)


def run(args: argparse.Namespace) -> int:
    if not args.config and not flags_from_args(args):
        raise UserError("no experiment: give --config FILE (config/experiments/ has examples) and/or the seed "
                        "README's flags (--dataset ... --num_steps ...); `jointdiff train --help` lists them")
    cfg = load_config(args.config, flags_from_args(args))
    if args.stop_after_steps < 0 or args.log_interval < 0:
        raise UserError("--stop-after-steps and --log-interval must be >= 0")
    if args.dry_run:
        print(json.dumps(cfg.to_dict(), indent=2))
        return 0
    run_dir = Path(args.run_dir)

    from jointdiff.data.manifest import read_manifest
    from jointdiff.train import RunPaths, TrackerSettings, TrainingPaused, training_loop
    manifest = read_manifest(cfg.dataset, cfg.dataroot)  # fails fast on a missing dataset
    try:
        training_loop(cfg, RunPaths(run_dir, Path(args.out)), device=args.device, data_manifest=manifest,
                      progress=not args.no_progress, log_interval=args.log_interval,
                      stop_after_steps=args.stop_after_steps,
                      trackers=TrackerSettings(tuple(dict.fromkeys(args.tracker)), args.wandb_mode, args.wandb_project))
    except TrainingPaused as stop:
        log.warning("%s", stop)
        return 3
    return 0
