"""CrossRankBatchNorm1d on two gloo processes under CPU bf16 autocast against nn.BatchNorm1d in float32."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn


def features() -> torch.Tensor:
    """[16 x 6] bf16 features far from 0 (mean 30, std 1): bf16 sums of x² would cancel E[x²] − mean² to noise."""
    gen = torch.Generator().manual_seed(0)
    return (30 + torch.randn(16, 6, generator=gen)).bfloat16()


def _worker(rank: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    torch.distributed.init_process_group("gloo", rank=rank, world_size=2)
    from jointdiff.train.crossrank_batchnorm import convert_to_crossrank
    layer = convert_to_crossrank(nn.Sequential(nn.BatchNorm1d(6)))[0]
    x = features()[rank * 8:(rank + 1) * 8].requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = layer(x)
    y.float().sum().backward()
    torch.save({"out": y.detach(), "mean": layer.running_mean, "var": layer.running_var}, f"{out}.{rank}")
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_bf16_statistics_match_float32_batchnorm_on_the_whole_batch(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = str(tmp_path / "bn")
    mp.spawn(_worker, args=(port, out), nprocs=2)
    ranks = [torch.load(f"{out}.{r}") for r in range(2)]
    reference = nn.BatchNorm1d(6)
    expected = reference(features().float())
    got = torch.cat([r["out"] for r in ranks])
    assert got.dtype == torch.bfloat16
    assert torch.isfinite(got).all()
    assert (got.float() - expected).abs().max() <= 0.05  # bf16 rounding of outputs of size ~2
    for r in ranks:
        assert torch.allclose(r["mean"], reference.running_mean, rtol=1e-5)
        assert torch.allclose(r["var"], reference.running_var, rtol=1e-4)
