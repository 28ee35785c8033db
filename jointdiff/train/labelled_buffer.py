"""The classifier term of semi-supervised training, as the authors' code computes it in one process: a buffer of
labelled images that fills to the global batch.

A batch with hidden labels gives its labelled rows to the buffer. While the buffer and this batch's labelled rows
together are fewer than a global batch, the classifier takes no step (the head still runs on the batch, so
BatchNorm statistics move and every parameter stays in the graph, with its loss multiplied by 0); once they fill
a global batch, the head trains on all of them at once and the buffer empties. At 1% of the labels and batch 256
that is one classifier step on >= 256 images about every 100 steps, not a cross-entropy on 2-3 images every step.
(A run whose labels are all known has no buffer.)

With N processes it is one buffer split over the ranks: each rank keeps the labelled images of its own rows of
the global batch, and whether a step is a classifier step follows from the global batch's label mask, which every
rank knows on the host from the batch's dataset indices (no count on the device, no collective). The classifier
step trains every rank on its share, with the loss summed over its rows and divided by the global count, and the
head's BatchNorm normalises over all ranks' rows: the step one process takes on the same images.

The buffer's saved state is the dataset indices of its rows and their positions in the global batches they came
from, the same on every rank: rank 0's checkpoint restores every rank's share, for any number of processes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from jointdiff.gpu.transfer import host_to_device


def take_rows(values: Tensor, rows: Tensor, device: torch.device) -> Tensor:
    """values[rows] on `device`, for a CPU index tensor `rows` and `values` on the CPU or on `device`."""
    if values.device.type == "cpu":
        return host_to_device(values[rows], device)
    return values[host_to_device(rows, values.device)]


def dataset_rows(dataset, indices: Tensor) -> tuple[Tensor, Tensor]:
    """(x, y) of the dataset's `indices`, for in-memory datasets and for datasets read image by image."""
    if hasattr(dataset, "get_batch"):
        return dataset.get_batch(indices)
    items = [dataset[i] for i in indices.tolist()]
    return torch.stack([x for x, _ in items]), torch.stack([torch.as_tensor(y) for _, y in items])


class LabelledBuffer:
    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        self.indices = torch.empty(0, dtype=torch.long)    # dataset indices of every rank's buffered rows
        self.positions = torch.empty(0, dtype=torch.long)  # their rows in the global batches they came from
        self.images: Tensor | None = None                  # this rank's rows [M_r, C, H, W], clean, in [-1, 1]
        self.labels: Tensor | None = None                  # their labels as the dataset gives them

    def __len__(self) -> int:
        """Rows buffered on all ranks together."""
        return len(self.indices)

    def step(self, x_rank: Tensor, y_rank: Tensor, indices: Tensor, labelled: Tensor, rank_rows: slice,
             device: torch.device) -> tuple[Tensor, Tensor, int] | None:
        """This rank's (images, labels) of a classifier step and the step's global row count, or None while the
        buffer fills.

        :param x_rank, y_rank: this rank's rows of the global batch (CPU or `device`).
        :param indices: [B] CPU dataset indices of the global batch; labelled: [B] CPU bool, its known labels.
        :param rank_rows: this rank's slice of the global batch.
        """
        mine = labelled[rank_rows].nonzero().squeeze(1)
        images, labels = take_rows(x_rank, mine, device), take_rows(y_rank, mine, device)
        if self.images is not None:
            images, labels = torch.cat([self.images, images]), torch.cat([self.labels, labels])
        total = len(self) + int(labelled.sum())
        if total >= len(labelled):
            self.clear()
            return images, labels, total
        self.indices = torch.cat([self.indices, indices[labelled]])
        self.positions = torch.cat([self.positions, labelled.nonzero().squeeze(1)])
        self.images, self.labels = images, labels
        return None

    def state_dict(self) -> dict[str, Any]:
        return {"indices": self.indices, "positions": self.positions}

    def load_state_dict(self, state: dict[str, Any], dataset, rank_rows: slice, device: torch.device) -> None:
        """Continue a saved buffer: this rank's share is the rows whose positions fall in `rank_rows`."""
        if "indices" not in state:
            raise ValueError("its semi-supervised buffer holds images of one process, not the global batch's "
                             "dataset indices")
        self.indices, self.positions = state["indices"].cpu(), state["positions"].cpu()
        mine = (self.positions >= rank_rows.start) & (self.positions < rank_rows.stop)
        self.images = self.labels = None
        if mine.any():
            images, labels = dataset_rows(dataset, self.indices[mine])
            self.images, self.labels = images.to(device), labels.to(device)
