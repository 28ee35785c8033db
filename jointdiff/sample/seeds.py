"""How many samples one output may hold, and the seeds of an unconditional run (torch-free: the workflow checks
the counts it asks for against MAX_SAMPLES at parse time)."""

from __future__ import annotations

import re

from jointdiff.errors import UserError

# More samples than this in one output need --allow-large: twice the 50,000 of a paper FID, so that a slip such as
# --per-class 1000000 is refused instead of starting a job of days.
MAX_SAMPLES = 100_000


def check_sample_count(count: int, asked: str, allow_large: bool) -> None:
    """UserError when `asked` (the flags, as the user wrote them) means more than MAX_SAMPLES samples."""
    if count > MAX_SAMPLES and not allow_large:
        raise UserError(f"{asked} asks for {count:,} samples, more than {MAX_SAMPLES:,} (twice a paper FID's); "
                        "pass --allow-large if you mean it")


def parse_seeds(text: str, allow_large: bool = False) -> list[int]:
    """'0-999' or '0,5,7' or '0-9,20-29' → a list of seeds (counted before it is built)."""
    ranges = []
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m:
            raise UserError(f"--seeds expects ranges like 0-999 or lists like 0,5,7, got {text!r}")
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if hi < lo:
            raise UserError(f"--seeds range {part.strip()!r} runs backwards")
        ranges.append(range(lo, hi + 1))
    check_sample_count(sum(len(r) for r in ranges), f"--seeds {text}", allow_large)
    return [seed for r in ranges for seed in r]
