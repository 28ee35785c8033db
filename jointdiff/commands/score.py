"""Score guided samples: how often they are classified as their target class (or have their target attribute).

    jointdiff score --samples guided_ema_alpha10.npz --model model.pt [--reference-classifier ref.pt] --out m.json

Two judges: the joint model's own head (clean images, t = 0), and optionally an independent reference
classifier trained on the real training split (`jointdiff reference-classifier`) — the honest one, since the
guidance optimised the head itself.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from jointdiff.errors import UserError

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--samples", required=True, metavar="FILE.npz", help="guided samples from `jointdiff sample`")
    p.add_argument("--model", required=True, metavar="FILE", help="the model.pt that made them")
    p.add_argument("--reference-classifier", metavar="FILE", help="independent classifier (optional)")
    p.add_argument("--out", required=True, metavar="FILE.json")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def per_class_accuracy(pred, labels) -> dict[str, float]:
    return {str(int(c)): float((pred[labels == c] == c).float().mean()) for c in labels.unique()}


def attribute_scores(pred, targets, attribute: int) -> dict[str, object]:
    """Attribute-guided samples: the target attribute's hit rate (overall, and for off / on targets), and how
    many of all the attributes agree with the target vector."""
    hit = pred[:, attribute] == targets[:, attribute]
    return {"attribute": attribute, "own_head_target_accuracy": float(hit.float().mean()),
            "own_head_per_class": {name: float(hit[targets[:, attribute] == value].float().mean())
                                   for name, value in (("off", 0), ("on", 1))},
            "own_head_attribute_agreement": float((pred == targets).float().mean())}


def run(args: argparse.Namespace) -> int:
    samples_path = Path(args.samples)
    if not samples_path.is_file():
        raise UserError(f"--samples {samples_path} does not exist")
    if args.reference_classifier and not Path(args.reference_classifier).is_file():
        raise UserError(f"--reference-classifier {args.reference_classifier} does not exist")

    import numpy as np
    import torch

    from jointdiff.counterfactual import predict
    from jointdiff.images import from_uint8
    from jointdiff.atomic import atomic_write_json
    from jointdiff.trained import load_trained, resolve_device

    data = np.load(samples_path)
    labels = torch.as_tensor(data["labels"]).long()
    if (labels < 0).any():
        raise UserError(f"{samples_path} holds unconditional samples (label -1); score needs guided samples")
    by_attribute = "attribute" in data
    if by_attribute and args.reference_classifier:
        raise UserError("--reference-classifier judges classes; these samples were guided toward an attribute")
    settings = json.loads(str(data["settings"]))
    device = resolve_device(args.device)
    trained = load_trained(args.model, "ema", device)
    multi = trained.cfg.multi_label_classifier
    if by_attribute != multi:
        raise UserError(f"{samples_path} and {args.model} do not match: attribute-guided samples need an "
                        "attribute model and class-guided samples a class model")
    x = from_uint8(data["images"])
    own = torch.cat([predict(trained.model, x[i:i + 500].to(device), multi) for i in range(0, len(x), 500)])
    result = {"experiment": trained.cfg.experiment_name or Path(args.model).parent.name,
              "samples": str(samples_path), "n": len(labels), "alpha": float(data["alpha"]) if "alpha" in data else None,
              "weights": settings.get("weights"), "sampler": settings, "reference_target_accuracy": None}
    if by_attribute:
        result |= attribute_scores(own, labels, int(data["attribute"]))
    else:
        result |= {"own_head_target_accuracy": float((own == labels).float().mean()),
                   "own_head_per_class": per_class_accuracy(own, labels)}
    if args.reference_classifier:
        from jointdiff.metrics.reference_classifier import load_reference_classifier, predict
        ref, ref_meta = load_reference_classifier(args.reference_classifier)
        ref_pred = predict(ref, torch.as_tensor(data["images"]).permute(0, 3, 1, 2).contiguous())
        result["reference_classifier"] = {"path": str(args.reference_classifier), **ref_meta}
        result["reference_target_accuracy"] = float((ref_pred == labels).float().mean())
        result["reference_per_class"] = per_class_accuracy(ref_pred, labels)
    atomic_write_json(args.out, result)
    log.info("alpha %s: own head %.3f, reference %s", result["alpha"], result["own_head_target_accuracy"],
             result["reference_target_accuracy"])
    return 0
