"""Scores of guided samples: how often they are classified as their target class (or show their target
attribute), by two judges — the classifier that guided them (the joint model's own head, or classic guidance's
noised classifier; clean images, t = 0), and an independent classifier trained on the real training split, the
honest one, since the guidance optimised the other."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jointdiff import keys as K
from jointdiff.choices import CLASSIC_GUIDANCE
from jointdiff.errors import UserError
from jointdiff.images import from_uint8
from jointdiff.metrics.independent_classifier import classify_images, load_independent_classifier
from jointdiff.metrics.samples import load_sample_images
from jointdiff.model import head_predict, load_trained
from jointdiff.noised_classifier.network import load_noised_classifier

log = logging.getLogger(__name__)

HEAD_BATCH = 500  # images per forward pass of the joint head


def per_class_accuracy(pred: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    return {str(int(c)): float((pred[labels == c] == c).float().mean()) for c in labels.unique()}


def attribute_scores(pred: torch.Tensor, targets: torch.Tensor, attribute: int) -> dict[str, Any]:
    """Attribute-guided samples: the target attribute's hit rate (overall, and for off / on targets), and how
    many of all the attributes agree with the target vector."""
    hit = pred[:, attribute] == targets[:, attribute]
    return {K.KEY_ATTRIBUTE: attribute, K.KEY_OWN_TARGET_ACCURACY: float(hit.float().mean()),
            K.KEY_OWN_PER_CLASS: {name: float(hit[targets[:, attribute] == value].float().mean())
                                  for name, value in (("off", 0), ("on", 1))},
            K.KEY_OWN_ATTRIBUTE_AGREEMENT: float((pred == targets).float().mean())}


@torch.no_grad()
def noised_classifier_predict(path: str | Path, x: torch.Tensor, multi_label: bool,
                              device: torch.device | str) -> torch.Tensor:
    """The noised classifier's prediction on clean images x [N, C, H, W] at t = 0, on the CPU."""
    classifier, _ = load_noised_classifier(path, device)
    preds = []
    for i in range(0, len(x), HEAD_BATCH):
        chunk = x[i:i + HEAD_BATCH].to(device)
        logits = classifier(chunk, torch.zeros(len(chunk), dtype=torch.long, device=device))
        preds.append(((logits > 0).long() if multi_label else logits.argmax(1)).cpu())
    return torch.cat(preds)


def score_guided_samples(samples_path: str | Path, model_path: str | Path,
                         independent_classifier: str | Path | None = None,
                         device: torch.device | str = "cpu", noised_classifier: str | Path | None = None
                         ) -> dict[str, Any]:
    """The content of guided_<weights>_alpha<alpha>.json for a guided sample archive.

    The own judge is the classifier that guided the samples, on the final images (t = 0): the joint head, or for
    classic guidance the noised classifier (`noised_classifier`, required then).
    """
    samples_path = Path(samples_path)
    with np.load(samples_path) as data:
        labels = torch.as_tensor(data[K.KEY_LABELS]).long()
        attribute = int(data[K.KEY_ATTRIBUTE]) if K.KEY_ATTRIBUTE in data else None
        alpha = float(data[K.KEY_ALPHA]) if K.KEY_ALPHA in data else None
        settings = json.loads(str(data[K.KEY_SAMPLE_SETTINGS]))
    if (labels < 0).any():
        raise UserError(f"{samples_path} holds unconditional samples (label -1); score needs guided samples")
    if attribute is not None and independent_classifier:
        raise UserError("--independent-classifier judges classes; these samples were guided toward an attribute")
    classic = settings.get("guidance") == CLASSIC_GUIDANCE
    if classic and not noised_classifier:
        raise UserError(f"{samples_path} was guided by a noised classifier (classic guidance): give its file with "
                        "--noised-classifier, the samples' own judge")
    if noised_classifier and not classic:
        raise UserError(f"--noised-classifier judges classic-guidance samples; {samples_path} was guided by "
                        f"{settings.get('guidance')!r}")
    trained = load_trained(model_path, "ema", device)
    multi = trained.cfg.multi_label_classifier
    if (attribute is not None) != multi:
        raise UserError(f"{samples_path} and {model_path} do not match: attribute-guided samples need an "
                        "attribute model and class-guided samples a class model")
    if not classic and trained.model.head is None:
        raise UserError(f"{model_path} has no classifier head to judge its samples with")
    images = load_sample_images(samples_path)  # uint8 N x C x H x W
    x = from_uint8(images)
    if classic:
        own = noised_classifier_predict(noised_classifier, x, multi, device)
    else:
        own = torch.cat([head_predict(trained.model, x[i:i + HEAD_BATCH].to(device), multi)
                         for i in range(0, len(x), HEAD_BATCH)])
    result = {K.KEY_EXPERIMENT: trained.cfg.experiment_name or Path(model_path).parent.name,
              K.KEY_SAMPLES: str(samples_path), K.KEY_N: len(labels), K.KEY_ALPHA: alpha,
              K.KEY_WEIGHTS: settings.get("weights"), K.KEY_SAMPLER: settings,
              K.KEY_GUIDANCE: settings.get("guidance"),
              K.KEY_OWN_JUDGE: f"the noised classifier {noised_classifier} at t = 0" if classic
              else "the joint head at t = 0",
              K.KEY_INDEPENDENT_TARGET_ACCURACY: None}
    if attribute is not None:
        result |= attribute_scores(own, labels, attribute)
    else:
        result |= {K.KEY_OWN_TARGET_ACCURACY: float((own == labels).float().mean()),
                   K.KEY_OWN_PER_CLASS: per_class_accuracy(own, labels)}
    if independent_classifier:
        judge, judge_meta = load_independent_classifier(independent_classifier)
        judged = classify_images(judge, images)
        result[K.KEY_INDEPENDENT_CLASSIFIER] = {"path": str(independent_classifier), **judge_meta}
        result[K.KEY_INDEPENDENT_TARGET_ACCURACY] = float((judged == labels).float().mean())
        result[K.KEY_INDEPENDENT_PER_CLASS] = per_class_accuracy(judged, labels)
    return result
