"""Every table and figure again from existing results, and no other job: no training, sampling or metric.

    jointdiff rebuild                                     this checkout's results/ (config/config.yaml)
    jointdiff rebuild --configfile config/demo.yaml       the demo's
    jointdiff rebuild --configfile cluster.yaml --config results=/data/copied/results

Runs this checkout's workflow on its target `report_only` (every table and figure of `all` whose inputs exist)
with only the report rules allowed, and all of them forced: the rules of rules/report.smk, read from that file, so a table
added there is rebuilt too. The other rules are left out of the run, so their outputs count as given inputs:
results copied from a cluster, whose times say nothing (or that the code is newer), never start a job upstream,
and the tables and figures are made by this checkout's code. A table or figure whose inputs are missing is
skipped and named. The options are Snakemake's, passed on.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from jointdiff.errors import UserError

WORKFLOW_DIR = Path(__file__).resolve().parents[2]
REPORT_RULES_FILE = Path("rules") / "report.smk"
TARGET = "report_only"


def report_rules(workflow_dir: Path = WORKFLOW_DIR) -> list[str]:
    """The rules rules/report.smk defines, `report_only` among them, in file order."""
    path = workflow_dir / REPORT_RULES_FILE
    if not path.is_file():
        raise UserError(f"{path} does not exist: rebuild runs from a checkout of the workflow")
    return re.findall(r"^rule (\w+):", path.read_text(), flags=re.M)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--configfile", nargs="+", metavar="FILE",
                   help="the workflow config(s) the results were made with (default: config/config.yaml)")
    p.add_argument("--config", nargs="+", metavar="KEY=VALUE", help="config values, as for snakemake")
    p.add_argument("--directory", metavar="DIR", help="the working directory holding results/ (default: here)")
    p.add_argument("--cores", default="1", metavar="N", help="jobs at once (default: 1)")
    p.add_argument("-n", "--dry-run", action="store_true", help="print what would be rebuilt, make nothing")


def snakemake_argv(args: argparse.Namespace) -> list[str]:
    rules = report_rules()
    argv = [sys.executable, "-m", "snakemake", TARGET, "--snakefile", str(WORKFLOW_DIR / "Snakefile"),
            "--cores", args.cores, "--forceall", "--allowed-rules", *rules]
    for flag in ("configfile", "config"):
        argv += [f"--{flag}", *getattr(args, flag)] if getattr(args, flag) else []
    argv += ["--directory", args.directory] if args.directory else []
    return argv + (["--dry-run"] if args.dry_run else [])


def run(args: argparse.Namespace) -> int:
    return subprocess.run(snakemake_argv(args)).returncode
