"""Attach an experiment's final metrics to its training's tracker run, beside its curves.

    jointdiff track-metrics --run-dir results/cifar10 --metrics results/cifar10/metrics/accuracy.json \\
        results/cifar10/metrics/fid_standard_ema.json --tracker tensorboard --tracker wandb \\
        --out results/cifar10/metrics/tracked.json

Names: final/accuracy_ema, final/fid_standard_ema/fid (and precision, recall, ...), final/guided_ema_alpha10/own
and .../independent (each judge's target rate). W&B gets them as the summary of the training's run (its id in
<run-dir>/trackers.json), TensorBoard as scalars at the training's last step in <run-dir>/tensorboard. --out
lists what was sent.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from jointdiff.commands.tracker_options import add_tracker_flags, tracker_settings
from jointdiff.errors import UserError

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run-dir", required=True, metavar="DIR", help="the training's run directory")
    p.add_argument("--metrics", required=True, nargs="+", metavar="FILE.json",
                   help="accuracy.json, fid_*.json and guided score files of the experiment")
    p.add_argument("--out", required=True, metavar="FILE.json", help="what was sent: trackers, step, W&B id, numbers")
    add_tracker_flags(p)


def run(args: argparse.Namespace) -> int:
    for path in (args.run_dir, *args.metrics):
        if not Path(path).exists():
            raise UserError(f"{path} does not exist")
    if not args.tracker:
        raise UserError("no tracker: give --tracker tensorboard and/or --tracker wandb")

    from jointdiff.atomic import atomic_write_json
    from jointdiff.train import track_metrics

    sent = track_metrics(tracker_settings(args), Path(args.run_dir), [Path(m) for m in args.metrics])
    atomic_write_json(args.out, sent)
    log.info("sent %d final numbers to %s at step %d", len(sent["metrics"]), ", ".join(sent["trackers"]), sent["step"])
    return 0
