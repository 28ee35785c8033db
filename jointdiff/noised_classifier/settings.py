"""The noised classifier's settings, with the authors' values as defaults (torch-free, validated).

The authors' `classifier_train.py` builds guided-diffusion's `EncoderUNetModel` with width 128, depth 2,
attention at "32,16,8", scale-shift norm, ResBlock downsampling, attention pooling and 64 channels per attention
head, and trains it on noised images at uniform t with AdamW, lr 3e-4, for 150,000 iterations. Their batch size
is not recorded (their script's default is 4); 256 here, the batch of the joint runs. An experiment file may set
any of these under `noised_classifier:`; the command line takes them as flags of the same names.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

from jointdiff.errors import ConfigError
from jointdiff.settings import Settings, setting


@dataclass(frozen=True)
class NoisedClassifierSettings(Settings):
    width: int = setting(128, "base channel width (the authors' classifier_width 128)")
    depth: int = setting(2, "ResBlocks per level (classifier_depth 2)")
    attention_resolutions: str = setting("32,16,8", "resolutions with attention, as factors image_size // r "
                                                    "(\"32,16,8\")")
    head_channels: int = setting(64, "channels per attention head (64)")
    lr: float = setting(3e-4, "AdamW learning rate, constant (3e-4)")
    batch_size: int = setting(256, "images per step (the authors' value is not recorded; 256)")
    iterations: int = setting(150_000, "optimizer steps (150,000)")
    weight_decay: float = setting(0.0, "AdamW weight decay (0)")
    save_interval: int = setting(10_000, "steps between checkpoints (a rerun resumes from the newest)")
    seed: int = setting(0, "seed of the initialisation, the batches, t and the noise")

    def __post_init__(self) -> None:
        for name in ("width", "depth", "head_channels", "batch_size", "iterations", "save_interval"):
            if getattr(self, name) < 1:
                raise ConfigError(f"noised classifier: {name} must be >= 1, got {getattr(self, name)}")
        if self.width % 32:
            raise ConfigError(f"noised classifier: width must be a multiple of 32 (GroupNorm(32)), got {self.width}")
        if self.width % self.head_channels:
            raise ConfigError(f"noised classifier: width {self.width} does not split into heads of "
                              f"{self.head_channels} channels")
        if not self.lr > 0 or self.weight_decay < 0:
            raise ConfigError(f"noised classifier: lr must be > 0 and weight_decay >= 0, got {self.lr}, "
                              f"{self.weight_decay}")
        self.attention_resolution_list()

    def attention_resolution_list(self) -> list[int]:
        try:
            values = [int(r) for r in str(self.attention_resolutions).split(",") if r.strip()]
        except ValueError:
            values = [0]
        if any(r < 1 for r in values):
            raise ConfigError(f"noised classifier: attention_resolutions must be a comma list of positive "
                              f"integers, got {self.attention_resolutions!r}")
        return values

    def to_flags(self, only_changed: bool = False) -> str:
        """The settings as command-line flags of `jointdiff noised-classifier`: all of them, so that the workflow's
        command shows every value."""
        return super().to_flags(only_changed)

    @classmethod
    def from_mapping(cls, values: dict[str, Any] | None, where: str = "") -> NoisedClassifierSettings:
        """From an experiment file's `noised_classifier:` block (None: the authors' settings); the error names
        `where` and the key."""
        return super().from_mapping(values, where, block="noised_classifier")


def add_settings_arguments(p: argparse.ArgumentParser) -> None:
    """One option per setting, defaulting to the authors' value."""
    NoisedClassifierSettings.add_arguments(p, "the noised classifier (defaults: the authors' classifier_train.py)")
