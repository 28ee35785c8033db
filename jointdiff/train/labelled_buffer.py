"""The classifier term of semi-supervised training, as the authors' code computes it: a buffer of labelled images.

A batch with hidden labels gives its labelled rows to the buffer. While the buffer and this batch's labelled rows
together are fewer than a batch, the classifier takes no step (the head still runs on the batch, so BatchNorm
statistics move and every parameter stays in the graph, with its loss multiplied by 0); once they fill a batch,
the head trains on all of them at once and the buffer empties. At 1% of the labels and batch 256 that is one
classifier step on >= 256 images about every 100 steps, not a cross-entropy on 2-3 images every step. (A batch
whose labels are all known skips the buffer: `joint_loss` never hands it one.) The buffer is part of the training
state, so a resumed run continues it exactly.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


class LabelledBuffer:
    def __init__(self) -> None:
        self.images: Tensor | None = None    # [M, C, H, W] clean labelled images in [-1, 1]
        self.targets: Tensor | None = None   # [M, K] their soft targets

    def __len__(self) -> int:
        return 0 if self.images is None else len(self.images)

    def take(self, x0: Tensor, targets: Tensor, labelled: Tensor) -> tuple[Tensor, Tensor] | None:
        """The (images, soft targets) of one classifier step, or None while the buffer is still filling.

        :param x0: [N, C, H, W] a batch's clean images, some of them unlabelled; targets [N, K]; labelled [N] bool.
        """
        count = int(labelled.sum())
        if len(self) + count >= len(x0):
            images = torch.cat([self.images, x0[labelled]]) if self.images is not None else x0[labelled]
            soft = torch.cat([self.targets, targets[labelled]]) if self.targets is not None else targets[labelled]
            self.images = self.targets = None
            return images, soft
        self.images = x0[labelled] if self.images is None else torch.cat([self.images, x0[labelled]])
        self.targets = targets[labelled] if self.targets is None else torch.cat([self.targets, targets[labelled]])
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"images": self.images, "targets": self.targets}

    def load_state_dict(self, state: dict[str, Any], device: torch.device) -> None:
        self.images, self.targets = (None if v is None else v.to(device) for v in (state["images"], state["targets"]))
