"""Accuracy of the joint head on every image of a split: clean (t = 0) and noised to fractions of T.

    jointdiff accuracy --model results/cifar10/model.pt --dataroot data --out results/cifar10/metrics/accuracy.json

Both raw and EMA weights are measured (the authors evaluated raw weights only). Eval mode, no augmentation,
no image dropped (the authors' loader dropped the last partial batch).
"""

from __future__ import annotations

import argparse

from jointdiff.choices import DEVICES, HEAD_T, WEIGHTS
from jointdiff.commands.timestep_options import parse_fractions
from jointdiff.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="FILE", help="model.pt from `jointdiff train`")
    p.add_argument("--dataroot", required=True, metavar="DIR", help="data root holding the model's dataset")
    p.add_argument("--out", required=True, metavar="FILE.json", help="where to write the metrics")
    p.add_argument("--split", default="test", help="split to evaluate (test, valid, train)")
    p.add_argument("--noise-fractions", default="0", metavar="LIST",
                   help="comma list of t/T at which to measure (0 = clean images)")
    p.add_argument("--head-t", default="zero", choices=HEAD_T,
                   help="timestep feature the head reads on noised images (the encoder runs at t either way); "
                        "zero: the value it was trained with (measured far more accurate on the digits demo)")
    p.add_argument("--weights", default="raw,ema", metavar="LIST", help="raw, ema or both")
    p.add_argument("--batch-size", type=int, default=500, metavar="N")
    p.add_argument("--device", default="auto", choices=DEVICES)


def run(args: argparse.Namespace) -> int:
    fractions = parse_fractions(args.noise_fractions, "--noise-fractions")
    weights = [w.strip() for w in args.weights.split(",")]
    if any(w not in WEIGHTS for w in weights):
        raise UserError(f"--weights expects raw, ema or raw,ema, got {args.weights!r}")
    if args.batch_size < 1:
        raise UserError("--batch-size must be >= 1")

    from jointdiff.atomic import atomic_write_json
    from jointdiff.distributed import resolve_device
    from jointdiff.keys import KEY_NUMERICS
    from jointdiff.metrics.accuracy import accuracy_report
    from jointdiff.gpu.precision import numerics

    result = accuracy_report(args.model, args.dataroot, split=args.split, noise_fractions=fractions,
                             head_t=args.head_t, weights=weights, batch_size=args.batch_size,
                             device=resolve_device(args.device))
    result[KEY_NUMERICS] = numerics(resolve_device(args.device))  # as the model's config set it (load_trained)
    atomic_write_json(args.out, result)
    return 0
