"""Timesteps as fractions of T, given as a comma list (accuracy's --noise-fractions, probe's --t-fractions)."""

from __future__ import annotations

from jointdiff.errors import UserError


def parse_fractions(text: str, flag: str) -> list[float]:
    """'0,0.1,0.5' → [0.0, 0.1, 0.5], each in [0, 1], or a UserError naming `flag`."""
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise UserError(f"{flag} expects a comma list of numbers in [0, 1], got {text!r}")
    if any(not 0 <= v <= 1 for v in values):
        raise UserError(f"{flag} must lie in [0, 1], got {text!r}")
    return values
