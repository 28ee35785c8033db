"""What the demo's samples are worth per training length: FID against the floor per sampler, guided target rates.

    python -m benchmarks.demo_quality --dataroot data --steps 600,1200,2400 \
        --samplers ancestral:fixedlarge:100,ancestral:fixedsmall:100,ddim:fixedlarge:50 \
        --train-flags "--noise_schedule linear_upstream" --name upstream-beta
    python -m benchmarks.demo_quality --dataroot data --steps 700,850,1000 --samplers ancestral:fixedsmall:50 \
        --guided-alphas 10,100,1000

Trains the demo experiment (config/experiments/digits_demo.yaml with --train-flags on top) once, resuming the same
run directory to each step count in turn; at every step count it samples the same seeds with each sampler
(sampler:variance:steps, x̂0 clipped) and computes FID, precision, recall and KID against the demo's reference
(500 train digits, smoke protocol) — the real commands, `jointdiff train/sample/fid`. The floor (real test digits
against the same reference) is measured once. One JSON line per (steps, sampler) goes to
benchmarks/results/demo_quality.jsonl with the training's wall and CPU minutes so far: the curve of FID against
minutes of training that says what the demo's budget buys.
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/demo_quality.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.common import REPO, RESULTS_DIR, append_jsonl, environment  # noqa: E402

DEMO = REPO / "config" / "experiments" / "digits_demo.yaml"
METRICS = ("fid", "precision", "recall", "kid_mean")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def jointdiff(*args: str) -> tuple[float, float]:
    """Run one `jointdiff` command; (wall seconds, CPU seconds)."""
    wall, cpu = time.perf_counter(), children_cpu_seconds()
    subprocess.run([sys.executable, "-m", "jointdiff", *args], check=True)
    return time.perf_counter() - wall, children_cpu_seconds() - cpu


def fid(samples: Path | None, out: Path, args: argparse.Namespace) -> dict:
    what = ["--samples", str(samples)] if samples else ["--real-split", "test"]
    jointdiff("fid", *what, "--dataset", "digits", "--dataroot", args.dataroot, "--smoke", "--reference-limit",
              str(args.reference_limit), "--device", "cpu", "--out", str(out))
    result = json.loads(out.read_text())
    return {k: result.get(k) for k in METRICS}


def guided_on_target(model: Path, alpha: str, judge: Path, tmp: Path, args: argparse.Namespace) -> dict:
    """Guided samples toward every class at `alpha`, scored: their share on target by each judge, and their time."""
    sampler, variance, sampler_steps = args.guided_sampler.split(":")
    samples = tmp / f"{model.stem}-guided-{alpha}.npz"
    wall, cpu = jointdiff("sample", "--model", str(model), "--alpha", alpha, "--guidance", "x0", "--classes", "all",
                          "--per-class", "10", "--sampler", sampler, "--variance", variance, "--steps",
                          sampler_steps, "--clip-x0", "--device", "cpu", "--out", str(samples))
    jointdiff("score", "--samples", str(samples), "--model", str(model), "--independent-classifier", str(judge),
              "--device", "cpu", "--out", str(samples.with_suffix(".json")))
    scored = json.loads(samples.with_suffix(".json").read_text())
    return {"guided_sampler": args.guided_sampler, "guidance": "x0", "alpha": float(alpha),
            "n_samples": scored["n"], "sample_wall_s": round(wall, 1), "sample_cpu_s": round(cpu, 1),
            "on_target_independent": scored["independent_target_accuracy"],
            "on_target_own_head": scored["own_head_target_accuracy"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataroot", required=True)
    p.add_argument("--name", default="demo", help="label of this training setting in the results")
    p.add_argument("--train-flags", default="", help="experiment flags on top of the demo's file")
    p.add_argument("--steps", default="600,1200,2400", help="comma list of training step counts")
    p.add_argument("--samplers", default="ancestral:fixedlarge:100,ancestral:fixedsmall:100,ddim:fixedlarge:50")
    p.add_argument("--samples", type=int, default=500)
    p.add_argument("--reference-limit", type=int, default=500)
    p.add_argument("--guided-alphas", default="", help="comma list of alphas for guided samples (none by default)")
    p.add_argument("--guided-sampler", default="ancestral:fixedsmall:50", help="sampler:variance:steps of them")
    p.add_argument("--run-dir", help="keep the run here (default: a temporary directory)")
    p.add_argument("--out", default=str(RESULTS_DIR / "demo_quality.jsonl"))
    args = p.parse_args()

    env = environment(torch.device("cpu"))
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(args.run_dir or tmp) / args.name
        floor = fid(None, Path(tmp) / "floor.json", args)
        print(json.dumps({"floor": floor}), flush=True)
        judge = Path(tmp) / "independent_classifier.pt"
        if args.guided_alphas:
            jointdiff("independent-classifier", "--dataset", "digits", "--dataroot", args.dataroot, "--device", "cpu",
                      "--out", str(judge))
        train_wall = train_cpu = 0.0
        for steps in (int(s) for s in args.steps.split(",")):
            model = run_dir / f"model-{steps}.pt"
            wall, cpu = jointdiff("train", "--config", str(DEMO), *shlex.split(args.train_flags), "--num_steps",
                                  str(steps), "--dataroot", args.dataroot, "--run-dir", str(run_dir),
                                  "--out", str(model), "--device", "cpu", "--no-progress")
            train_wall, train_cpu = train_wall + wall, train_cpu + cpu
            trained = {"benchmark": "demo_quality", "name": args.name, "train_flags": args.train_flags,
                       "train_steps": steps, "train_wall_min": round(train_wall / 60, 2),
                       "train_cpu_min": round(train_cpu / 60, 2)}
            for setting in args.samplers.split(","):
                sampler, variance, sampler_steps = setting.split(":")
                samples = Path(tmp) / f"{steps}-{sampler}-{variance}-{sampler_steps}.npz"
                sample_wall, sample_cpu = jointdiff(
                    "sample", "--model", str(model), "--seeds", f"0-{args.samples - 1}",
                    "--sampler", sampler, "--variance", variance, "--steps", sampler_steps, "--clip-x0",
                    "--batch-size", "250", "--device", "cpu", "--out", str(samples))
                record = {**trained, "sampler": sampler, "variance": variance, "sampler_steps": int(sampler_steps),
                          "n_samples": args.samples, "sample_wall_s": round(sample_wall, 1),
                          "sample_cpu_s": round(sample_cpu, 1),
                          **fid(samples, samples.with_suffix(".json"), args),
                          **{f"floor_{k}": v for k, v in floor.items()}, **env}
                append_jsonl(Path(args.out), [record])
                print(json.dumps({k: record[k] for k in ("name", "train_steps", "train_wall_min", "sampler",
                                                         "variance", "sampler_steps", "sample_wall_s", *METRICS)}),
                      flush=True)
            for alpha in filter(None, args.guided_alphas.split(",")):
                record = {**trained, **guided_on_target(model, alpha, judge, Path(tmp), args), **env}
                append_jsonl(Path(args.out), [record])
                print(json.dumps({k: record[k] for k in ("name", "train_steps", "alpha", "on_target_independent",
                                                         "on_target_own_head", "sample_wall_s")}), flush=True)


if __name__ == "__main__":
    main()
