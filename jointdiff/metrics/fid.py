"""FID, precision/recall, KID (and IS) of uint8 samples against real images, with torch-fidelity.

The standard protocol: TF-Inception pool3 features with torch-fidelity's TF-exact resize,
statistics in float64, precision/recall with k = 3 nearest neighbours, KID with torch-fidelity's polynomial
kernel. Precision/recall's k-NN distances run on the job's GPU when it has one, in full float32 (at 50,000
samples: hours on a CPU, minutes on a GPU). Features come from torch-fidelity's extractor and batching
(`features.py`), and every number from its own metric functions on those features — the same maths `torch_fidelity.calculate_metrics` runs (a test
checks the two agree) — so that the reference side can come from our cache (`reference.py`), keyed by the
exact weights, which torch-fidelity's own cache is not.

`sample_fidelity` scores generated samples; `floor_fidelity` the protocol's floor, held-out real images in their
place. Both take a `FidelitySettings` (metrics, protocol, counts, weights, device). The result is one flat
JSON-ready dict: metric values under the `KEY_*` names of `jointdiff.keys`, and the protocol fields that keep two
kinds of FID apart (protocol, smoke, sample and reference counts, reference split and content hash, extractor and
weights).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch_fidelity
from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric
from torch_fidelity.metric_prc import (KEY_METRIC_F_SCORE, KEY_METRIC_PRECISION, KEY_METRIC_RECALL,
                                       prc_features_to_metric)

from jointdiff.distributed import resolve_device
from jointdiff.errors import ConfigError, UserError
from jointdiff.keys import (KEY_DEVICE, KEY_F_SCORE, KEY_FEATURE_EXTRACTOR, KEY_FID, KEY_FLOOR, KEY_ISC_MEAN,
                            KEY_ISC_STD, KEY_KID_MEAN, KEY_KID_STD, KEY_METRICS, KEY_MIN_SAMPLES, KEY_N_REFERENCE,
                            KEY_N_SAMPLES, KEY_NUMERICS, KEY_PRECISION, KEY_PROTOCOL, KEY_PROTOCOL_LABEL,
                            KEY_RECALL, KEY_REFERENCE, KEY_SAMPLES, KEY_SETTINGS, KEY_SMOKE, KEY_STATISTICS_DTYPE,
                            KEY_TORCH_FIDELITY, KEY_WEIGHTS)
from jointdiff.metrics.features import extract_inception_features
from jointdiff.metrics.frechet import frechet_distance, gaussian_statistics
from jointdiff.metrics.inception import LOGITS, POOL3, resolve_inception_weights
from jointdiff.metrics.protocols import Protocol, get_protocol
from jointdiff.metrics.reference import ReferenceImages, ReferenceStatistics, reference_statistics
from jointdiff.metrics.samples import check_uint8_images, load_sample_images, read_sample_settings
from jointdiff.gpu.precision import full_float32, numerics

log = logging.getLogger(__name__)

PRC_NEIGHBORHOOD = 3      # k of the k-NN manifolds (Kynkäänniemi et al.; torch-fidelity's default)
KID_SUBSETS = 100         # torch-fidelity's defaults
KID_SUBSET_SIZE = 1000    # lowered to the smaller set's size when a set is smaller
ISC_SPLITS = 10
RNG_SEED = 2020           # torch-fidelity's default seed: KID subsets and IS shuffling


@dataclass(frozen=True)
class FidelityMetric:
    """One metric over Inception features: `compute(sample_features, reference) -> (values, settings)`."""

    name: str
    layer: str        # the Inception output it reads from the samples
    min_images: int   # in each set, even in a smoke test
    compute: Callable[[torch.Tensor, ReferenceStatistics], tuple[dict[str, float], dict[str, Any]]]
    on_device: bool = False  # its features move to the job's GPU, if it has one (the k-NN distances)


METRICS: dict[str, FidelityMetric] = {}


def register_metric(metric: FidelityMetric) -> None:
    assert metric.name not in METRICS, f"metric {metric.name} registered twice"
    assert metric.layer in (POOL3, LOGITS) and metric.min_images >= 2
    METRICS[metric.name] = metric


def _fid(features: torch.Tensor, reference: ReferenceStatistics):
    mu, sigma = gaussian_statistics(features)
    return {KEY_FID: frechet_distance(mu, sigma, reference.mu, reference.sigma)}, {}


def _prc(features: torch.Tensor, reference: ReferenceStatistics):
    # torch-fidelity's convention: features_1 generated, features_2 real.
    out = prc_features_to_metric(features, reference.features, prc_neighborhood=PRC_NEIGHBORHOOD,
                                 save_cpu_ram=True, verbose=False)
    return ({KEY_PRECISION: out[KEY_METRIC_PRECISION], KEY_RECALL: out[KEY_METRIC_RECALL],
             KEY_F_SCORE: out[KEY_METRIC_F_SCORE]}, {"prc_neighborhood": PRC_NEIGHBORHOOD})


def _kid(features: torch.Tensor, reference: ReferenceStatistics):
    size = min(KID_SUBSET_SIZE, len(features), len(reference.features))
    out = kid_features_to_metric(features, reference.features, kid_subsets=KID_SUBSETS, kid_subset_size=size,
                                 rng_seed=RNG_SEED, verbose=False)
    return ({KEY_KID_MEAN: out[KEY_METRIC_KID_MEAN], KEY_KID_STD: out[KEY_METRIC_KID_STD]},
            {"kid_subsets": KID_SUBSETS, "kid_subset_size": size, "kid_kernel": "poly(degree 3)"})


def _isc(logits: torch.Tensor, reference: ReferenceStatistics):
    out = isc_features_to_metric(logits, ISC_SPLITS, shuffle=True, rng_seed=RNG_SEED)
    return ({KEY_ISC_MEAN: out[KEY_METRIC_ISC_MEAN], KEY_ISC_STD: out[KEY_METRIC_ISC_STD]},
            {"isc_splits": ISC_SPLITS})


register_metric(FidelityMetric("fid", POOL3, 2, _fid))
register_metric(FidelityMetric("prc", POOL3, PRC_NEIGHBORHOOD + 1, _prc, on_device=True))
register_metric(FidelityMetric("kid", POOL3, 2, _kid))
register_metric(FidelityMetric("isc", LOGITS, ISC_SPLITS, _isc))


def select_metrics(names: Sequence[str]) -> list[FidelityMetric]:
    """The registered metrics named in `names` (duplicates dropped), or a ConfigError naming --metrics."""
    unknown = [n for n in names if n not in METRICS]
    if unknown or not names:
        raise ConfigError(f"--metrics {','.join(names)!r}: expected a comma list of {', '.join(METRICS)}")
    return [METRICS[n] for n in dict.fromkeys(names)]


@dataclass(frozen=True)
class FidelitySettings:
    """How the metrics are computed: which ones, under which protocol (see `protocols.py`), with which Inception
    weights, where. The metric and protocol names are checked when the settings are made."""

    metrics: tuple[str, ...] = ("fid", "prc", "kid")   # names from METRICS
    protocol: str = "standard"
    min_samples: int | None = None    # fewer samples are refused unless smoke; None: the protocol's minimum
    smoke: bool = False               # fewer than the protocol's minimum are labelled smoke, whatever min_samples
    weights_path: str | Path | None = None   # torch-fidelity's Inception .pth; None = fid-helper's, converted once
    inception_cache_dir: str | Path | None = None
    device: str = "auto"
    batch_size: int = 64

    def __post_init__(self) -> None:
        select_metrics(self.metrics)
        get_protocol(self.protocol)


@dataclass(frozen=True)
class _Scored:
    """The images scored against the reference, and what the metric file records of them."""

    images: torch.Tensor              # uint8 [N x C x H x W]
    path: str | None                  # the file they were read from
    settings: dict[str, Any] | None   # the sampler settings stored with them
    real: ReferenceImages | None      # the floor: held-out real images, their features cached like the reference's


def sample_fidelity(samples: torch.Tensor | np.ndarray | str | Path, reference: ReferenceImages,
                    settings: FidelitySettings = FidelitySettings()) -> dict[str, Any]:
    """Metrics of generated uint8 samples [N x C x H x W] (or an .npz / PNG directory of them) against `reference`:
    the values under the KEY_* names plus the protocol fields (module docstring)."""
    path = None if isinstance(samples, torch.Tensor | np.ndarray) else str(samples)
    images = load_sample_images(path) if path else check_uint8_images(samples, "samples")
    return _fidelity(_Scored(images, path, read_sample_settings(path) if path else None, None), reference, settings)


def floor_fidelity(real: ReferenceImages, reference: ReferenceImages,
                   settings: FidelitySettings = FidelitySettings()) -> dict[str, Any]:
    """The protocol's floor: the same metrics of held-out real images (another split of the reference's dataset)
    in place of samples, so that every FID can be read against what real data gets with the same count and
    reference. Pool3 metrics only (fid, prc, kid)."""
    if real.identity["dataset"] != reference.identity["dataset"] or \
            real.identity["split"] == reference.identity["split"]:
        raise UserError(f"the floor compares held-out real images with the reference: --real-split "
                        f"{real.identity['split']} must differ from the reference split {reference.identity['split']}")
    if any(m.layer != POOL3 for m in select_metrics(settings.metrics)):
        raise UserError("the floor computes pool3 metrics only (fid, prc, kid): drop isc from --metrics")
    return _fidelity(_Scored(check_uint8_images(real.images, "samples"), None, None, real), reference, settings)


def _check_counts(n_samples: int, n_reference: int, min_samples: int, smoke: bool, protocol: str,
                  selected: list[FidelityMetric]) -> None:
    if n_samples < min_samples and not smoke:
        raise UserError(f"only {n_samples} samples; the {protocol} protocol needs at least {min_samples:,} "
                        "(pass --smoke, or lower --min-samples: below the protocol's minimum either way gives a "
                        "result labelled as a smoke test)")
    needed = max(m.min_images for m in selected)
    if min(n_samples, n_reference) < needed:
        raise UserError(f"{n_samples} samples and {n_reference} reference images: "
                        f"{', '.join(m.name for m in selected)} need at least {needed} in each set")


def _protocol_samples(samples: torch.Tensor, reference: ReferenceImages, spec: Protocol,
                      settings: FidelitySettings) -> tuple[torch.Tensor, int, bool]:
    """The samples the protocol uses (its first ones, when it counts them), checked against the reference; the
    minimum count that applied, and whether the result is a smoke test."""
    ref_images = check_uint8_images(reference.images, f"reference {reference.identity['dataset']}")
    if samples.shape[1:] != ref_images.shape[1:]:
        raise UserError(f"samples are {'x'.join(map(str, samples.shape[1:]))} (C x H x W) but the reference "
                        f"images are {'x'.join(map(str, ref_images.shape[1:]))}; load the reference at the "
                        "samples' size and channels (--image-size, --channels)")
    if reference.identity["split"] != spec.reference_split:
        raise UserError(f"--split {reference.identity['split']}: the {spec.name} protocol compares against the "
                        f"{spec.reference_split} split")
    if spec.num_samples is not None and len(samples) > spec.num_samples:
        log.info("%s protocol: using the first %d of %d samples", spec.name, spec.num_samples, len(samples))
        samples = samples[: spec.num_samples]
    min_samples = spec.min_samples if settings.min_samples is None else settings.min_samples
    _check_counts(len(samples), len(ref_images), min_samples, settings.smoke, spec.name,
                  select_metrics(settings.metrics))
    smoke = settings.smoke
    if len(samples) < spec.min_samples and not smoke:  # a lower --min-samples lets it run, never makes it standard
        log.warning("%d samples are fewer than the %s protocol's %d: the result is labelled smoke", len(samples),
                    spec.name, spec.min_samples)
        smoke = True
    return samples, min_samples, smoke


def _metric_values(selected: list[FidelityMetric], features: dict[str, torch.Tensor], ref_stats: ReferenceStatistics,
                   device: str) -> tuple[dict[str, float], dict[str, Any]]:
    """Every metric from torch-fidelity's functions on the features, in full float32: values and settings."""
    values: dict[str, float] = {}
    settings: dict[str, Any] = {}
    for metric in selected:
        metric_features, metric_reference = features[metric.layer], ref_stats
        if metric.on_device and device == "cuda":
            metric_features = metric_features.to(device)
            metric_reference = replace(ref_stats, features=ref_stats.features.to(device))
        with full_float32():
            metric_values, metric_settings = metric.compute(metric_features, metric_reference)
        values.update({k: float(v) for k, v in metric_values.items()})
        settings.update(metric_settings)
    log.info("%s", ", ".join(f"{k} {v:.6g}" for k, v in values.items()))
    return values, settings


