"""Which training images each process sees at each step: a pure function of (seed, step, rank).

The global batch of step k is positions [k·B, (k+1)·B) of an endless stream that visits the training set
in a fresh seeded permutation every epoch. Rank r of W takes the r-th contiguous slice of it. So the global
batch never depends on the number of processes, and a resumed run sees exactly the batches it would have seen.
"""

from __future__ import annotations

import torch


class GlobalBatchStream:
    def __init__(self, num_items: int, global_batch: int, seed: int) -> None:
        assert num_items > 0 and global_batch > 0
        self.num_items = num_items
        self.global_batch = global_batch
        self.seed = seed
        self._perms: dict[int, torch.Tensor] = {}

    def _perm(self, epoch: int) -> torch.Tensor:
        if epoch not in self._perms:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
            self._perms = {e: p for e, p in self._perms.items() if e >= epoch - 1}  # keep memory flat
            self._perms[epoch] = torch.randperm(self.num_items, generator=gen)
        return self._perms[epoch]

    def global_indices(self, step: int) -> torch.Tensor:
        """Dataset indices of the whole global batch of `step` (LongTensor of length B)."""
        positions = torch.arange(step * self.global_batch, (step + 1) * self.global_batch)
        epochs = positions // self.num_items
        out = torch.empty_like(positions)
        for epoch in epochs.unique().tolist():
            sel = epochs == epoch
            out[sel] = self._perm(epoch)[positions[sel] % self.num_items]
        return out

    def rank_indices(self, step: int, rank: int, world_size: int) -> torch.Tensor:
        per_rank = self.global_batch // world_size
        return self.global_indices(step)[rank * per_rank:(rank + 1) * per_rank]
