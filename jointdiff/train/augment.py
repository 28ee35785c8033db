"""Per-sample augmentation of the joint classifier's input, with kornia, as the authors' list.

Two deliberate differences from the authors' code:
- Kornia's intensity ops (brightness, contrast, sharpness, colour jitter) expect [0, 1] and clamp to it; the
  authors fed [-1, 1] images, so every negative pixel (the dark half of the image) came out as 0. Here images
  are mapped to [0, 1], augmented, and mapped back. (Geometric ops therefore pad with black, -1, not grey, 0.)
- MixUp mixes the targets as well as the images (the authors kept hard labels): the caller passes soft targets
  y [N, K] (one-hot rows, or attribute vectors for multi-label data) and gets them back mixed.
Kornia is imported only when the list is non-empty (it is slow to import).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from jointdiff.config import ExperimentConfig

# name -> the paper's setting; colour jitter only applies to RGB images.
AUGMENTATION_SETTINGS = {
    "color_jitter": "brightness, contrast, saturation, hue 0.1 each, p 0.25 (3 channels only)",
    "resized_crop": "random resized crop, scale 0.5-1, p 0.25",
    "rotation": "rotation within ±30°, p 0.25",
    "hflip": "horizontal flip, p 0.5",
    "contrast": "contrast factor 0.6-1.8, p 0.25",
    "sharpness": "sharpness 0.4-2, p 0.25",
    "brightness": "brightness factor 0.6-1.8, p 0.25",
    "mixup": "MixUp with λ ~ U(0, 1), applied to a whole batch with p 0.5 (kornia's RandomMixUpV2)",
}


def _kornia_op(name: str, image_size: int):
    """The kornia module for one augmentation name."""
    import kornia.augmentation as K

    ops = {
        "color_jitter": lambda: K.ColorJitter(0.1, 0.1, 0.1, 0.1, p=0.25),
        "resized_crop": lambda: K.RandomResizedCrop((image_size, image_size), scale=(0.5, 1.0), p=0.25),
        "rotation": lambda: K.RandomRotation(30.0, p=0.25),
        "hflip": lambda: K.RandomHorizontalFlip(p=0.5),
        "contrast": lambda: K.RandomContrast((0.6, 1.8), p=0.25),
        "sharpness": lambda: K.RandomSharpness((0.4, 2.0), p=0.25),
        "brightness": lambda: K.RandomBrightness((0.6, 1.8), p=0.25),
        "mixup": lambda: K.RandomMixUpV2(p=0.5, data_keys=["input", "class"]),
    }
    return ops[name]()


class ClassifierAugmentation:
    """Augment a batch of [-1, 1] images and mix their soft targets.

    :param names: augmentations in the order applied (keys of AUGMENTATION_SETTINGS; MixUp is always last).
    :param image_size: side of the (square) images, for the resized crop.
    :param channels: 1 or 3; colour jitter is skipped for 1-channel images.
    """

    def __init__(self, names: Sequence[str], image_size: int, channels: int) -> None:
        unknown = [n for n in names if n not in AUGMENTATION_SETTINGS]
        if unknown:
            raise ValueError(f"unknown augmentation(s) {unknown}; valid: {', '.join(AUGMENTATION_SETTINGS)}")
        self.names = tuple(n for n in names if not (n == "color_jitter" and channels != 3))
        image_ops = [n for n in self.names if n != "mixup"]
        self.image_ops = None
        self.mixup = None
        if image_ops:
            import kornia.augmentation as K
            self.image_ops = K.ImageSequential(*(_kornia_op(n, image_size) for n in image_ops))
        if "mixup" in self.names:
            self.mixup = _kornia_op("mixup", image_size)

    def __call__(self, x: Tensor, y_soft: Tensor) -> tuple[Tensor, Tensor]:
        """x [N, C, H, W] in [-1, 1], y_soft [N, K] -> (augmented x in [-1, 1], mixed targets [N, K])."""
        assert x.shape[0] == y_soft.shape[0]
        if self.image_ops is None and self.mixup is None:
            return x, y_soft
        x01 = (x + 1) / 2
        if self.image_ops is not None:
            x01 = self.image_ops(x01)
        if self.mixup is not None:
            # kornia mixes x_i with x_pair(i) as (1 - λ_i) x_i + λ_i x_pair(i); passing row indices as the
            # "labels" returns (i, pair(i), λ_i) per row, which mixes the soft targets the same way
            x01, mix = self.mixup(x01, torch.arange(x.shape[0], device=x.device))
            pairs, lam = mix[:, 1].long(), mix[:, 2:3].to(y_soft.dtype)
            y_soft = (1 - lam) * y_soft + lam * y_soft[pairs]
        return x01.clamp(0, 1) * 2 - 1, y_soft


def build_augmentation(cfg: ExperimentConfig) -> ClassifierAugmentation | None:
    """The experiment's classifier augmentation, or None when its list is empty."""
    names = cfg.augmentations()
    if not names:
        return None
    return ClassifierAugmentation(names, cfg.resolved_image_size(), cfg.resolved_channels())
