"""The experiment-tracker options, shared by the commands that log to a run's trackers (train, track-metrics)."""

from __future__ import annotations

import argparse

from jointdiff.choices import TRACKERS, WANDB_MODES


def add_tracker_flags(group: argparse._ActionsContainer) -> None:
    group.add_argument("--tracker", action="append", choices=TRACKERS, default=[],
                       help="also log to this experiment tracker (repeat for both); none by default")
    group.add_argument("--wandb-mode", choices=WANDB_MODES, default="online",
                       help="W&B online, or offline (no internet; upload later: "
                            "wandb sync RUN_DIR/wandb/offline-run-*)")
    group.add_argument("--wandb-project", default="jointdiff", metavar="NAME",
                       help="the W&B project (default: jointdiff)")


def tracker_settings(args: argparse.Namespace):
    """The trackers the flags name, each once, as jointdiff.train.TrackerSettings (imports torch)."""
    from jointdiff.train import TrackerSettings
    return TrackerSettings(tuple(dict.fromkeys(args.tracker)), args.wandb_mode, args.wandb_project)
