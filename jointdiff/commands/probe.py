"""Linear probes of a frozen model's encoder: test accuracy per encoder block and timestep (ours).

    jointdiff probe --model results/cifar10_diffusion_only/model.pt --dataroot data --t-fractions 0,0.1,0.25,0.5 \\
        --out results/cifar10_diffusion_only/metrics/probe_ema.json

For each block (every `input_blocks` output and the middle block) and each t, a logistic regression on the pooled
activations of the training images at t, scored on the test images at t. Works for any model (plain diffusion,
joint, classifier-only); the model is not changed.
"""

from __future__ import annotations

import argparse

from jointdiff.choices import DEVICES, WEIGHTS
from jointdiff.commands.timestep_options import parse_fractions
from jointdiff.errors import UserError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="FILE", help="model.pt from `jointdiff train`")
    p.add_argument("--dataroot", required=True, metavar="DIR", help="data root holding the model's dataset")
    p.add_argument("--out", required=True, metavar="FILE.json")
    p.add_argument("--t-fractions", default="0,0.1,0.25,0.5", metavar="LIST", help="timesteps as fractions of T")
    p.add_argument("--weights", default="ema", choices=WEIGHTS)
    p.add_argument("--train-images", type=int, default=0, metavar="N",
                   help="fit on a seeded subset of N labelled training images (0 = all)")
    p.add_argument("--batch-size", type=int, default=256, metavar="N")
    p.add_argument("--device", default="auto", choices=DEVICES)


def run(args: argparse.Namespace) -> int:
    fractions = parse_fractions(args.t_fractions, "--t-fractions")
    if args.train_images < 0 or args.batch_size < 1:
        raise UserError("--train-images must be >= 0 and --batch-size >= 1")

    from jointdiff.atomic import atomic_write_json
    from jointdiff.distributed import resolve_device
    from jointdiff.keys import KEY_NUMERICS
    from jointdiff.metrics.probe import probe_report
    from jointdiff.gpu.precision import numerics

    result = probe_report(args.model, args.dataroot, t_fractions=fractions, weights=args.weights,
                          train_images=args.train_images, batch_size=args.batch_size,
                          device=resolve_device(args.device))
    result[KEY_NUMERICS] = numerics(resolve_device(args.device))  # as the model's config set it (load_trained)
    atomic_write_json(args.out, result)
    return 0
