"""What each guided sample or counterfactual is steered toward: classes, real attribute vectors, or a flip."""

from __future__ import annotations

import torch

from jointdiff.errors import UserError


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
