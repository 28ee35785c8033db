"""Reference statistics of real images: Inception features, mu and sigma, computed once and cached as files.

A cache file lives in `<dataroot>/<dataset>/fid_refs/` and is named by a content hash of everything that
decides its values: the reference images' bytes and shape, their identity (dataset, split, any transform), and
the feature extractor with its exact weights. A different split, image size or weights file therefore gives a
different file, and a file whose stored key or identity does not match is recomputed, never used. Files are
written under a temporary name and renamed, so a killed run leaves no half-written cache.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jointdiff.atomic import atomic_write
from jointdiff.images import NPZ_READ_ERRORS
from jointdiff.metrics.features import extract_inception_features
from jointdiff.metrics.frechet import gaussian_statistics
from jointdiff.metrics.inception import POOL3, InceptionWeights

log = logging.getLogger(__name__)

CACHE_FORMAT = 1  # bump when the file layout or the way statistics are computed changes


@dataclass(frozen=True)
class ReferenceImages:
    """Real images to compare samples with, and what they are."""

    images: torch.Tensor              # uint8 [N x C x H x W]
    identity: dict[str, Any]          # at least "dataset" and "split"; plus any transform that made the images
    cache_dir: Path | None = None     # where statistics are cached (see `reference_cache_dir`); None: no cache

    def __post_init__(self):
        assert {"dataset", "split"} <= set(self.identity), f"identity lacks dataset/split: {self.identity}"


@dataclass(frozen=True)
class ReferenceStatistics:
    """Pool3 features of the reference images and their Gaussian statistics."""

    features: torch.Tensor            # float32 [N x 2048]
    mu: np.ndarray                    # float64 [2048]
    sigma: np.ndarray                 # float64 [2048 x 2048]
    identity: dict[str, Any]          # the images' identity plus n, shape, content hash and extractor id
    key: str                          # sha256 naming the cache entry
    path: Path | None = None          # cache file, if any
    from_cache: bool = field(default=False, compare=False)


def reference_cache_dir(dataroot: str | Path, dataset: str) -> Path:
    """`<dataroot>/<dataset>/fid_refs`: reference statistics live beside the dataset they describe."""
    return Path(dataroot) / dataset / "fid_refs"


def _full_identity(reference: ReferenceImages, weights: InceptionWeights) -> dict[str, Any]:
    images = reference.images
    content = hashlib.sha256(np.ascontiguousarray(images.numpy())).hexdigest()
    n, c, h, w = images.shape
    return {**reference.identity, "n": n, "channels": c, "height": h, "width": w, "images_sha256": content,
            "extractor": weights.extractor_id, "layer": POOL3, "cache_format": CACHE_FORMAT}


def _cache_key(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()


def _cache_path(cache_dir: Path, identity: dict[str, Any], key: str) -> Path:
    name = "{dataset}-{split}-n{n}-{channels}x{height}x{width}".format(**identity)
    return cache_dir / f"{name}-{key[:20]}.npz"


def _read_cache(path: Path, key: str, identity: dict[str, Any]) -> ReferenceStatistics | None:
    """The cached statistics, or None when the file is absent, unreadable or for something else."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            stored_key, stored_identity = str(data["key"]), json.loads(str(data["identity"]))
            if stored_key != key or stored_identity != json.loads(json.dumps(identity, default=str)):
                log.warning("ignoring %s: it was computed for different images or weights", path)
                return None
            features, mu, sigma = data["features"], data["mu"], data["sigma"]
    except NPZ_READ_ERRORS as err:
        log.warning("ignoring unreadable reference cache %s (%s); computing the statistics again", path, err)
        return None
    log.info("reference statistics from cache %s", path)
    return ReferenceStatistics(torch.from_numpy(features), mu, sigma, identity, key, path, from_cache=True)


def _write_cache(stats: ReferenceStatistics) -> None:
    def write(f):
        np.savez(f, features=stats.features.numpy(), mu=stats.mu, sigma=stats.sigma, key=np.str_(stats.key),
                 identity=np.str_(json.dumps(stats.identity, sort_keys=True, default=str)))
    try:
        atomic_write(stats.path, write)
    except OSError as err:  # a read-only data root: the metric is still computed, just not cached
        log.warning("cannot cache reference statistics at %s (%s); they will be computed again next time",
                    stats.path, err.strerror)
        return
    log.info("cached reference statistics at %s", stats.path)


def reference_statistics(reference: ReferenceImages, weights: InceptionWeights, *, device: str = "auto",
                         batch_size: int = 64) -> ReferenceStatistics:
    """Features, mu and sigma of the reference images: read from the cache, or computed and cached."""
    identity = _full_identity(reference, weights)
    key = _cache_key(identity)
    path = _cache_path(reference.cache_dir, identity, key) if reference.cache_dir is not None else None
    if path is not None and (cached := _read_cache(path, key, identity)) is not None:
        return cached

    features = extract_inception_features(reference.images, weights, layers=(POOL3,), device=device,
                                          batch_size=batch_size, desc="Inception features, reference")[POOL3]
    mu, sigma = gaussian_statistics(features)
    stats = ReferenceStatistics(features, mu, sigma, identity, key, path)
    if path is not None:
        _write_cache(stats)
    return stats
