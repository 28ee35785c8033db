"""Score guided samples: how often they are classified as their target class (or have their target attribute).

    jointdiff score --samples guided_ema_alpha10.npz --model model.pt [--independent-classifier ic.pt] --out m.json

Two judges: the classifier that guided the samples (the joint model's own head, or for classic guidance the noised
classifier given with --noised-classifier; clean images, t = 0), and optionally an independent classifier trained on
the real training split (`jointdiff independent-classifier`) — the honest one, since the guidance optimised the
other.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from jointdiff.choices import DEVICES
from jointdiff.errors import UserError

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--samples", required=True, metavar="FILE.npz", help="guided samples from `jointdiff sample`")
    p.add_argument("--model", required=True, metavar="FILE", help="the model.pt that made them")
    p.add_argument("--independent-classifier", metavar="FILE",
                   help="a classifier from `jointdiff independent-classifier` (optional)")
    p.add_argument("--noised-classifier", metavar="FILE",
                   help="classic-guidance samples: the noised classifier that guided them, their own judge (at t = 0)")
    p.add_argument("--out", required=True, metavar="FILE.json")
    p.add_argument("--device", default="auto", choices=DEVICES)


def run(args: argparse.Namespace) -> int:
    if not Path(args.samples).is_file():
        raise UserError(f"--samples {args.samples} does not exist")
    for flag in ("independent_classifier", "noised_classifier"):
        if getattr(args, flag) and not Path(getattr(args, flag)).is_file():
            raise UserError(f"--{flag.replace('_', '-')} {getattr(args, flag)} does not exist")

    from jointdiff import keys as K
    from jointdiff.atomic import atomic_write_json
    from jointdiff.distributed import resolve_device
    from jointdiff.metrics.scores import score_guided_samples
    from jointdiff.gpu.precision import numerics

    result = score_guided_samples(args.samples, args.model, args.independent_classifier,
                                  resolve_device(args.device), noised_classifier=args.noised_classifier)
    result[K.KEY_NUMERICS] = numerics(resolve_device(args.device))  # as the model's config set it (load_trained)
    atomic_write_json(args.out, result)
    log.info("alpha %s: own classifier %.3f, independent classifier %s", result[K.KEY_ALPHA],
             result[K.KEY_OWN_TARGET_ACCURACY], result[K.KEY_INDEPENDENT_TARGET_ACCURACY])
    return 0
