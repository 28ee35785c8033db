"""What each sample or counterfactual is steered toward: nothing (unconditional), classes, real attribute vectors,
or a flip."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from jointdiff.config import ExperimentConfig
from jointdiff.data.loaders import load_split
from jointdiff.errors import UserError
from jointdiff.sample.seeds import check_sample_count


@dataclass(frozen=True)
class SampleTargets:
    """What one sample archive holds: a seed per sample, its target, and how the archive's grid shows them."""

    seeds: list[int]
    labels: np.ndarray              # per seed: target class (-1 = unconditional) or attribute vector
    attribute: int | None = None    # attribute guidance: the attribute the first half has off, the second on
    per_class: int = 0              # guided: samples per target (a row of the grid); 0 = unconditional


def unconditional_targets(seeds: list[int]) -> SampleTargets:
    return SampleTargets(seeds, np.full(len(seeds), -1))


def class_targets(cfg: ExperimentConfig, classes: str, per_class: int, allow_large: bool) -> SampleTargets:
    """`per_class` samples toward each class of --classes ('all' or '0,3,7'), class by class, seeds 0, 1, ..."""
    targets = parse_classes(classes, cfg.resolved_num_classes(), cfg.multi_label_classifier)
    check_sample_count(len(targets) * per_class, f"--classes {classes} --per-class {per_class}", allow_large)
    labels = np.repeat(np.asarray(targets), per_class)
    return SampleTargets(list(range(len(labels))), labels, per_class=per_class)


def training_attribute_targets(cfg: ExperimentConfig, attribute: int, per_class: int, *, dataroot: str | Path,
                               model: str | Path, allow_large: bool) -> SampleTargets:
    """For --attribute K: `per_class` real training vectors (of `model`'s dataset) with K off, then the same with K
    on, seeds 0, 1, ..."""
    check_sample_count(2 * per_class, f"--attribute {attribute} --per-class {per_class}", allow_large)
    if not cfg.multi_label_classifier:
        raise UserError(f"--attribute is for attribute (multi-label) models; {model} predicts classes: use "
                        "--classes")
    if not 0 <= attribute < cfg.resolved_num_classes():
        raise UserError(f"--attribute {attribute} out of range: the model has {cfg.resolved_num_classes()} "
                        "attributes")
    train = load_split(cfg.dataset, dataroot, "train", in_memory=False)
    labels = attribute_targets(train.labels, attribute, per_class).numpy()
    return SampleTargets(list(range(len(labels))), labels, attribute=attribute, per_class=per_class)


def parse_classes(text: str, num_classes: int, multi_label: bool) -> list[int]:
    """'all' or '0,3,7' → class indices, each checked against the model's number of classes."""
    if multi_label:
        raise UserError("this model is multi-label (attributes): guide it with --attribute K, or flip an attribute "
                        "with `jointdiff counterfactual`")
    if text.strip().lower() == "all":
        return list(range(num_classes))
    try:
        classes = [int(c) for c in text.split(",")]
    except ValueError:
        raise UserError(f"--classes expects 'all' or a comma list of integers, got {text!r}")
    bad = [c for c in classes if not 0 <= c < num_classes]
    if bad:
        raise UserError(f"--classes {bad} out of range: the model has {num_classes} classes (0..{num_classes - 1})")
    return classes


def attribute_targets(train_labels: torch.Tensor, attribute: int, per_value: int, seed: int = 0) -> torch.Tensor:
    """Targets for attribute-guided sampling (CelebA: real attribute vectors as targets, as the authors did).

    `per_value` training vectors drawn with `seed`, first with `attribute` set to 0, then the same ones set to 1:
    [2 · per_value, A] float 0/1. Rows with a hidden label (-1) are never drawn.
    """
    known = train_labels[(train_labels >= 0).all(dim=1)].float()
    if len(known) == 0:
        raise ValueError("no training image has all its attributes")
    rows = known[torch.randint(len(known), (per_value,), generator=torch.Generator().manual_seed(seed))]
    off, on = rows.clone(), rows.clone()
    off[:, attribute], on[:, attribute] = 0.0, 1.0
    return torch.cat([off, on])


def counterfactual_targets(labels: torch.Tensor, target: str, attribute: int, num_classes: int,
                           multi_label: bool) -> torch.Tensor:
    """The counterfactual target of each image: the next class / a fixed class, or the attribute flipped."""
    if multi_label:
        if not 0 <= attribute < num_classes:
            raise UserError(f"--attribute {attribute} out of range: the model has {num_classes} attributes")
        flipped = labels.clone().float()
        flipped[:, attribute] = 1 - flipped[:, attribute]
        return flipped
    if target == "next":
        return (labels + 1) % num_classes
    try:
        fixed = int(target)
    except ValueError:
        raise UserError(f"--target must be 'next' or a class index, got {target!r}")
    if not 0 <= fixed < num_classes:
        raise UserError(f"--target {fixed} out of range: the model has {num_classes} classes")
    return torch.full_like(labels, fixed)
