"""The EMA of the weights: parameters and BatchNorm statistics move toward the live model at the same rate."""

from __future__ import annotations

import torch
from torch import nn

from jointdiff.train.ema import make_ema, update_ema


def test_batchnorm_statistics_are_averaged_like_the_weights():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
    ema = make_ema(model)
    before = {name: value.clone() for name, value in ema.state_dict().items()}
    model.train()
    model(3 * torch.randn(16, 4) + 5)  # moves the running statistics and counts a batch
    with torch.no_grad():
        model[0].weight.add_(1.0)

    update_ema(ema, model, rate=0.9)

    live = model.state_dict()
    for name, value in ema.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, 0.9 * before[name] + 0.1 * live[name])
            assert torch.equal(before[name], live[name]) or not torch.equal(value, live[name]), name  # not copied
        else:
            assert torch.equal(value, live[name]), name  # num_batches_tracked
