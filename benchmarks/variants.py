"""Named ways of running the same model: numerics, memory layout, compilation, and with or without the head.

A variant's name spells its switches: `fp32` or `bf16`, then `+cl` (channels_last), `+compile` (torch.compile),
and `/nocls` for the plain diffusion step (train_with_classifier False). `fp32` alone is the baseline every other
variant is compared against: eager, NCHW, float32. The switches are the config fields of the same names
(`bf16`, `channels_last`, `compile`, `train_with_classifier`), applied exactly as jointdiff.train applies them.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass

import torch

BASELINE = "fp32"


@dataclass(frozen=True)
class Variant:
    bf16: bool = False           # torch.autocast(bfloat16) around the forward passes
    channels_last: bool = False  # model and input in channels_last memory format
    compile: bool = False        # torch.compile of the step (training) or of the UNet (sampling)
    classifier: bool = True      # False: the plain diffusion step, no head and no second encoder pass

    @property
    def name(self) -> str:
        parts = ["bf16" if self.bf16 else "fp32"] + ["cl"] * self.channels_last + ["compile"] * self.compile
        return "+".join(parts) + ("" if self.classifier else "/nocls")

    def autocast(self, device: torch.device):
        return torch.autocast(device.type, dtype=torch.bfloat16) if self.bf16 else nullcontext()

    def layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


def parse_variant(name: str) -> Variant:
    """'bf16+cl+compile/nocls' -> Variant; an unknown part raises ValueError naming it."""
    body, _, suffix = name.partition("/")
    if suffix not in ("", "nocls"):
        raise ValueError(f"variant {name!r}: unknown suffix /{suffix} (only /nocls)")
    dtype, *switches = body.split("+")
    if dtype not in ("fp32", "bf16"):
        raise ValueError(f"variant {name!r}: must start with fp32 or bf16")
    unknown = set(switches) - {"cl", "compile"}
    if unknown:
        raise ValueError(f"variant {name!r}: unknown switch {', '.join(sorted(unknown))} (cl, compile)")
    return Variant(bf16=dtype == "bf16", channels_last="cl" in switches, compile="compile" in switches,
                   classifier=not suffix)


def parse_variants(names: str) -> list[Variant]:
    """A comma list of variant names, the baseline first (added when missing)."""
    variants = [parse_variant(n.strip()) for n in names.split(",") if n.strip()]
    baseline = parse_variant(BASELINE)
    return [baseline] + [v for v in variants if v != baseline]
