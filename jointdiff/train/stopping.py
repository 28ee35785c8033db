"""When an invocation checkpoints early and ends: SIGTERM/SIGUSR1/SIGINT (if a signal reaches the process at all;
a second one acts at once), the end of the torchrun that started this process, the wall-clock checkpoint timer,
or --stop-after-steps (cluster time slices). Every rank agrees on the answer.

torchrun starts its workers in sessions of their own, so killing the job's process group (Snakemake killed with
SIGKILL, a crashed node agent) kills torchrun but not them: they would train on, unseen, beside the rerun. So a
worker watches its parent and stops, with a checkpoint, once it is no longer the torchrun that started it.
"""

from __future__ import annotations

import logging
import os
import signal
import time

import torch

from jointdiff import distributed as jd_dist
from jointdiff.config import ExperimentConfig

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)  # SIGINT: Ctrl-C, which torchrun passes on
POLL_EVERY = 10  # steps between the ranks' agreement on the signal and the timer


class TrainingPaused(Exception):
    """This invocation ended early (a signal or stop_after_steps) after writing a checkpoint."""


class StopControl:
    def __init__(self, cfg: ExperimentConfig, stop_after_steps: int, device: torch.device) -> None:
        self.checkpoint_seconds = 60 * cfg.checkpoint_minutes
        self.stop_after_steps = stop_after_steps
        self.device = device
        self.signalled = False
        self.launcher = os.getppid() if "TORCHELASTIC_RUN_ID" in os.environ else None  # set by torchrun
        self.last_checkpoint_time = time.monotonic()
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum, frame) -> None:
        log.warning("received signal %d: checkpointing at the next step and exiting (send it again to stop now)",
                    signum)
        self.signalled = True
        signal.signal(signum, signal.SIG_DFL)

    def checkpointed(self) -> None:
        """Restart the checkpoint timer."""
        self.last_checkpoint_time = time.monotonic()

    def _watch_launcher(self) -> None:
        """The end of the torchrun that started this worker (the worker now has another parent) acts as a signal."""
        if self.launcher is not None and os.getppid() != self.launcher and not self.signalled:
            log.warning("torchrun (pid %d) is gone: checkpointing at the next step and exiting", self.launcher)
            self.signalled = True

    def poll(self, step: int, steps_this_run: int) -> tuple[bool, bool]:
        """(stop now, checkpoint timer due) after `step`; the signal, the launcher and the timer are read every
        POLL_EVERY steps."""
        stop_now = timer_due = False
        if step % POLL_EVERY == 0:
            self._watch_launcher()
            timer_due = (self.checkpoint_seconds > 0
                         and time.monotonic() - self.last_checkpoint_time > self.checkpoint_seconds)
            flags = jd_dist.all_reduce_sum(torch.tensor([float(self.signalled), float(timer_due)],
                                                        device=self.device))
            stop_now, timer_due = bool(flags[0] > 0), bool(flags[1] > 0)
        return stop_now or 0 < self.stop_after_steps <= steps_this_run, timer_due
