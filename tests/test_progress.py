"""Progress reports: a tqdm bar on a terminal, plain log lines in a log file, nothing when switched off."""

from __future__ import annotations

import io
import logging
import sys

from tqdm import tqdm

from jointdiff import progress as progress_module
from jointdiff.progress import LogProgress, progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_and_a_log_file_gets_lines(monkeypatch, caplog):
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    with progress(10, desc="sampling", unit="batch") as bar:
        assert isinstance(bar, tqdm)
        bar.update(10)
    assert "\r" in terminal.getvalue() and "10/10" in terminal.getvalue()

    log_file = io.StringIO()
    monkeypatch.setattr("sys.stderr", log_file)
    with caplog.at_level(logging.INFO, logger="jointdiff.progress"):
        with progress(10, desc="sampling", unit="batch") as bar:
            assert isinstance(bar, LogProgress)
            bar.update(10)
    assert log_file.getvalue() == ""  # the lines go through logging, which the command line sends to stderr
    assert [r.getMessage().split(" [")[0] for r in caplog.records] == ["sampling: 0/10 batch (0%)",
                                                                       "sampling: 10/10 batch (100%)"]


def test_lines_come_at_the_interval_with_the_postfix_and_the_end_once(monkeypatch, caplog):
    now = [0.0]
    monkeypatch.setattr(progress_module.time, "monotonic", lambda: now[0])
    with caplog.at_level(logging.INFO, logger="jointdiff.progress"):
        bar = LogProgress(100, desc="training", unit="step", initial=40, interval_s=3)  # resumed at step 40
        for second in range(1, 6):
            now[0] = second
            bar.update(10)            # a line at t = 3 (step 70), none at 1, 2, 4, 5
        bar.set_postfix(loss="0.0312")
        bar.close()                   # the end (step 90), once
        bar.close()
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(" [")[0] for line in lines] == ["training: 40/100 step (40%)", "training: 70/100 step (70%)",
                                                       "training: 90/100 step (90%)"]
    assert "10.00step/s" in lines[1]  # the rate counts this run's 30 steps in 3 s, not the resumed 40
    assert lines[-1].endswith(", loss=0.0312]") and "loss" not in lines[1]
    assert not any("\r" in line for line in lines)


def test_switched_off_is_silent(monkeypatch, caplog):
    monkeypatch.setattr("sys.stderr", Terminal())
    with caplog.at_level(logging.INFO):
        with progress(5, desc="training", unit="step", enabled=False) as bar:
            bar.update(5)
            bar.set_postfix(loss=1)
    assert not caplog.records and sys.stderr.getvalue() == ""
