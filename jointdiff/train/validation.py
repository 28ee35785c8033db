"""Validation accuracy of the raw and EMA heads during training: a fixed subset between checkpoints, every image
of the validation split at the end."""

from __future__ import annotations

from typing import Any

import torch

from jointdiff.metrics.accuracy import accuracy_from_logits, collect_logits
from jointdiff.train.state import TrainState


def validate(state: TrainState, valid_set, indices: torch.Tensor, device: torch.device,
             multi_label: bool) -> dict[str, Any]:
    """{"acc_raw": ..., "acc_ema": ...} on valid_set[indices]; {} for a model without a head."""
    if state.model.head is None:
        return {}
    out = {}
    for name, net in (("raw", state.model), ("ema", state.ema)):
        logits, labels = collect_logits(net, valid_set.get_batch, indices, device=device)
        out[f"acc_{name}"] = accuracy_from_logits(logits, labels, multi_label)["accuracy"]
    return out