def _full_float32_numerics(device: str) -> dict[str, object]:
    """What the Inception features and every metric were computed with: full float32, TF32 off."""
    with full_float32():
        return numerics(device)


def _fidelity(scored: _Scored, reference: ReferenceImages, settings: FidelitySettings) -> dict[str, Any]:
    """The metrics of `scored` against `reference`, and the fields that name the protocol."""
    # Cheap checks first: names, shapes, split and counts.
    selected = select_metrics(settings.metrics)
    spec = get_protocol(settings.protocol)
    device = resolve_device(settings.device).type
    made_with = (scored.settings or {}).get("weights")
    if spec.model_weights and made_with and made_with != spec.model_weights:
        log.warning("the %s protocol expects samples from %s weights; these come from %s weights",
                    spec.name, spec.model_weights, made_with)
    samples, min_samples, smoke = _protocol_samples(scored.images, reference, spec, settings)

    # Weights; the Inception Score needs a classifier that fid-helper's network lacks.
    weights = resolve_inception_weights(settings.weights_path, settings.inception_cache_dir)
    if any(m.layer == LOGITS for m in selected) and not weights.has_classifier:
        raise UserError("the Inception Score needs Inception's classifier layer, which the offline weights "
                        f"({weights.source}) do not have; drop isc from --metrics or pass --inception-weights "
                        "with torch-fidelity's weights-inception-2015-12-05-6726825d.pth")

    # The reference (cached) before the samples, so a reference problem shows before the long part.
    ref_stats = reference_statistics(reference, weights, device=device, batch_size=settings.batch_size)
    if scored.real is not None:
        real = ReferenceImages(samples, scored.real.identity, scored.real.cache_dir)
        features = {POOL3: reference_statistics(real, weights, device=device,
                                                batch_size=settings.batch_size).features}
    else:
        features = extract_inception_features(samples, weights, layers=tuple(dict.fromkeys(m.layer for m in selected)),
                                              device=device, batch_size=settings.batch_size,
                                              desc="Inception features, samples")
    result, metric_settings = _metric_values(selected, features, ref_stats, device)

    samples_sha256 = hashlib.sha256(np.ascontiguousarray(samples.numpy())).hexdigest()
    result.update({
        KEY_PROTOCOL: spec.name,
        KEY_PROTOCOL_LABEL: spec.label + (" [SMOKE TEST: not a valid measurement]" if smoke else ""),
        KEY_SMOKE: bool(smoke),
        KEY_METRICS: [m.name for m in selected],
        KEY_N_SAMPLES: len(samples),
        KEY_N_REFERENCE: len(reference.images),
        KEY_MIN_SAMPLES: min_samples,
        KEY_WEIGHTS: made_with,
        KEY_FLOOR: scored.real is not None,
        KEY_SAMPLES: {"path": scored.path, "sha256": samples_sha256, "shape": list(samples.shape[1:]),
                      "settings": scored.settings, "real": None if scored.real is None else scored.real.identity},
        KEY_REFERENCE: {k: ref_stats.identity[k] for k in ref_stats.identity if k not in ("extractor", "layer")}
        | {"cache_file": str(ref_stats.path) if ref_stats.path else None},
        KEY_FEATURE_EXTRACTOR: weights.describe(),
        KEY_SETTINGS: metric_settings,
        KEY_STATISTICS_DTYPE: "float64",
        KEY_DEVICE: device,
        KEY_NUMERICS: _full_float32_numerics(device),
        KEY_TORCH_FIDELITY: torch_fidelity.__version__,
    })
    return result
