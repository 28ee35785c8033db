"""CPU micro-benchmark of one joint training step's forward + backward (no optimiser step).

Cases: the paper's CIFAR10 model (seed README flags) at batch 8, and demo-like digits models (16 px) at batch 64.
Prints seconds per batch and appends one JSON line per case to benchmarks/results/model.jsonl.

    python benchmarks/bench_model.py            # all cases, 3 timed iterations each after 1 warm-up
    python benchmarks/bench_model.py --smoke    # one tiny iteration, to check that the script runs
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import datetime, timezone
from pathlib import Path

import torch

from jointdiff.augment import build_augmentation
from jointdiff.config import load_config
from jointdiff.diffusion import build_diffusion
from jointdiff.joint_loss import joint_loss
from jointdiff.model import build_model, count_parameters

SEED_CIFAR10 = ("--dataset CIFAR10 --num_channels 128 --num_res_blocks 3 --learn_sigma False --dropout 0.3 "
                "--diffusion_steps 1000 --noise_schedule linear --train_with_classifier True "
                "--classifier_loss_scaling 0.001")
DEMO = ("--dataset digits --num_res_blocks 2 --dropout 0.1 --diffusion_steps 1000 --train_with_classifier True "
        "--classifier_dropout 0.1 --classifier_augmentation none --classifier_loss_scaling 0.1")
CASES = {  # name -> (flags, batch)
    "cifar10-paper": (SEED_CIFAR10, 8),
    "digits-demo-c32": (DEMO + " --num_channels 32", 64),
    "digits-demo-c64": (DEMO + " --num_channels 64", 64),
}
SMOKE = ("--dataset digits --image_size 8 --num_channels 32 --num_res_blocks 1 --train_with_classifier True "
         "--classifier_augmentation mixup", 4)
RESULTS = Path(__file__).parent / "results" / "model.jsonl"


def time_case(flags: str, batch: int, iters: int) -> dict:
    """Median seconds of joint_loss + backward over `iters` batches, after one warm-up batch."""
    cfg = load_config(flags=flags)
    model, diffusion, augment = build_model(cfg).train(), build_diffusion(cfg), build_augmentation(cfg)
    size, channels = cfg.resolved_image_size(), cfg.resolved_channels()
    x0 = torch.rand(batch, channels, size, size) * 2 - 1
    y = torch.randint(0, cfg.resolved_num_classes(), (batch,))
    seconds = []
    for _ in range(iters + 1):
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        joint_loss(model, diffusion, x0, y, scaling=cfg.classifier_loss_scaling,
                   noised_classifier=cfg.train_noised_classifier, multi_label=cfg.multi_label_classifier,
                   augment=augment)["loss"].backward()
        seconds.append(time.perf_counter() - start)
    return {"seconds_per_batch": statistics.median(seconds[1:]), "all_seconds": seconds[1:],
            "parameters": count_parameters(model), "flags": flags}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="one tiny iteration only")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma list of {', '.join(CASES)}")
    parser.add_argument("--iters", type=int, default=3, metavar="N", help="timed iterations per case")
    parser.add_argument("--threads", type=int, default=0, metavar="N", help="torch threads; 0 = torch's default")
    parser.add_argument("--out", type=Path, default=RESULTS, metavar="FILE", help="JSON-lines file to append to")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    runs = {"smoke": SMOKE} if args.smoke else {name: CASES[name] for name in args.cases.split(",")}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for name, (flags, batch) in runs.items():
        result = {"benchmark": "model", "case": name, "batch": batch, "smoke": args.smoke,
                  **time_case(flags, batch, 1 if args.smoke else args.iters),
                  "threads": torch.get_num_threads(), "torch": torch.__version__, "cpu": platform.processor(),
                  "load_average_1min": os.getloadavg()[0],
                  "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        print(f"{name:<18} batch {batch:>3}  {result['seconds_per_batch']:8.3f} s/batch  "
              f"({result['parameters']:,} parameters, {result['threads']} threads)")
        with args.out.open("a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
