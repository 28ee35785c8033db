"""Accuracy of the joint head on every image of a split: clean (t = 0) and noised to fractions of T.

    jointdiff accuracy --model results/cifar10/model.pt --dataroot data --out results/cifar10/metrics/accuracy.json

Both raw and EMA weights are measured (the authors evaluated raw weights only). Eval mode, no augmentation,
no image dropped (the authors' loader dropped the last partial batch).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from jointdiff.errors import UserError

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="FILE", help="model.pt from `jointdiff train`")
    p.add_argument("--dataroot", required=True, metavar="DIR", help="data root holding the model's dataset")
    p.add_argument("--out", required=True, metavar="FILE.json", help="where to write the metrics")
    p.add_argument("--split", default="test", help="split to evaluate (test, valid, train)")
    p.add_argument("--noise-fractions", default="0", metavar="LIST",
                   help="comma list of t/T at which to measure (0 = clean images)")
    p.add_argument("--head-t", default="zero", choices=("zero", "t"),
                   help="timestep feature the head reads on noised images (the encoder runs at t either way); "
                        "zero: the value it was trained with (measured far more accurate, issue 6)")
    p.add_argument("--weights", default="raw,ema", metavar="LIST", help="raw, ema or both")
    p.add_argument("--batch-size", type=int, default=500, metavar="N")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def parse_fractions(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise UserError(f"--noise-fractions expects a comma list of numbers in [0, 1], got {text!r}")
    if any(not 0 <= v <= 1 for v in values):
        raise UserError(f"--noise-fractions must lie in [0, 1], got {text!r}")
    return values


def run(args: argparse.Namespace) -> int:
    fractions = parse_fractions(args.noise_fractions)
    weights = [w.strip() for w in args.weights.split(",")]
    if any(w not in ("raw", "ema") for w in weights):
        raise UserError(f"--weights expects raw, ema or raw,ema, got {args.weights!r}")
    if args.batch_size < 1:
        raise UserError("--batch-size must be >= 1")

    from jointdiff.data.loaders import load_split
    from jointdiff.atomic import atomic_write_json
    from jointdiff.metrics.accuracy import accuracy_from_logits, collect_logits
    from jointdiff.trained import load_trained, resolve_device

    import torch

    device = resolve_device(args.device)
    result: dict = {"model": str(args.model), "split": args.split, "weights": {}, "noise_curve": {},
                    "head_t": args.head_t}
    for name in weights:
        trained = load_trained(args.model, name, device)
        cfg = trained.cfg
        if trained.model.head is None:
            raise UserError(f"{args.model} was trained without the classifier head: no accuracy to measure")
        data = load_split(cfg.dataset, args.dataroot, args.split, image_size=cfg.resolved_image_size(),
                          channels=cfg.resolved_channels())
        indices = torch.arange(len(data))
        T = trained.diffusion.num_timesteps
        curve = []
        for fraction in fractions:
            t = min(T - 1, round(fraction * T))
            logits, labels = collect_logits(trained.model, data.get_batch, indices, device=device,
                                            batch_size=args.batch_size, t=t, diffusion=trained.diffusion,
                                            head_t=args.head_t)
            acc = accuracy_from_logits(logits, labels, cfg.multi_label_classifier)
            if t == 0:
                result["weights"][name] = acc
            curve.append({"t": t, "t_fraction": fraction, "accuracy": acc["accuracy"]})
            log.info("%s weights, t=%d: accuracy %.4f on %d images", name, t, acc["accuracy"], acc["n"])
        result["noise_curve"][name] = curve
        if name not in result["weights"]:  # 0 was not among the fractions: measure clean accuracy too
            logits, labels = collect_logits(trained.model, data.get_batch, indices, device=device,
                                            batch_size=args.batch_size)
            result["weights"][name] = accuracy_from_logits(logits, labels, cfg.multi_label_classifier)
        result.update({"experiment": cfg.experiment_name or Path(args.model).parent.name, "dataset": cfg.dataset,
                       "multi_label": cfg.multi_label_classifier, "step": trained.step, "n": len(data)})
    atomic_write_json(args.out, result)
    return 0
