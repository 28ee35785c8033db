"""Train an independent classifier on a dataset's real training split, to judge conditional samples.

    jointdiff independent-classifier --dataset digits --dataroot data --out results/independent_classifiers/digits.pt

The joint model's own head is a biased judge of guided samples (the guidance optimised it); this small CNN never
saw a generated image. Its accuracy on the real test split is stored with it.
"""

from __future__ import annotations

import argparse
import logging

from jointdiff.choices import DEVICES
from jointdiff.errors import UserError

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, help="prepared, single-label dataset")
    p.add_argument("--dataroot", required=True, metavar="DIR")
    p.add_argument("--out", required=True, metavar="FILE.pt")
    p.add_argument("--epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", choices=DEVICES, help="where to train (the default keeps the CPU's "
                   "numbers: seconds for digits)")


def run(args: argparse.Namespace) -> int:
    from jointdiff.data.specs import get_spec
    spec = get_spec(args.dataset)
    if spec.multi_label:
        raise UserError(f"{spec.name} is multi-label; the independent classifier is for single-label classes")
    if args.epochs < 1:
        raise UserError("--epochs must be >= 1")

    import torch

    from jointdiff.data.loaders import load_uint8_split
    from jointdiff.distributed import resolve_device
    from jointdiff.metrics.independent_classifier import (save_independent_classifier, target_accuracy,
                                                        train_independent_classifier)

    torch.set_num_threads(max(1, torch.get_num_threads()))
    train_x, train_y = load_uint8_split(spec.name, args.dataroot, "train")
    labelled = train_y >= 0  # a domain-adaptation set hides its target domain's labels
    train_x, train_y = train_x[labelled], train_y[labelled]
    test_x, test_y = load_uint8_split(spec.name, args.dataroot, "test")
    model = train_independent_classifier(train_x, train_y, epochs=args.epochs, seed=args.seed,
                                       num_classes=spec.num_classes, device=resolve_device(args.device))
    accuracy = target_accuracy(model, test_x, test_y)
    model.cpu()
    save_independent_classifier(model, args.out, {"dataset": spec.name, "test_accuracy": accuracy,
                                                "epochs": args.epochs, "seed": args.seed})
    log.info("independent classifier for %s: %.2f%% on the real test split -> %s", spec.name, 100 * accuracy, args.out)
    return 0
