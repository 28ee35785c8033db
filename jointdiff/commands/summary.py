"""Print the UNet's and the joint head's sizes for an experiment config, without training anything.

Settings come from an experiment YAML (--config) and/or the seed README's flags, e.g.

    jointdiff summary --dataset CIFAR10 --num_channels 128 --num_res_blocks 3 --train_with_classifier True
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from jointdiff.commands.experiment_options import add_config_flags, flags_from_args

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="FILE", help="experiment YAML file (flags override its values)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    add_config_flags(parser)


def format_table(summary: dict[str, Any]) -> str:
    """The summary as aligned text lines."""
    lines = [
        f"UNet parameters      {summary['unet_parameters']:>14,}",
        f"head parameters      {summary['head_parameters']:>14,}",
        f"total parameters     {summary['total_parameters']:>14,}",
        f"head feature width F {summary['feature_width']:>14,}   (+1 timestep feature)",
        "",
        f"{'level':<8}{'resolution':>12}{'channels':>10}  attention",
    ]
    for lv in summary["levels"]:
        res = f"{lv['resolution']}x{lv['resolution']}"
        lines.append(f"{lv['level']:<8}{res:>12}{lv['channels']:>10}  {'yes' if lv['attention'] else '-'}")
    mid = summary["middle"]
    lines.append(f"{'middle':<8}{str(mid['resolution']) + 'x' + str(mid['resolution']):>12}{mid['channels']:>10}  yes")
    attention = ", ".join(f"{r}x{r}" for r in summary["attention_resolutions"]) or "none"
    lines += ["", f"attention (besides the middle block): {attention}"]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    from jointdiff.config import load_config
    from jointdiff.model import build_model, parameter_summary

    cfg = load_config(args.config, flags_from_args(args))
    summary = {"dataset": cfg.dataset, "image_size": cfg.resolved_image_size(),
               **parameter_summary(build_model(cfg))}
    print(json.dumps(summary, indent=2) if args.json else format_table(summary))
    return 0
