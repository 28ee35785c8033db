"""List the experiments this checkout knows: one line per config/experiments/<name>.yaml.

    jointdiff experiments                          name, dataset, steps, GPUs, origin, description
    jointdiff experiments --json                   the same for scripts, with each file's `source:`

Origin "paper" means the settings follow a command of the authors' README (a paper run, or a baseline built
from one); "ours" means the file's `source:` starts with "ours": a run the paper did not publish, such as the
demo or our CelebA run. Each file is read and checked by the same code the workflow uses, so a bad one is
named here too. Torch-free: it answers in well under a second.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from jointdiff.errors import UserError

COLUMNS = {"name": "name", "dataset": "dataset", "num_steps": "steps", "gpus": "GPUs", "origin": "origin",
           "description": "description"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, default=Path("config/experiments"), metavar="DIR",
                        help="directory of experiment files (default: config/experiments, from the repository root)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def origin_of(source: str) -> str:
    """"ours" for settings the paper did not publish, "paper" for those taken from the authors' README."""
    if not source:
        return "not stated"
    return "ours" if source.lower().startswith("ours") else "paper"


def describe(path: Path) -> dict[str, Any]:
    """What `jointdiff experiments` shows of one experiment file (read and checked as the workflow does)."""
    from jointdiff.workflow.experiment_file import read_experiment

    experiment = read_experiment(path)
    return {"name": experiment.name, "dataset": experiment.cfg.dataset, "num_steps": experiment.cfg.num_steps,
            "gpus": experiment.resources.gpus, "origin": origin_of(experiment.source), "source": experiment.source,
            "description": experiment.description, "file": str(path)}


def format_table(experiments: list[dict[str, Any]]) -> str:
    """Aligned columns, numbers right-aligned, the description last and unpadded."""
    cells = [[f"{e[key]:,}" if isinstance(e[key], int) else str(e[key]) for key in COLUMNS] for e in experiments]
    header = list(COLUMNS.values())
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header) - 1)]
    numeric = [isinstance(experiments[0][key], int) for key in COLUMNS]

    def line(row: list[str]) -> str:
        padded = [cell.rjust(w) if numeric[i] else cell.ljust(w) for i, (cell, w) in enumerate(zip(row, widths))]
        return "  ".join(padded + [row[-1]]).rstrip()
    return "\n".join(line(row) for row in [header, *cells])


def run(args: argparse.Namespace) -> int:
    if not args.dir.is_dir():
        raise UserError(f"--dir {args.dir}: no such directory (run from the repository root, or pass --dir)")
    files = sorted(args.dir.glob("*.yaml"))
    if not files:
        raise UserError(f"--dir {args.dir}: no experiment files (<name>.yaml) in it")
    experiments = [describe(path) for path in files]
    print(json.dumps(experiments, indent=2) if args.json else format_table(experiments))
    return 0
