"""Accuracy of the joint head: clean images at t = 0 (or noised at t), eval mode, no augmentation.

Used during training (a fixed subset, raw and EMA weights) and by `jointdiff accuracy` (`accuracy_report`: every
test image — the authors' loader dropped the last partial batch; we don't — and the curve over noise levels).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from jointdiff import keys as K
from jointdiff.config import ExperimentConfig
from jointdiff.data.loaders import load_split
from jointdiff.data.splits import training_splits
from jointdiff.errors import UserError
from jointdiff.model import head_timesteps, load_trained

log = logging.getLogger(__name__)


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
        return {K.KEY_ACCURACY: float(per_attr.mean()), K.KEY_PER_ATTRIBUTE: per_attr.tolist(),
                K.KEY_N: int(keep.sum())}
    keep = labels >= 0
    logits, labels = logits[keep], labels[keep]
    pred = logits.argmax(1)
    result = {K.KEY_ACCURACY: float((pred == labels).float().mean()), K.KEY_N: int(keep.sum())}
    num_classes = logits.shape[1]
    if num_classes > 5:
        top5 = logits.topk(5, dim=1).indices
        result[K.KEY_TOP5] = float((top5 == labels[:, None]).any(1).float().mean())
    confusion = torch.zeros(num_classes, num_classes, dtype=torch.long)
    confusion.index_put_((labels, pred), torch.ones_like(labels), accumulate=True)
    totals = confusion.sum(1).clamp(min=1)
    result[K.KEY_PER_CLASS] = (confusion.diagonal() / totals).tolist()
    result[K.KEY_CONFUSION] = confusion.tolist()
    return result


def training_labels(cfg: ExperimentConfig, dataroot: str | Path) -> dict[str, Any]:
    """How much the run's head could learn from: its training images and how many of them had a label (the
    dataset's own hidden labels, e.g. a domain-adaptation target, and the seeded labelled_data_share), and its
    objective (joint, or the classifier-only baseline)."""
    split = training_splits(cfg.eval_on_test_set, cfg.validate_on_train)[0]
    data = load_split(cfg.dataset, dataroot, split, labelled_share=cfg.labelled_data_share, mask_seed=cfg.seed,
                      in_memory=False, image_size=cfg.resolved_image_size(), channels=cfg.resolved_channels())
    known = (data.labels >= 0).all(dim=1) if data.labels.dim() == 2 else data.labels >= 0
    return {K.KEY_LABELLED_SHARE: cfg.labelled_data_share, K.KEY_TRAIN_IMAGES: len(data),
            K.KEY_TRAIN_LABELLED: int(known.sum()),
            K.KEY_OBJECTIVE: "classifier only" if cfg.diffusion_loss_weight == 0 else "joint"}


def accuracy_report(model_path: str | Path, dataroot: str | Path, *, split: str = "test",
                    noise_fractions: Sequence[float] = (0.0,), head_t: str = "zero",
                    weights: Sequence[str] = ("raw", "ema"), batch_size: int = 500,
                    device: torch.device | str = "cpu") -> dict[str, Any]:
    """The content of accuracy.json: clean accuracy of each weight set on every image of `split`, and the curve
    of accuracy against t / T (the encoder at t, the head reading `head_t`)."""
    result: dict[str, Any] = {K.KEY_MODEL: str(model_path), K.KEY_SPLIT: split, K.KEY_WEIGHTS: {},
                              K.KEY_NOISE_CURVE: {}, K.KEY_HEAD_T: head_t}
    for name in weights:
        trained = load_trained(model_path, name, device)
        cfg = trained.cfg
        if trained.model.head is None:
            raise UserError(f"{model_path} was trained without the classifier head: no accuracy to measure")
        data = load_split(cfg.dataset, dataroot, split, image_size=cfg.resolved_image_size(),
                          channels=cfg.resolved_channels())
        indices = torch.arange(len(data))
        T = trained.diffusion.num_timesteps
        curve = []
        for fraction in noise_fractions:
            t = min(T - 1, round(fraction * T))
            logits, labels = collect_logits(trained.model, data.get_batch, indices, device=device,
                                            batch_size=batch_size, t=t, diffusion=trained.diffusion, head_t=head_t)
            acc = accuracy_from_logits(logits, labels, cfg.multi_label_classifier)
            if t == 0:
                result[K.KEY_WEIGHTS][name] = acc
            curve.append({K.KEY_T: t, K.KEY_T_FRACTION: fraction, K.KEY_ACCURACY: acc[K.KEY_ACCURACY]})
            log.info("%s weights, t=%d: accuracy %.4f on %d images", name, t, acc[K.KEY_ACCURACY], acc[K.KEY_N])
        result[K.KEY_NOISE_CURVE][name] = curve
        if name not in result[K.KEY_WEIGHTS]:  # 0 was not among the fractions: measure clean accuracy too
            logits, labels = collect_logits(trained.model, data.get_batch, indices, device=device,
                                            batch_size=batch_size)
            result[K.KEY_WEIGHTS][name] = accuracy_from_logits(logits, labels, cfg.multi_label_classifier)
        result.update({K.KEY_EXPERIMENT: cfg.experiment_name or Path(model_path).parent.name,
                       K.KEY_DATASET: cfg.dataset, K.KEY_MULTI_LABEL: cfg.multi_label_classifier,
                       K.KEY_STEP: trained.step, K.KEY_N: len(data)})
    return result | training_labels(cfg, dataroot)
