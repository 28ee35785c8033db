"""Counterfactual explanations: noise a real image to t*, then run the guided reverse process to a new target."""

from __future__ import annotations

from typing import Any

import torch

from jointdiff.errors import UserError
from jointdiff.sampling import sample_batch
from jointdiff.samplers import make_generators, randn_per_sample


def pick_targets(labels: torch.Tensor, target: str, attribute: int, num_classes: int,
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


@torch.no_grad()
def predict(model, x: torch.Tensor, multi_label: bool) -> torch.Tensor:
    """The head's prediction on clean images (t = 0): class indices, or 0/1 attribute vectors."""
    logits = model.classify(x, torch.zeros(x.shape[0], dtype=torch.long, device=x.device))
    return (logits > 0).long().cpu() if multi_label else logits.argmax(1).cpu()


def explain(trained, x0: torch.Tensor, targets: torch.Tensor, t_star: int, settings: dict[str, Any],
            seeds: list[int], batch_size: int) -> dict[str, torch.Tensor]:
    """Counterfactuals of x0 ([N, C, H, W] in [-1, 1]) toward `targets`, with predictions before and after."""
    device = next(trained.model.parameters()).device
    multi_label = trained.cfg.multi_label_classifier
    outs, pred_orig, pred_cf = [], [], []
    for start in range(0, len(seeds), batch_size):
        sl = slice(start, start + batch_size)
        x = x0[sl].to(device)
        batch_seeds = seeds[sl]
        noise = randn_per_sample(make_generators([s + 10 ** 9 for s in batch_seeds]), x.shape, device)
        t = torch.full((x.shape[0],), t_star, dtype=torch.long, device=device)
        x_t = trained.diffusion.q_sample(x, t, noise)
        cf = sample_batch(trained, batch_seeds, targets[sl], settings, device, x_start=x_t, t_start=t_star)
        outs.append(cf.cpu())
        pred_orig.append(predict(trained.model, x, multi_label))
        pred_cf.append(predict(trained.model, cf, multi_label))
    return {"x": torch.cat(outs), "pred_original": torch.cat(pred_orig), "pred_counterfactual": torch.cat(pred_cf)}
