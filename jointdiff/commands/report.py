"""Tables (CSV + Markdown + LaTeX) and figures (PNG + PDF) from metric and sample files.

    jointdiff report table --kind accuracy --inputs results/cifar10/metrics/accuracy.json \\
        --experiments cifar10 --paper config/paper_results.yaml --out results/tables/accuracy.csv
    jointdiff report figure --kind samples --inputs results/cifar10/samples/uncond_ema_n100.npz \\
        --title cifar10 --out results/figures/samples_cifar10.png

A table goes to --out (.csv: every column, with the file each row came from) and the .md and .tex of the same
name (the paper-facing columns: experiment, setting, ours, the paper's, the difference; booktabs LaTeX). A
figure goes to --out (.png) and the .pdf of the same name. The paper's numbers come from --paper, and the ones
it leaves empty show as "unknown". Paths are written as given: pass relative ones to keep tables portable.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jointdiff.errors import ConfigError
from jointdiff.report import FIGURE_KINDS
from jointdiff.report.table_kinds import TABLES, build_table, kinds_with

KINDS = {"table": TABLES, "figure": FIGURE_KINDS}
OUT_SUFFIX = {"table": ".csv", "figure": ".png"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    kinds = "; ".join(f"{what}: {', '.join(k)}" for what, k in KINDS.items())
    p.add_argument("what", choices=tuple(KINDS), help="make a table or a figure")
    p.add_argument("--kind", required=True, metavar="KIND", help=f"what to make ({kinds})")
    p.add_argument("--inputs", required=True, nargs="+", type=Path, metavar="FILE",
                   help="metric (.json, .jsonl) or sample (.npz) files")
    p.add_argument("--out", required=True, type=Path, metavar="FILE",
                   help="table: <name>.csv (+ .md, .tex); figure: <name>.png (+ .pdf)")
    p.add_argument("--paper", type=Path, metavar="YAML",
                   help=f"the paper's numbers (config/paper_results.yaml); {' and '.join(kinds_with('paper'))} "
                        "tables")
    p.add_argument("--experiments", nargs="+", metavar="NAME",
                   help=f"{' and '.join(kinds_with('checks_experiments'))} table: the experiment of each --inputs "
                        "file, in order (checked)")
    p.add_argument("--title", metavar="TEXT", help="figure title (default: from the kind or the file)")


def run(args: argparse.Namespace) -> int:
    kinds = KINDS[args.what]
    if args.kind not in kinds:
        raise ConfigError(f"--kind {args.kind!r}: not a {args.what} kind; valid: {', '.join(kinds)}")
    if args.out.suffix != OUT_SUFFIX[args.what]:
        raise ConfigError(f"--out {args.out}: a {args.what} is named <name>{OUT_SUFFIX[args.what]}")

    if args.what == "table":
        if args.title is not None:
            raise ConfigError("--title applies to figures only")
        from jointdiff.report.writers import write_table
        write_table(build_table(args.kind, args.inputs, experiments=args.experiments, paper=args.paper), args.out)
        return 0

    if args.paper is not None or args.experiments is not None:
        raise ConfigError("--paper and --experiments apply to tables only")
    from jointdiff.report.figures import draw_figure
    from jointdiff.report.writers import save_figure
    save_figure(draw_figure(args.kind, args.inputs, args.title), args.out)
    return 0
