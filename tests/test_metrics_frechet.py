"""The Fréchet distance (torch-fidelity's code, float64 statistics) against an independent scipy computation."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch

from jointdiff.metrics.frechet import frechet_distance, gaussian_statistics


def scipy_frechet(x: np.ndarray, y: np.ndarray) -> float:
    """Textbook float64 FID: ||mu1 - mu2||^2 + Tr(S1 + S2 - 2 sqrtm(S1 S2)), via scipy.linalg.sqrtm."""
    x, y = x.astype(np.float64), y.astype(np.float64)
    mu1, mu2 = x.mean(axis=0), y.mean(axis=0)
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def gaussian_features(rng: np.random.Generator, n: int, d: int, shift: float = 0.0) -> np.ndarray:
    mixing = rng.normal(size=(d, d)) / np.sqrt(d)
    return (rng.normal(size=(n, d)) @ mixing + shift).astype(np.float32)


def test_matches_scipy_sqrtm_in_float64():
    rng = np.random.default_rng(0)
    x = gaussian_features(rng, 2000, 64)
    y = gaussian_features(rng, 1500, 64, shift=0.3)
    ours = frechet_distance(*gaussian_statistics(torch.from_numpy(x)), *gaussian_statistics(y))
    reference = scipy_frechet(x, y)
    assert ours == pytest.approx(reference, rel=1e-6)


def test_statistics_are_float64():
    mu, sigma = gaussian_statistics(torch.randn(50, 8))
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    assert mu.shape == (8,) and sigma.shape == (8, 8)


def test_a_set_against_itself_is_zero():
    rng = np.random.default_rng(1)
    x = gaussian_features(rng, 500, 32)
    mu, sigma = gaussian_statistics(x)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-9 * np.trace(sigma)


def test_rank_deficient_set_against_itself_is_zero():
    """As in a smoke test: fewer images than feature dimensions, so sigma is singular."""
    rng = np.random.default_rng(2)
    x = gaussian_features(rng, 16, 256)
    mu, sigma = gaussian_statistics(x)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6 * np.trace(sigma)


def test_shift_with_equal_covariance_gives_squared_mean_distance():
    rng = np.random.default_rng(3)
    x = gaussian_features(rng, 1000, 32).astype(np.float64)
    delta = rng.normal(size=32)
    mu1, sigma1 = gaussian_statistics(x)
    mu2, sigma2 = gaussian_statistics(x + delta)
    np.testing.assert_allclose(sigma1, sigma2, atol=1e-12)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(float(delta @ delta), rel=1e-8)
