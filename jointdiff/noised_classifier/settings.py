"""The noised classifier's settings, with the authors' values as defaults (torch-free, validated).

The authors' `classifier_train.py` builds guided-diffusion's `EncoderUNetModel` with width 128, depth 2,
attention at "32,16,8", scale-shift norm, ResBlock downsampling, attention pooling and 64 channels per attention
head, and trains it on noised images at uniform t with AdamW, lr 3e-4, for 150,000 iterations. Their batch size
is not recorded (their script's default is 4); 256 here, the batch of the joint runs. An experiment file may set
any of these under `noised_classifier:`; the command line takes them as flags of the same names.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, fields
from typing import Any

from jointdiff.errors import ConfigError

HELP = {
    "width": "base channel width (the authors' classifier_width 128)",
    "depth": "ResBlocks per level (classifier_depth 2)",
    "attention_resolutions": "resolutions with attention, as factors image_size // r (\"32,16,8\")",
    "head_channels": "channels per attention head (64)",
    "lr": "AdamW learning rate, constant (3e-4)",
    "batch_size": "images per step (the authors' value is not recorded; 256)",
    "iterations": "optimizer steps (150,000)",
    "weight_decay": "AdamW weight decay (0)",
    "save_interval": "steps between checkpoints (a rerun resumes from the newest)",
    "seed": "seed of the initialisation, the batches, t and the noise",
}

KIND_NAMES = {int: "an integer", float: "a number", str: "text"}


@dataclass(frozen=True)
class NoisedClassifierSettings:
    width: int = 128
    depth: int = 2
    attention_resolutions: str = "32,16,8"
    head_channels: int = 64
    lr: float = 3e-4
    batch_size: int = 256
    iterations: int = 150_000
    weight_decay: float = 0.0
    save_interval: int = 10_000
    seed: int = 0

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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_flags(self) -> str:
        """The settings as command-line flags of `jointdiff noised-classifier`."""
        return " ".join(f"--{flag(k)} {v}" for k, v in self.to_dict().items())

    @classmethod
    def from_mapping(cls, values: dict[str, Any] | None, where: str) -> NoisedClassifierSettings:
        """From an experiment file's `noised_classifier:` block (None: the authors' settings); the error names
        `where` and the key."""
        values = dict(values or {})
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ConfigError(f"{where}: unknown noised_classifier key(s) {', '.join(unknown)}; valid: "
                              f"{', '.join(f.name for f in fields(cls))}")
        typed = {}
        for f in fields(cls):
            if f.name in values:
                kind = type(f.default)
                try:
                    typed[f.name] = kind(values[f.name]) if kind is not str else str(values[f.name])
                except (TypeError, ValueError):
                    raise ConfigError(f"{where}: noised_classifier.{f.name} expects {KIND_NAMES[kind]}, "
                                      f"got {values[f.name]!r}")
        try:
            return cls(**typed)
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> NoisedClassifierSettings:
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})


assert set(HELP) == {f.name for f in fields(NoisedClassifierSettings)}, "every setting has its help line"


def flag(name: str) -> str:
    return name.replace("_", "-")


def add_settings_arguments(p: argparse.ArgumentParser) -> None:
    """One option per setting, defaulting to the authors' value."""
    g = p.add_argument_group("the noised classifier (defaults: the authors' classifier_train.py)")
    for f in fields(NoisedClassifierSettings):
        g.add_argument(f"--{flag(f.name)}", type=type(f.default), default=f.default, help=HELP[f.name])
