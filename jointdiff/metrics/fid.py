"""FID, precision/recall, KID (and IS) of uint8 samples against real images, with torch-fidelity.

The standard protocol: TF-Inception pool3 features with torch-fidelity's TF-exact resize,
statistics in float64, precision/recall with k = 3 nearest neighbours, KID with torch-fidelity's polynomial
kernel. Precision/recall's k-NN distances run on the job's GPU when it has one, in full float32 (at 50,000
samples: hours on a CPU, minutes on a GPU). Features come from torch-fidelity's extractor and batching
(`features.py`), and every number from its own metric functions on those features — the same maths `torch_fidelity.calculate_metrics` runs (a test
checks the two agree) — so that the reference side can come from our cache (`reference.py`), keyed by the
exact weights, which torch-fidelity's own cache is not.

The result is one flat JSON-ready dict: metric values under the `KEY_*` names of `jointdiff.keys`, and the
protocol fields that keep two kinds of FID apart (protocol, smoke, sample and reference counts, reference split
and content hash, extractor and weights).
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
from jointdiff.metrics.protocols import get_protocol
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


def _check_counts(n_samples: int, n_reference: int, min_samples: int, smoke: bool, protocol: str,
                  selected: list[FidelityMetric]) -> None:
    if n_samples < min_samples and not smoke:
        raise UserError(f"only {n_samples} samples; the {protocol} protocol needs at least {min_samples:,} "
                        "(pass --smoke, or lower --min-samples: below the protocol's minimum either way gives a "
                        "result labelled as a smoke test)")
    floor = max(m.min_images for m in selected)
    if min(n_samples, n_reference) < floor:
        raise UserError(f"{n_samples} samples and {n_reference} reference images: "
                        f"{', '.join(m.name for m in selected)} need at least {floor} in each set")


def _full_float32_numerics(device: str) -> dict[str, object]:
    """What the Inception features and every metric were computed with: full float32, TF32 off."""
    with full_float32():
        return numerics(device)


def compute_fidelity(samples: torch.Tensor | np.ndarray | str | Path | ReferenceImages, reference: ReferenceImages, *,
                     metrics: Sequence[str] = ("fid", "prc", "kid"), protocol: str = "standard",
                     min_samples: int | None = None, smoke: bool = False, weights_path: str | Path | None = None,
                     inception_cache_dir: str | Path | None = None, device: str = "auto",
                     batch_size: int = 64) -> dict[str, Any]:
    """Metrics of uint8 `samples` [N x C x H x W] (or an .npz / PNG directory) against `reference`.

    :param samples: generated images, or real held-out images (a ReferenceImages) for the protocol's floor — what
        real data scores with the same count and reference; their features are cached like the reference's.
    :param metrics: names from METRICS ("fid", "prc", "kid", "isc").
    :param protocol: "standard" or "paper" (see `protocols.py`); decides the reference split and sample count.
    :param min_samples: fewer samples are refused unless `smoke`; None = the protocol's minimum. A result from
        fewer samples than the protocol's minimum is always labelled smoke, whatever min_samples allowed.
    :param weights_path: torch-fidelity's Inception .pth; None = fid-helper's network, converted once.
    :return: metric values under the KEY_* names plus the protocol fields (module docstring).
    """
    # Cheap checks first: names, dtypes, shapes, split and counts.
    selected = select_metrics(metrics)
    spec = get_protocol(protocol)
    device = resolve_device(device).type
    held_out = samples if isinstance(samples, ReferenceImages) else None
    if held_out is not None:
        samples = held_out.images
        if held_out.identity["dataset"] != reference.identity["dataset"] or \
                held_out.identity["split"] == reference.identity["split"]:
            raise UserError(f"the floor compares held-out real images with the reference: --real-split "
                            f"{held_out.identity['split']} must differ from the reference split "
                            f"{reference.identity['split']}")
    samples_path = None if isinstance(samples, torch.Tensor | np.ndarray) else str(samples)
    samples = load_sample_images(samples) if samples_path else check_uint8_images(samples, "samples")
    sample_settings = read_sample_settings(samples_path) if samples_path else None
    made_with = (sample_settings or {}).get("weights")
    if spec.model_weights and made_with and made_with != spec.model_weights:
        log.warning("the %s protocol expects samples from %s weights; these come from %s weights",
                    spec.name, spec.model_weights, made_with)
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
    min_samples = spec.min_samples if min_samples is None else min_samples
    _check_counts(len(samples), len(ref_images), min_samples, smoke, spec.name, selected)
    if len(samples) < spec.min_samples and not smoke:  # a lower --min-samples lets it run, never makes it standard
        log.warning("%d samples are fewer than the %s protocol's %d: the result is labelled smoke", len(samples),
                    spec.name, spec.min_samples)
        smoke = True

    # Weights; the Inception Score needs a classifier that fid-helper's network lacks.
    weights = resolve_inception_weights(weights_path, inception_cache_dir)
    if any(m.layer == LOGITS for m in selected) and not weights.has_classifier:
        raise UserError("the Inception Score needs Inception's classifier layer, which the offline weights "
                        f"({weights.source}) do not have; drop isc from --metrics or pass --inception-weights "
                        "with torch-fidelity's weights-inception-2015-12-05-6726825d.pth")

    # The reference (cached) before the samples, so a reference problem shows before the long part.
    ref_stats = reference_statistics(reference, weights, device=device, batch_size=batch_size)
    layers = tuple(dict.fromkeys(m.layer for m in selected))
    if held_out is not None:
        if layers != (POOL3,):
            raise UserError("the floor computes pool3 metrics only (fid, prc, kid): drop isc from --metrics")
        real = ReferenceImages(samples, held_out.identity, held_out.cache_dir)
        features = {POOL3: reference_statistics(real, weights, device=device, batch_size=batch_size).features}
    else:
        features = extract_inception_features(samples, weights, layers=layers, device=device,
                                              batch_size=batch_size, desc="Inception features, samples")

    # Every metric from torch-fidelity's functions on the features; then the fields that name the protocol.
    result: dict[str, Any] = {}
    settings: dict[str, Any] = {}
    for metric in selected:
        metric_features, metric_reference = features[metric.layer], ref_stats
        if metric.on_device and device == "cuda":
            metric_features = metric_features.to(device)
            metric_reference = replace(ref_stats, features=ref_stats.features.to(device))
        with full_float32():
            values, metric_settings = metric.compute(metric_features, metric_reference)
        result.update({k: float(v) for k, v in values.items()})
        settings.update(metric_settings)
    log.info("%s", ", ".join(f"{k} {v:.6g}" for k, v in result.items()))

    samples_sha256 = hashlib.sha256(np.ascontiguousarray(samples.numpy())).hexdigest()
    result.update({
        KEY_PROTOCOL: spec.name,
        KEY_PROTOCOL_LABEL: spec.label + (" [SMOKE TEST: not a valid measurement]" if smoke else ""),
        KEY_SMOKE: bool(smoke),
        KEY_METRICS: [m.name for m in selected],
        KEY_N_SAMPLES: len(samples),
        KEY_N_REFERENCE: len(ref_images),
        KEY_MIN_SAMPLES: min_samples,
        KEY_WEIGHTS: made_with,
        KEY_FLOOR: held_out is not None,
        KEY_SAMPLES: {"path": samples_path, "sha256": samples_sha256, "shape": list(samples.shape[1:]),
                      "settings": sample_settings, "real": None if held_out is None else held_out.identity},
        KEY_REFERENCE: {k: ref_stats.identity[k] for k in ref_stats.identity if k not in ("extractor", "layer")}
        | {"cache_file": str(ref_stats.path) if ref_stats.path else None},
        KEY_FEATURE_EXTRACTOR: weights.describe(),
        KEY_SETTINGS: settings,
        KEY_STATISTICS_DTYPE: "float64",
        KEY_DEVICE: device,
        KEY_NUMERICS: _full_float32_numerics(device),
        KEY_TORCH_FIDELITY: torch_fidelity.__version__,
    })
    return result
