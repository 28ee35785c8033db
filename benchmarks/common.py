"""What every benchmark shares: the run's environment record, interleaved timing, peak memory, tables, JSON lines.

Timing is interleaved: each repeat runs every variant once, in an order rotated by one per repeat, so a change
in machine load hits all variants alike (the 2-core CPU here is shared). The first call of each variant is a
warm-up, timed on its own (for torch.compile it includes the compilation). Besides wall-clock seconds, each call's
process CPU time is kept: with one thread (--threads 1) it is the work done, whatever the scheduler gave other
jobs, which makes CPU ratios on a loaded machine far steadier. With several threads on a loaded machine, wall
time includes OpenMP threads waiting for each other whenever one of them is descheduled.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
MIB = 2 ** 20


# ---------------------------------------------------------------------------------------------------------------
def git_commit() -> str:
    """HEAD's hash, with '+dirty' when the working tree has uncommitted changes ('unknown' outside git)."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    try:
        commit = git("rev-parse", "HEAD")
        return commit + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU model from /proc/cpuinfo."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_instructions() -> dict[str, str]:
    """The CPU instruction set torch's kernels use (ATen's, lowered by ATEN_CPU_CAPABILITY) and oneDNN's limit when
    ONEDNN_MAX_CPU_ISA sets one: the same CPU limited to AVX2 stands in for an AVX2 machine, and its lines say so."""
    fields = {"cpu_capability": torch.backends.cpu.get_cpu_capability()}
    if os.environ.get("ONEDNN_MAX_CPU_ISA"):
        fields["onednn_max_cpu_isa"] = os.environ["ONEDNN_MAX_CPU_ISA"]
    return fields


def environment(device: torch.device) -> dict[str, Any]:
    """The fields every result line carries: code version, library versions, machine, threads, load."""
    return {"git_commit": git_commit(), "torch": torch.__version__, "python": platform.python_version(),
            "device": device.type, "device_name": device_name(device), "cpu_count": os.cpu_count(),
            **cpu_instructions(), "threads": torch.get_num_threads(),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- peak memory ---------------------------------------------------------------------------------------------------
def _proc_status_kib(key: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _release_free_heap() -> None:
    """Give memory that malloc keeps after frees back to the system (glibc's malloc_trim), so that RSS counts live
    memory only; a no-op where there is no glibc."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _reset_cpu_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: write 5 to /proc/self/clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """Extra memory a block needed at its peak, in MiB.

    CUDA: torch.cuda.max_memory_allocated after a reset, minus what was allocated before. CPU: the process's
    VmHWM (peak resident set) after resetting it, minus the RSS before: every allocation counts, tensors or not,
    freed heap memory is returned to the system first (malloc_trim) so that the start counts live memory only.
    None where neither is available.
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.mib: float | None = None

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
        else:
            _release_free_heap()
            self._reset = _reset_cpu_peak()
            self._start = _proc_status_kib("VmRSS")
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.mib = (torch.cuda.max_memory_allocated(self.device) - self._start) / MIB
        elif self._reset and self._start is not None:
            peak = _proc_status_kib("VmHWM")
            self.mib = None if peak is None else max(peak - self._start, 0) / 1024


# --- interleaved timing --------------------------------------------------------------------------------------------
@dataclass
class Timing:
    """Seconds of one variant: its warm-up call and the timed repeats; peak extra memory of a timed call."""

    first_call_s: float | None  # None without a warm-up
    seconds: list[float] = field(default_factory=list)       # wall clock
    cpu_seconds: list[float] = field(default_factory=list)   # this process's CPU time, all threads
    peak_mib: float | None = None

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def median_cpu_s(self) -> float:
        return statistics.median(self.cpu_seconds)


def time_interleaved(calls: dict[str, Callable[[], Any]], repeats: int, device: torch.device,
                     warmup: int = 1) -> dict[str, Timing]:
    """Time each zero-argument call: `warmup` calls each (the first one timed as first_call_s), then `repeats`
    rounds of one call per variant, the order rotated each round. Peak memory comes from each variant's first
    timed call. warmup=0 (smoke runs) times cold calls."""
    timings: dict[str, Timing] = {name: Timing(first_call_s=None) for name in calls}
    for name, call in calls.items():
        for i in range(warmup):
            synchronize(device)
            start = time.perf_counter()
            call()
            synchronize(device)
            if i == 0:
                timings[name].first_call_s = time.perf_counter() - start
    names = list(calls)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            with PeakMemory(device) as memory:
                synchronize(device)
                start, cpu_start = time.perf_counter(), time.process_time()
                calls[name]()
                synchronize(device)
                seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
            timings[name].seconds.append(seconds)
            timings[name].cpu_seconds.append(cpu_seconds)
            if timings[name].peak_mib is None:
                timings[name].peak_mib = memory.mib
    return timings


# --- output ----------------------------------------------------------------------------------------------------------
def append_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")


def format_table(rows: list[dict[str, Any]], columns: list[tuple[str, str, str]]) -> str:
    """A plain-text table; columns are (key, header, format spec), missing values shown as '-'."""
    def cell(row: dict[str, Any], key: str, spec: str) -> str:
        value = row.get(key)
        return "-" if value is None else format(value, spec)
    cells = [[header for _, header, _ in columns]] + [[cell(r, k, s) for k, _, s in columns] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    left = [spec == "" for _, _, spec in columns]  # text columns left-aligned, numbers right-aligned
    lines = ["  ".join(c.ljust(w) if lft else c.rjust(w) for c, w, lft in zip(line, widths, left))
             for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


TABLE_COLUMNS = [("section", "section", ""), ("config", "config", ""), ("variant", "variant", ""),
                 ("batch", "batch", "d"), ("median_s", "median s", ".4f"), ("throughput", "throughput", ".2f"),
                 ("unit", "unit", ""), ("ratio", "x base", ".2f"), ("peak_mib", "peak MiB", ".0f"),
                 ("first_call_s", "1st call s", ".2f"), ("median_cpu_s", "cpu s", ".3f"),
                 ("cpu_ratio", "x base cpu", ".2f"), ("gflop_per_s", "GFLOP/s", ".1f")]
