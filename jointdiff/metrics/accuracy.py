"""Accuracy of the joint head: clean images at t = 0 (or noised at t), eval mode, no augmentation.

Used during training (a fixed subset, raw and EMA weights) and by `jointdiff accuracy` (every test image —
the authors' loader dropped the last partial batch; we don't).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from jointdiff.model import head_timesteps


@torch.no_grad()
def collect_logits(model: nn.Module, images: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
                   indices: torch.Tensor, *, device: torch.device, batch_size: int = 256,
                   t: int = 0, diffusion=None, seed: int = 0, head_t: str = "t") -> tuple[torch.Tensor, torch.Tensor]:
    """Logits and labels for `indices`, in order.

    images(indices) -> (x [N x C x H x W] in [-1, 1], y). With t > 0 the images are noised to x_t with a seeded
    generator first (needs `diffusion`), to measure how the representation degrades with noise; the encoder runs
    at t, and the head reads t (head_t "t") or 0 ("zero", the only value it was trained with).
    """
    was_training = model.training
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    all_logits, all_labels = [], []
    for start in range(0, len(indices), batch_size):
        x, y = images(indices[start:start + batch_size])
        x = x.to(device)
        tt = torch.full((x.shape[0],), t, dtype=torch.long, device=device)
        if t > 0:
            noise = torch.randn(x.shape, generator=gen).to(device)
            x = diffusion.q_sample(x, tt, noise)
        all_logits.append(model.classify(x, tt, head_timesteps(tt, head_t)).float().cpu())
        all_labels.append(y.cpu())
    model.train(was_training)
    return torch.cat(all_logits), torch.cat(all_labels)


def accuracy_from_logits(logits: torch.Tensor, labels: torch.Tensor, multi_label: bool) -> dict:
    """Top-1 (and top-5) accuracy, or the mean and per-attribute accuracy for multi-label data.

    Unlabelled rows (label -1) are skipped.
    """
    if multi_label:
        keep = (labels >= 0).all(dim=1)
        correct = ((logits[keep] > 0).float() == labels[keep]).float()
        per_attr = correct.mean(0)
        return {"accuracy": float(per_attr.mean()), "per_attribute": per_attr.tolist(), "n": int(keep.sum())}
    keep = labels >= 0
    logits, labels = logits[keep], labels[keep]
    pred = logits.argmax(1)
    result = {"accuracy": float((pred == labels).float().mean()), "n": int(keep.sum())}
    num_classes = logits.shape[1]
    if num_classes > 5:
        top5 = logits.topk(5, dim=1).indices
        result["top5_accuracy"] = float((top5 == labels[:, None]).any(1).float().mean())
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    confusion.index_put_((labels, pred), torch.ones_like(labels), accumulate=True)
    totals = confusion.sum(1).clamp(min=1)
    result["per_class"] = (confusion.diagonal() / totals).tolist()
    result["confusion"] = confusion.tolist()
    return result
