"""Batch size and device: how a sampling command's work runs, not what it makes (sample, counterfactual)."""

from __future__ import annotations

import argparse

from jointdiff.choices import DEVICES
from jointdiff.errors import UserError


def add_performance_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("performance")
    g.add_argument("--batch-size", type=int, default=256, metavar="N", help="images per forward pass")
    g.add_argument("--device", default="auto", choices=DEVICES)


def check_performance_flags(args: argparse.Namespace) -> None:
    if args.batch_size < 1:
        raise UserError("--batch-size must be >= 1")
