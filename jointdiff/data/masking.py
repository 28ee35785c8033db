"""Seeded label masks for the semi-supervised runs (`labelled_data_share`; the authors did not seed theirs).

Every sample still trains the denoiser; only the kept labels reach the classifier loss. A hidden label is -1:
the class index becomes -1, an attribute row becomes all -1, so the loss can select `y >= 0` (classes) or
`(y >= 0).all(1)` (attributes).
"""

from __future__ import annotations

import torch

from jointdiff.errors import ConfigError

UNLABELLED = -1


def label_mask(num: int, share: float, seed: int) -> torch.Tensor:
    """Bool [num]: True where the label is kept. Exactly round(share * num) kept; same seed, same mask."""
    if not 0.0 <= share <= 1.0:
        raise ConfigError(f"labelled share must be in [0, 1], got {share}")
    order = torch.randperm(num, generator=torch.Generator().manual_seed(seed))
    mask = torch.zeros(num, dtype=torch.bool)
    mask[order[:round(share * num)]] = True
    return mask


def mask_labels(labels: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A copy of `labels` (int64 [N] or float32 [N x K]) with the samples where `mask` is False set to -1."""
    assert mask.dtype == torch.bool and len(mask) == len(labels)
    masked = labels.clone()
    masked[~mask] = UNLABELLED
    return masked


def known_labels(labels: torch.Tensor) -> torch.Tensor:
    """Bool [N]: the samples whose label (a class, or every attribute of a row) is known."""
    return labels >= 0 if labels.dim() == 1 else (labels >= 0).all(dim=1)
