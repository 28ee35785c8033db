"""Score guided samples: how often they are classified as their target class (or have their target attribute).

    jointdiff score --samples guided_ema_alpha10.npz --model model.pt [--independent-classifier ic.pt] --out m.json

Two judges: the joint model's own head (clean images, t = 0), and optionally an independent classifier trained on
the real training split (`jointdiff independent-classifier`) — the honest one, since the guidance optimised the
head itself.
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
    p.add_argument("--out", required=True, metavar="FILE.json")
    p.add_argument("--device", default="auto", choices=DEVICES)


def run(args: argparse.Namespace) -> int:
    if not Path(args.samples).is_file():
        raise UserError(f"--samples {args.samples} does not exist")
    if args.independent_classifier and not Path(args.independent_classifier).is_file():
        raise UserError(f"--independent-classifier {args.independent_classifier} does not exist")

    from jointdiff import keys as K
    from jointdiff.atomic import atomic_write_json
    from jointdiff.distributed import resolve_device
    from jointdiff.metrics.scores import score_guided_samples

    result = score_guided_samples(args.samples, args.model, args.independent_classifier,
                                  resolve_device(args.device))
    atomic_write_json(args.out, result)
    log.info("alpha %s: own head %.3f, independent classifier %s", result[K.KEY_ALPHA],
             result[K.KEY_OWN_TARGET_ACCURACY], result[K.KEY_INDEPENDENT_TARGET_ACCURACY])
    return 0
