"""The Fréchet distance between two Gaussians fitted to feature sets, in float64, by torch-fidelity's code.

    d² = ||mu1 − mu2||² + Tr(sigma1 + sigma2 − 2 (sigma1 sigma2)^½)

torch-fidelity fits mu in the features' own dtype (float32); here the features are cast to float64 first, so
both mu and sigma are float64, and the distance is torch-fidelity's `fid_statistics_to_metric` on them.
"""

from __future__ import annotations

import numpy as np
import torch
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric


def gaussian_statistics(features: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features [N x D] -> (mu [D], sigma [D x D]), both float64; sigma is the unbiased covariance."""
    features = torch.as_tensor(features).to(torch.float64).cpu()
    assert features.dim() == 2 and features.shape[0] >= 2, f"need N >= 2 feature rows, got {tuple(features.shape)}"
    stats = fid_features_to_statistics(features)
    return stats["mu"], stats["sigma"]


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), computed in float64."""
    stat_1 = {"mu": np.asarray(mu1, np.float64), "sigma": np.asarray(sigma1, np.float64)}
    stat_2 = {"mu": np.asarray(mu2, np.float64), "sigma": np.asarray(sigma2, np.float64)}
    return float(fid_statistics_to_metric(stat_1, stat_2, verbose=False)[KEY_METRIC_FID])
