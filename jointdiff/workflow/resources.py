"""An experiment file's `resources:` block: what each of its workflow jobs asks the scheduler for.

`gpus` are per node; `nodes` > 1 runs one torchrun per node (SLURM only). `runtime` is the training job's limit,
which a retry (after a time-out) multiplies by its attempt, capped at `max_runtime` (unset: three runtimes);
`eval_runtime` is the limit of each sampling and metric job. A runtime is minutes or a duration: 90m, 12h, 2d.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, fields
from typing import Any

from jointdiff.errors import ConfigError

RUNTIME_UNITS = {"d": 1440, "h": 60, "m": 1}
RUNTIMES = ("runtime", "max_runtime", "eval_runtime")


def runtime_minutes(value: Any) -> int:
    """A runtime ("2d", "12h", "90m" or minutes) in minutes; ValueError when it is none of these."""
    text = str(value).strip().lower()
    minutes = float(text[:-1]) * RUNTIME_UNITS[text[-1]] if text[-1:] in RUNTIME_UNITS else float(text)
    if not 0 < minutes < math.inf:
        raise ValueError(value)
    return int(minutes)


@dataclass(frozen=True)
class Resources:
    gpus: int = 0
    nodes: int = 1
    runtime: str | int = "12h"
    mem_mb: int = 16000
    max_runtime: str | int | None = None
    eval_runtime: str | int = "12h"

    def __post_init__(self) -> None:
        for key, least in (("gpus", 0), ("nodes", 1), ("mem_mb", 1)):
            value = getattr(self, key)
            if type(value) is not int or value < least:
                raise ConfigError(f"resources.{key} must be an integer >= {least}, got {value!r}")
        for key in RUNTIMES:
            value = getattr(self, key)
            if value is None and key == "max_runtime":
                continue  # three runtimes
            try:
                runtime_minutes(value)
            except ValueError:
                raise ConfigError(f"resources.{key} must be minutes or a duration like 90m, 12h, 2d, "
                                  f"got {value!r}") from None

    def minutes(self, key: str = "runtime") -> int:
        """One of RUNTIMES in minutes; max_runtime unset is three runtimes."""
        if key == "max_runtime" and self.max_runtime is None:
            return 3 * self.minutes()
        return runtime_minutes(getattr(self, key))

    def train_minutes(self, attempt: int) -> int:
        """The training job's limit on its `attempt`-th try: attempt x runtime, capped at max_runtime."""
        return min(attempt * self.minutes(), self.minutes("max_runtime"))

    @classmethod
    def from_mapping(cls, block: Any, where: str) -> Resources:
        """From an experiment file's `resources:` block (None: the defaults); the error names `where` and the key."""
        keys, block = [f.name for f in fields(cls)], block or {}
        if not isinstance(block, dict):
            raise ConfigError(f"{where}: resources must be a mapping of {', '.join(keys)}")
        for key in block:
            if key not in keys:
                hint = difflib.get_close_matches(str(key), keys, n=1)
                raise ConfigError(f"{where}: unknown key resources.{key}" + (
                    f" (did you mean {hint[0]}?)" if hint else f"; known: {', '.join(keys)}"))
        try:
            return cls(**block)
        except ConfigError as err:
            raise ConfigError(f"{where}: {err}") from None
