"""The benchmark suite: training, optimizer, sampling and FID-feature throughput, each variant against the plain
fp32 eager NCHW baseline in the same run.

Run from the repository root (no Makefile needed):

    python -m benchmarks.run                      # paper (CIFAR10, 32 px) and demo configs, every section
    python -m benchmarks.run --smoke              # seconds: tiny sizes, one repeat (CI)
    python -m benchmarks.run --configs paper --sections train --variants fp32+cl,fp32+cl+compile
    python benchmarks/run.py --device cuda --repeats 5

Sections: `train` (forward + backward + AdamW + EMA of the joint loss, images/s, with the /nocls variants giving
the classifier branch's share of the step), `optim` (AdamW foreach vs fused, EMA; steps/s), `sample` (sampler
steps, images × steps / s, and the per-sample noise draw), `fid` (Inception pool3 features, images/s).
Variants are named in benchmarks/variants.py (`fp32`, `fp32+cl`, `bf16+cl+compile`, `fp32/nocls`, ...).

Every variant is timed in the same process, interleaved (benchmarks/common.py), after one warm-up call; the
warm-up time is reported separately (for +compile it is the compilation). Results print as a table with
ratios to the baseline and are appended as JSON lines to benchmarks/results/<name>.jsonl (default name: the
device type, `smoke` for --smoke), each with the git commit, torch version, threads, load average and device.
Training rows also give the step's FLOPs (torch's FlopCounterMode) and the GFLOP/s reached.

On a shared CPU, run with --threads 1 and read the `cpu s` / `x base cpu` columns (process CPU time): they
measure the work whatever else the machine runs, while wall time with 2 threads under load mostly measures
OpenMP threads waiting for a descheduled partner.

On CPU, bf16 autocast is not in the default variants (this machine's CPU has no AMX: measured 3-7x slower) and
torch.compile only with --compile (inductor compiles the step for minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/run.py`: make `benchmarks` importable as a package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.common import (RESULTS_DIR, REPO, TABLE_COLUMNS, append_jsonl, environment,  # noqa: E402
                               format_table, time_interleaved)
from benchmarks.variants import BASELINE, Variant, parse_variants  # noqa: E402
from jointdiff.config import ExperimentConfig, load_config  # noqa: E402
from jointdiff.distributed import resolve_device  # noqa: E402
from jointdiff.model import count_parameters, build_model  # noqa: E402

SECTIONS = ("train", "optim", "sample", "fid")
SMOKE_FLAGS = ("--dataset digits --image_size 8 --num_channels 32 --num_res_blocks 1 --attention_resolutions 4 "
               "--diffusion_steps 100 --train_with_classifier True --classifier_augmentation mixup")


@dataclass(frozen=True)
class Preset:
    """A model config and its batch sizes; CUDA batches follow the paper (256), CPU ones fit the machine."""

    path: str | None
    flags: str
    train_batch: tuple[int, int]     # (cpu, cuda)
    sample_batch: tuple[int, int]
    sample_steps: int                # respaced steps timed per sampler call

    def config(self) -> ExperimentConfig:
        return load_config(REPO / self.path if self.path else None, flags=self.flags or None)


PRESETS = {
    "paper": Preset("config/experiments/cifar10.yaml", "", (8, 256), (8, 256), 3),
    "demo": Preset("config/experiments/digits_demo.yaml", "", (64, 64), (64, 256), 5),
    "smoke": Preset(None, SMOKE_FLAGS, (4, 4), (2, 2), 2),
}
FID_BATCH = {"cpu": 8, "cuda": 250, "smoke": 1}
DEFAULT_VARIANTS = {  # per device: training, sampling
    "cpu": ("fp32,fp32+cl,fp32/nocls,fp32+cl/nocls", "fp32,fp32+cl"),
    "cuda": ("fp32,fp32+cl,bf16,bf16+cl,fp32/nocls,bf16+cl/nocls", "fp32,fp32+cl,bf16,bf16+cl"),
}


# ---------------------------------------------------------------------------------------------------------------
def rows_from_timings(section: str, config: str, timings, batch: int, work: float, unit: str,
                      baseline: str | None = BASELINE, **extra) -> list[dict[str, Any]]:
    """Table/JSON rows: median seconds, throughput = work / median (work = images, or images × steps), the ratio of
    throughputs to the baseline's, and the same ratio in process CPU time (cpu_ratio)."""
    rows = []
    base = timings.get(baseline) if baseline else None
    for name, timing in timings.items():
        rows.append({"section": section, "config": config, "variant": name, "batch": batch,
                     "median_s": timing.median_s, "all_s": timing.seconds, "throughput": work / timing.median_s,
                     "unit": unit, "ratio": base.median_s / timing.median_s if base else None,
                     "median_cpu_s": timing.median_cpu_s, "all_cpu_s": timing.cpu_seconds,
                     "cpu_ratio": base.median_cpu_s / timing.median_cpu_s if base else None,
                     "peak_mib": timing.peak_mib, "first_call_s": timing.first_call_s, **extra})
    return rows


