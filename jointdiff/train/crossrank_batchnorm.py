"""BatchNorm over the global batch, on any backend (gloo on CPU as well as NCCL).

The joint head normalises pooled features with BatchNorm1d. With N processes, per-process statistics would
make training depend on the number of GPUs; torch's SyncBatchNorm fixes that but refuses CPU tensors. This
layer all-reduces the batch sum and sum of squares (differentiably) so every process normalises with the
statistics of the whole global batch — the same numbers a single process would compute.

The statistics travel on a process group of their own: on the default group their all-reduces (forward and
backward) could interleave with DDP's gradient buckets, which are launched from autograd hooks, and gloo
matches collectives by order alone.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
from torch import nn


class CrossRankBatchNorm1d(nn.BatchNorm1d):
    """A drop-in nn.BatchNorm1d (same parameters and buffers) whose training statistics span all ranks."""

    group = None  # set by convert_to_crossrank: the process group of the statistics

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        assert x.dim() == 2, "CrossRankBatchNorm1d expects [N x F] features"
        x32 = x.float()
        count = torch.full((1,), x.shape[0], dtype=torch.float32, device=x.device)
        stats = dist_fn.all_reduce(torch.cat([x32.sum(0), (x32 * x32).sum(0), count]), group=self.group)
        features = x.shape[1]
        count = stats[-1]
        mean = stats[:features] / count
        var = (stats[features:2 * features] / count - mean * mean).clamp(min=0)  # biased, as BatchNorm normalises
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                unbiased = var * count / (count - 1).clamp(min=1)
                self.running_mean.lerp_(mean.detach(), momentum)
                self.running_var.lerp_(unbiased.detach(), momentum)
        out = (x32 - mean) * torch.rsqrt(var + self.eps)
        if self.affine:
            out = out * self.weight + self.bias
        return out.to(x.dtype)


def convert_to_crossrank(module: nn.Module, group=None) -> nn.Module:
    """Swap every BatchNorm1d in `module` for a CrossRankBatchNorm1d holding the same tensors.

    Call on every rank at the same point (it creates the statistics' process group when `group` is None).
    """
    group = dist.new_group() if group is None else group
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm1d:
            new = CrossRankBatchNorm1d(child.num_features, child.eps, child.momentum, child.affine,
                                       child.track_running_stats, device=child.weight.device if child.affine
                                       else None)
            new.load_state_dict(child.state_dict())
            new.group = group
            new.train(child.training)
            setattr(module, name, new)
        else:
            convert_to_crossrank(child, group)
    return module
