"""The joint classifier head: logits from the UNet encoder's pooled activations, as the authors' `Classifier`.

The representation z of x at timestep t is every encoder activation (each `input_blocks` output and the
middle-block output h), global-average-pooled and concatenated, plus t as one extra scalar feature. Its width
F + 1 comes from the built network (`UNetModel.feature_channels`); the authors hard-coded F for three image
sizes. Layer names follow the authors' `Classifier` so that weights can be compared.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def pooled_representation(h: Tensor, hs: Sequence[Tensor], t: Tensor) -> Tensor:
    """z = [mean_xy(h), mean_xy(hs_0), ..., mean_xy(hs_K), t]: [N, F + 1] (h first, as the authors ordered it).

    h [N, C_mid, H', W'], hs each [N, C_k, H_k, W_k], t [N] (used as a raw float, not rescaled).
    """
    pooled = [h.mean(dim=(2, 3)), *(a.mean(dim=(2, 3)) for a in hs)]
    return torch.cat([*pooled, t.to(h.dtype)[:, None]], dim=1)


class JointHead(nn.Module):
    """Dropout → BatchNorm1d(F+1) → Linear(F+1, F//2) → LeakyReLU(0.01) → Dropout → BatchNorm1d(F//2) →
    Linear(F//2, K) on the pooled representation.

    :param feature_channels: channel count of every encoder activation the head pools (the UNet's
        `feature_channels`: every hs entry, then h); F is their sum.
    :param num_outputs: K classes, or attributes for multi-label data.
    :param dropout: rate of both dropouts (0.7 in the paper).
    """

    def __init__(self, feature_channels: Sequence[int], num_outputs: int, dropout: float = 0.7) -> None:
        super().__init__()
        self.feature_width = int(sum(feature_channels))
        width = self.feature_width
        self.dropout_1 = nn.Dropout(dropout)
        self.bn_1 = nn.BatchNorm1d(width + 1)
        self.fc_1 = nn.Linear(width + 1, width // 2)
        self.dropout_2 = nn.Dropout(dropout)
        self.bn_2 = nn.BatchNorm1d(width // 2)
        self.fc_2 = nn.Linear(width // 2, num_outputs)

    def forward(self, h: Tensor, hs: Sequence[Tensor], t: Tensor) -> Tensor:
        """Logits [N, K] from the middle output h, the encoder outputs hs and the timesteps t [N]."""
        z = pooled_representation(h, hs, t)
        assert z.shape[1] == self.feature_width + 1, (
            f"pooled width {z.shape[1] - 1} does not match the head's F = {self.feature_width}")
        z = self.fc_1(self.bn_1(self.dropout_1(z)))
        z = F.leaky_relu(z, 0.01)
        return self.fc_2(self.bn_2(self.dropout_2(z)))