def classifier_shares(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """For each variant timed with and without the head: the share of the step the classifier branch takes,
    1 - t(nocls) / t(with head), in wall time (share) and in process CPU time (share_cpu)."""
    by_name = {r["variant"]: r for r in rows}
    out = []
    for name, row in by_name.items():
        plain = by_name.get(name + "/nocls")
        if plain:
            out.append({"section": "classifier-share", "config": row["config"], "variant": name,
                        "batch": row["batch"], "share": 1 - plain["median_s"] / row["median_s"],
                        "share_cpu": 1 - plain["median_cpu_s"] / row["median_cpu_s"],
                        "with_classifier_s": row["median_s"], "without_classifier_s": plain["median_s"]})
    return out


def run_train(name: str, cfg: ExperimentConfig, variants: list[Variant], device, batch: int, repeats: int,
              warmup: int):
    from benchmarks.training import step_flops, training_steps
    steps = training_steps(cfg, variants, device, batch)
    flops = {}  # per classifier setting: the same work in every layout, precision and compilation
    for step in steps.values():
        if not step.variant.compile and step.variant.classifier not in flops:
            flops[step.variant.classifier] = step_flops(step)
    timings = time_interleaved(steps, repeats, device, warmup)
    rows = rows_from_timings("train", name, timings, batch, batch, "img/s", parameters=count_parameters(
        next(iter(steps.values())).model))
    for row in rows:
        row["gflop_per_step"] = flops.get(steps[row["variant"]].variant.classifier, 0.0) / 1e9
        row["gflop_per_s"] = row["gflop_per_step"] / row["median_s"]
        row["gflop_per_cpu_s"] = row["gflop_per_step"] / row["median_cpu_s"]
    return rows + classifier_shares(rows)


def run_optim(name: str, cfg: ExperimentConfig, device, repeats: int, warmup: int):
    from benchmarks.training import optimizer_calls
    timings = time_interleaved(optimizer_calls(cfg, device), repeats, device, warmup)
    return rows_from_timings("optim", name, timings, None, 1, "steps/s", baseline="adamw-foreach")


def run_sample(name: str, cfg: ExperimentConfig, variants: list[Variant], device, batch: int, steps: int,
               repeats: int, warmup: int):
    from benchmarks.sampling import noise_calls, sampling_calls
    calls = sampling_calls(cfg, variants, device, batch, steps)  # ancestral per variant, DDIM for the baseline
    timings = time_interleaved(calls, repeats, device, warmup)
    rows = rows_from_timings("sample", name, timings, batch, batch * steps, "img*step/s", steps=steps)
    timings = time_interleaved(noise_calls(cfg, device, batch), max(repeats, 3), device, warmup)
    rows += rows_from_timings("sample-noise", name, timings, batch, batch, "img/s", baseline="per-sample")
    return rows


def run_fid(device, batch: int, repeats: int, warmup: int):
    from benchmarks.fid_features import feature_calls
    from jointdiff.metrics.inception import resolve_inception_weights
    timings = time_interleaved(feature_calls(resolve_inception_weights(), device, batch), repeats, device, warmup)
    return rows_from_timings("fid", "inception", timings, batch, batch, "img/s")


def projections(rows: list[dict[str, Any]]) -> list[str]:
    """Lines of derived numbers: the fastest training path, sampling time per image at 1000/100/50 steps."""
    lines = []
    for config in dict.fromkeys(r["config"] for r in rows if r["section"] == "train"):
        train = [r for r in rows if r["section"] == "train" and r["config"] == config
                 and not r["variant"].endswith("/nocls")]
        best = max(train, key=lambda r: r["throughput"])
        lines.append(f"{config}: fastest training path {best['variant']} at {best['ratio']:.2f}x the fp32 eager "
                     f"NCHW baseline ({best['throughput']:.2f} vs {best['throughput'] / best['ratio']:.2f} img/s; "
                     f"{best['cpu_ratio']:.2f}x in CPU time)")
    for r in rows:
        if r["section"] == "sample" and not r["variant"].endswith(" ddim"):
            per_step = 1 / r["throughput"]
            lines.append(f"{r['config']} sampling {r['variant']}: per image {1000 * per_step:.1f} s at 1000 steps, "
                         f"{100 * per_step:.1f} s at 100, {50 * per_step:.1f} s at 50 (batch {r['batch']})")
    return lines


# ---------------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    add = parser.add_argument
    add("--configs",         default="paper,demo", metavar="LIST", help=f"comma list of {', '.join(PRESETS)}")
    add("--sections",        default=",".join(SECTIONS), metavar="LIST", help=f"comma list of {', '.join(SECTIONS)}")
    add("--variants",        default=None, metavar="LIST", help="training variants (default: per device)")
    add("--sample-variants", default=None, metavar="LIST", help="sampling variants (default: per device)")
    add("--compile",         action="store_true", help="add the +compile variants (minutes to compile on CPU)")
    add("--repeats",         type=int, default=3, metavar="N", help="timed rounds per section (default 3)")
    add("--batch",           type=int, default=0, metavar="N", help="training batch (default: per config, device)")
    add("--device",          default="auto", choices=("auto", "cpu", "cuda"), help="where to run")
    add("--threads",         type=int, default=0, metavar="N", help="torch threads (0: torch's default)")
    add("--smoke",           action="store_true", help="tiny sizes, one repeat, no warm-up: checks the suite runs")
    add("--name",            default=None, metavar="NAME", help="results/<NAME>.jsonl (default: device, or smoke)")
    add("--out",             type=Path, default=None, metavar="FILE", help="JSON-lines file (overrides --name)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    configs = ["smoke"] if args.smoke else [c for c in args.configs.split(",") if c]
    sections = [s for s in args.sections.split(",") if s]
    for bad in [c for c in configs if c not in PRESETS] + [s for s in sections if s not in SECTIONS]:
        parser.error(f"unknown config or section {bad!r}")
    train_default, sample_default = DEFAULT_VARIANTS[device.type]
    if args.smoke:
        train_default, sample_default = "fp32,fp32+cl,fp32/nocls", "fp32,fp32+cl"
    train_variants = parse_variants(args.variants or train_default)
    sample_variants = parse_variants(args.sample_variants or sample_default)
    if args.compile:
        fastest = "bf16+cl+compile" if device.type == "cuda" else "fp32+cl+compile"
        train_variants += parse_variants(fastest)[1:]
        sample_variants += parse_variants(fastest)[1:]
    repeats, warmup = (1, 0) if args.smoke else (args.repeats, 1)
    out = args.out or RESULTS_DIR / f"{args.name or ('smoke' if args.smoke else device.type)}.jsonl"
    on = 1 if device.type == "cuda" else 0

    rows: list[dict[str, Any]] = []
    load_before = os.getloadavg()[0]
    for name in configs:
        preset, cfg = PRESETS[name], PRESETS[name].config()
        print(f"# {name}: {count_parameters(build_model(cfg)):,} parameters, {cfg.resolved_image_size()} px",
              flush=True)
        if "train" in sections:
            rows += run_train(name, cfg, train_variants, device, args.batch or preset.train_batch[on], repeats,
                              warmup)
        if "optim" in sections:
            rows += run_optim(name, cfg, device, max(repeats, 3), warmup)
        if "sample" in sections:
            rows += run_sample(name, cfg, sample_variants, device, preset.sample_batch[on], preset.sample_steps,
                               repeats, warmup)
    if "fid" in sections:
        rows += run_fid(device, FID_BATCH["smoke" if args.smoke else device.type], repeats, warmup)

    env = environment(device) | {"load_average_1min_start": round(load_before, 2), "smoke": args.smoke,
                                 "repeats": repeats}
    timed = [r for r in rows if r["section"] != "classifier-share"]
    print(format_table(timed, TABLE_COLUMNS))
    for r in rows:
        if r["section"] == "classifier-share":
            print(f"classifier branch ({r['config']}, {r['variant']}): {100 * r['share']:.0f}% of the training step "
                  f"({100 * r['share_cpu']:.0f}% of its CPU time)")
    for line in projections(rows):
        print(line)
    if args.smoke:
        print("smoke run: single cold calls at tiny sizes; the numbers only show that every path runs")
    print(f"load average (1 min) {load_before:.2f} at start, {env['load_average_1min']:.2f} at end; "
          f"{env['threads']} threads; {env['device_name']}")
    append_jsonl(out, ({"benchmark": "suite", **r, **env} for r in rows))
    print(f"appended {len(rows)} lines to {out}")
    return rows


if __name__ == "__main__":
    main()
