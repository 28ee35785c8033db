"""Where `make demo`'s time goes and what it reaches: the whole workflow run as a fresh machine runs it.

    python -m benchmarks.demo_run [--workdir DIR] [--cores 2] [--config config/demo.yaml] [--name LABEL]

Runs the real workflow (`snakemake --cores N --configfile config/demo.yaml`) in an empty working directory, so the
data, its Inception statistics and every result are made from scratch, as on a fresh clone (the install is not
part of it: time `make setup` on its own). From Snakemake's own log it takes each job's start and end, and sums
them per stage; from the results, the numbers the demo's quality is judged by: FID, precision and recall beside the
floor of real images, the head's test accuracy, and the guided samples' target rate by the independent classifier
per alpha. One JSON line goes to benchmarks/results/demo_run.jsonl with the machine's record, so runs on different
machines and code versions can be compared.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/demo_run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import yaml  # noqa: E402

from benchmarks.common import REPO, RESULTS_DIR, append_jsonl, environment  # noqa: E402

# The rules that do the demo's heavy work, by stage; every other rule is counted as the rest.
STAGES = {"train": "training", "sample_unconditional": "unconditional sampling", "sample_guided": "guided sampling",
          "counterfactual": "counterfactuals", "fid_standard": "Inception features and FID",
          "fid_floor": "Inception features and FID", "fid_guided": "Inception features and FID",
          "fid_paper_protocol": "Inception features and FID",
          "independent_classifier": "independent classifier", "guided_score": "scores and accuracy",
          "accuracy": "scores and accuracy"}
# The experiment's settings that decide the training's cost and quality, kept with each run's numbers.
RECIPE = ("num_steps", "lr", "batch_size", "ema_rate", "num_channels", "num_res_blocks", "channels_last")
STAMP = re.compile(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$")
STARTED = re.compile(r"^(?:local)?rule (\w+):$")
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)$")


def job_times(log: str) -> list[dict]:
    """Every job of a Snakemake log: {rule, jobid, start, end} in seconds since the first job started."""
    stamp, started, jobs, rule = None, {}, [], None
    for line in log.splitlines():
        line = line.strip()
        if m := STAMP.match(line):
            stamp = datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y").timestamp()
        elif m := STARTED.match(line):
            rule = (m.group(1), stamp)
        elif line.startswith("jobid: ") and rule:
            started[int(line.split()[1])] = rule
            rule = None
        elif m := FINISHED.match(line):
            name, start = started.pop(int(m.group(1)))
            jobs.append({"rule": name, "jobid": int(m.group(1)), "start": start, "end": stamp})
    first = min((j["start"] for j in jobs), default=0.0)
    return [{**j, "start": j["start"] - first, "end": j["end"] - first} for j in jobs]


def stage_seconds(jobs: list[dict]) -> dict[str, float]:
    """Wall seconds per stage: the jobs' durations added (jobs that ran side by side both count)."""
    totals: dict[str, float] = {}
    for job in jobs:
        stage = STAGES.get(job["rule"], "tables, figures and the rest")
        totals[stage] = totals.get(stage, 0.0) + job["end"] - job["start"]
    return {k: round(v, 1) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


def quality(results: Path, experiment: str) -> dict:
    """The numbers the demo is judged by, read from its metric files."""
    metrics = results / experiment / "metrics"
    fid = json.loads((metrics / "fid_standard_ema.json").read_text())
    floor = json.loads((results / "floors" / "digits" / "fid_standard.json").read_text())
    accuracy = json.loads((metrics / "accuracy.json").read_text())["weights"]
    guided = {}
    for path in sorted(metrics.glob("guided_ema_alpha*.json")):
        score = json.loads(path.read_text())
        guided[f"{score['alpha']:g}"] = round(score["independent_target_accuracy"], 3)
    return {"fid": round(fid["fid"], 2), "floor_fid": round(floor["fid"], 2),
            "fid_over_floor": round(fid["fid"] / floor["fid"], 3), "precision": round(fid["precision"], 3),
            "recall": round(fid["recall"], 3), "test_accuracy_ema": round(accuracy["ema"]["accuracy"], 4),
            "test_accuracy_raw": round(accuracy["raw"]["accuracy"], 4), "guided_on_target_independent": guided}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(REPO / "config" / "demo.yaml"), help="the workflow config to run")
    p.add_argument("--experiment", default="digits_demo", help="the config's experiment whose quality is read")
    p.add_argument("--cores", type=int, default=2)
    p.add_argument("--name", default="demo", help="label of this run in the results (e.g. the lever tried)")
    p.add_argument("--workdir", help="run here and keep it (default: a temporary directory, removed)")
    p.add_argument("--out", default=str(RESULTS_DIR / "demo_run.jsonl"))
    args = p.parse_args()

    env = environment(torch.device("cpu"))
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        wall = time.perf_counter()
        subprocess.run([str(Path(sys.executable).parent / "snakemake"), "--snakefile", str(REPO / "Snakefile"),
                        "--directory", str(workdir), "--cores", str(args.cores), "--configfile",
                        str(Path(args.config).resolve())], check=True)
        wall = time.perf_counter() - wall
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        log = max((workdir / ".snakemake" / "log").glob("*.snakemake.log")).read_text()
        jobs = job_times(log)
        config = yaml.safe_load(Path(args.config).read_text())
        results = workdir / config["results"]
        trained = json.loads((results / args.experiment / "config.json").read_text())
        record = {"benchmark": "demo_run", "name": args.name, "config": Path(args.config).name, "cores": args.cores,
                  "workflow_wall_min": round(wall / 60, 2),
                  "workflow_cpu_min": round((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
                                            / 60, 2),
                  "stage_wall_s": stage_seconds(jobs),
                  "recipe": {k: trained[k] for k in RECIPE},
                  **quality(results, args.experiment), **env}
    append_jsonl(Path(args.out), [record])
    print(json.dumps({k: v for k, v in record.items() if k not in env}, indent=1))


if __name__ == "__main__":
    main()
