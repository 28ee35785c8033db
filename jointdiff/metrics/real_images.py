"""Real images of a prepared split for FID: the reference, or the floor's held-out images in place of samples; a
seeded subset when fewer are asked for; the floor's images written as a samples archive (for the samples figure)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from jointdiff.data.loaders import load_uint8_split
from jointdiff.data.specs import get_spec
from jointdiff.images import save_npz
from jointdiff.keys import KEY_IMAGES, KEY_LABELS, KEY_SAMPLE_SETTINGS
from jointdiff.metrics.reference import ReferenceImages, reference_cache_dir


def seeded_subset(images: torch.Tensor, identity: dict[str, Any], count: int | None
                  ) -> tuple[torch.Tensor, dict[str, Any]]:
    """The first `count` images of a seed-0 permutation (in their original order), and the identity saying so."""
    if count is None or count >= len(images):
        return images, identity
    keep = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))[:count]
    return images[keep.sort().values], identity | {"subset": f"first {count} of a seed-0 permutation"}


def load_real_images(dataset: str, dataroot: str | Path, split: str, *, image_size: int | None = None,
                     channels: int | None = None, count: int | None = None) -> ReferenceImages:
    """The uint8 images of a prepared split (at `image_size` and `channels`, default the dataset's own; a seeded
    subset of `count`), their statistics cached beside the dataset."""
    spec = get_spec(dataset)
    images, _ = load_uint8_split(spec.name, dataroot, split, image_size=image_size, channels=channels)
    shape = {"image_size": image_size or spec.image_size, "channels": channels or spec.channels}
    images, identity = seeded_subset(images, {"dataset": spec.name, "split": split, **shape}, count)
    return ReferenceImages(images, identity, reference_cache_dir(dataroot, spec.name))


def save_real_images(path: Path, real: ReferenceImages) -> None:
    """Real images as a samples archive: what the floor measured, for the samples figure."""
    save_npz(path, **{KEY_IMAGES: real.images.permute(0, 2, 3, 1).numpy(), KEY_LABELS: np.full(len(real.images), -1),
                      KEY_SAMPLE_SETTINGS: np.asarray(json.dumps({"real": real.identity}))})
