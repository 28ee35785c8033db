"""Progress of a long loop (training steps, sampling batches, Inception features) for whoever watches it.

On a terminal it is a tqdm bar. Anywhere else (a rule's log file, a SLURM log) a bar's carriage-return
updates would pile up into one unreadable line, so the same numbers go out as plain log lines instead: one when
the loop starts, then one every LOG_INTERVAL_S seconds, and one at the end. Both speak tqdm's text (count,
percentage, elapsed, remaining, rate, postfix), so a log reads like the bar did.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from tqdm import tqdm

log = logging.getLogger(__name__)

LOG_INTERVAL_S = 30.0   # between two progress lines in a log: 4 lines for a 2-minute FID, 120 an hour
BAR_INTERVAL_S = 5.0    # between two redraws of a terminal bar


class LogProgress:
    """tqdm's update / set_postfix / close as log lines every `interval_s` seconds (and at start and end)."""

    def __init__(self, total: int, *, desc: str, unit: str, initial: int = 0,
                 interval_s: float = LOG_INTERVAL_S) -> None:
        self.total, self.desc, self.unit, self.initial = total, desc, unit, initial
        self.n = initial
        self.interval_s = interval_s
        self.postfix = ""
        self.start = self.last_line = time.monotonic()
        self.shown = None   # the count of the last line, so that close() does not repeat it
        self._emit()

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self.last_line >= self.interval_s:
            self._emit()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{key}={value}" for key, value in values.items())

    def close(self) -> None:
        if self.shown != self.n:
            self._emit()

    def __enter__(self) -> LogProgress:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _emit(self) -> None:
        self.last_line, self.shown = time.monotonic(), self.n
        meter = tqdm.format_meter(self.n, self.total, self.last_line - self.start, prefix=self.desc, unit=self.unit,
                                  initial=self.initial, postfix=self.postfix or None,
                                  bar_format="{desc}: {n_fmt}/{total_fmt} {unit} ({percentage:.0f}%) "
                                             "[{elapsed}<{remaining}, {rate_fmt}{postfix}]")
        log.info("%s", meter)


def progress(total: int, *, desc: str, unit: str, initial: int = 0,
             enabled: bool = True) -> tqdm | LogProgress:
    """A progress reporter for `total` units: a bar on a terminal, log lines otherwise, nothing if not `enabled`
    (processes other than the main one, or progress switched off)."""
    if not enabled:
        return tqdm(total=total, disable=True)
    if sys.stderr.isatty():
        return tqdm(total=total, initial=initial, desc=desc, unit=unit, dynamic_ncols=True,
                    mininterval=BAR_INTERVAL_S)
    return LogProgress(total, desc=desc, unit=unit, initial=initial)
