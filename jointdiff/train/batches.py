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
        return self.global_indices(step)[rank_slice(self.global_batch, rank, world_size)]


def rank_slice(global_batch: int, rank: int, world_size: int) -> slice:
    """The rows of the global batch that rank `rank` of `world_size` trains on."""
    per_rank = global_batch // world_size
    return slice(rank * per_rank, (rank + 1) * per_rank)


class RankBatchSampler:
    """Per-step index lists of one rank, from `start_step` on: a DataLoader batch_sampler for datasets read from
    files, so workers decode ahead while the GPU trains."""

    def __init__(self, stream: GlobalBatchStream, rank: int, world_size: int, start_step: int, end_step: int):
        self.stream, self.rank, self.world_size = stream, rank, world_size
        self.start_step, self.end_step = start_step, end_step

    def __iter__(self):
        for step in range(self.start_step, self.end_step):
            yield self.stream.rank_indices(step, self.rank, self.world_size).tolist()

    def __len__(self) -> int:
        return max(0, self.end_step - self.start_step)


def rank_batches(dataset, stream: GlobalBatchStream, rank: int, world_size: int, start_step: int,
                 end_step: int, loader_kwargs: dict):
    """An iterator of (x, y) for this rank's slice of every global batch from start_step on.

    In-memory datasets (with `get_batch`) are indexed directly; others go through a DataLoader with workers.
    """
    if hasattr(dataset, "get_batch"):
        return (dataset.get_batch(stream.rank_indices(step, rank, world_size)) for step in range(start_step, end_step))
    from torch.utils.data import DataLoader
    sampler = RankBatchSampler(stream, rank, world_size, start_step, end_step)
    return iter(DataLoader(dataset, batch_sampler=sampler, **loader_kwargs))
