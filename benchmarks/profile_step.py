"""Where a training step's time goes: torch.profiler's top operators by self CPU (or CUDA) time, per variant.

    python -m benchmarks.profile_step                          # paper config, fp32 vs fp32+cl, batch 8
    python -m benchmarks.profile_step --config demo --variants fp32,fp32+cl --top 20 --out profile.txt

Each variant takes one warm-up step, then one profiled step (the same step benchmarks.run times).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

from benchmarks.common import environment, synchronize  # noqa: E402
from benchmarks.run import PRESETS  # noqa: E402
from benchmarks.training import training_steps  # noqa: E402
from benchmarks.variants import parse_variants  # noqa: E402
from jointdiff.distributed import resolve_device  # noqa: E402


def profile_table(step, device: torch.device, top: int) -> tuple[str, float]:
    """(the profiler's table of the `top` operators by self time, the step's total self time in seconds)."""
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    step()  # warm-up
    synchronize(device)
    with profile(activities=activities) as prof:
        step()
        synchronize(device)
    key = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    events = prof.key_averages()
    total = sum(getattr(e, key) for e in events) / 1e6
    return events.table(sort_by=key, row_limit=top, max_name_column_width=48), total


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="paper", choices=sorted(PRESETS), help="model config")
    parser.add_argument("--variants", default="fp32,fp32+cl", metavar="LIST", help="variants to profile")
    parser.add_argument("--batch", type=int, default=0, metavar="N", help="batch (default: the config's)")
    parser.add_argument("--top", type=int, default=15, metavar="N", help="operators per table")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to run")
    parser.add_argument("--out", type=Path, default=None, metavar="FILE", help="also write the tables here")
    args = parser.parse_args(argv)
    device = resolve_device(args.device)
    preset = PRESETS[args.config]
    batch = args.batch or preset.train_batch[device.type == "cuda"]
    steps = training_steps(preset.config(), parse_variants(args.variants), device, batch)
    text = []
    for name, step in steps.items():
        table, total = profile_table(step, device, args.top)
        text.append(f"## {args.config} {name}, batch {batch}: {total:.2f} s self time in total\n{table}")
        print(text[-1], flush=True)
    env = environment(device)
    text.append(f"{env['device_name']}, {env['threads']} threads, load average (1 min) {env['load_average_1min']}, "
                f"torch {env['torch']}, commit {env['git_commit']}")
    print(text[-1])
    if args.out:
        args.out.write_text("\n\n".join(text) + "\n")


if __name__ == "__main__":
    main()
