"""A real single-node SLURM cluster for tests, as a session fixture, plus helpers.

Use it from any test module (pytest auto-loads only conftest.py, so import the fixture by name):

    from slurm_cluster import slurm_cluster  # noqa: F401  (pytest fixture)

    @pytest.mark.slurm
    def test_x(slurm_cluster, tmp_path):
        proc = slurm_cluster.snakemake(tmp_path, "--configfile", "...")

The fixture runs scripts/slurm/start_test_cluster.sh once per session and stop_test_cluster.sh at the
end (reference-counted, so several modules importing it share one cluster). A cluster that was already
up before the session is used and left running. It skips only when this machine cannot have the
cluster: not root, or the packages cannot be installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
START_SCRIPT = REPO / "scripts" / "slurm" / "start_test_cluster.sh"
STOP_SCRIPT = REPO / "scripts" / "slurm" / "stop_test_cluster.sh"
TEST_PROFILE = REPO / "profiles" / "slurm-test"
STATE_DIR = Path(os.environ.get("JOINTDIFF_SLURM_STATE_DIR", "/var/tmp/jointdiff-slurm"))
EXIT_CANNOT_INSTALL = 3  # start_test_cluster.sh: apt-get failed

# A stand-in for resumable training: counts to TARGET in 0.5 s steps, saves its state after every step
# (temp file + rename, like the real checkpoints), resumes from the saved state, and records each run
# (SLURM job id, SLURM restart count, count it started from).
COUNTER_SCRIPT = """\
import json, os, sys, time
from pathlib import Path

state_path, target = Path(sys.argv[1]), int(sys.argv[2])
state = json.loads(state_path.read_text()) if state_path.exists() else {"count": 0, "runs": []}
state["runs"].append({
    "job": os.environ.get("SLURM_JOB_ID"),
    "restart": int(os.environ.get("SLURM_RESTART_COUNT", "0")),
    "start": state["count"],
})
while state["count"] < target:
    time.sleep(0.5)
    state["count"] += 1
    tmp = state_path.with_name(state_path.name + ".tmp")
    tmp.write_text(json.dumps(state))
    os.replace(tmp, state_path)
print("finished", json.dumps(state))
"""


def run(cmd: list[str], timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command, capturing text output; on failure the error shows both streams."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd)} exited {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"
        )
    return proc


def wait_for(what: str, predicate, timeout: float, interval: float = 0.25):
    """Poll predicate() until it returns something truthy; fail naming `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def read_json(path: Path) -> dict | None:
    """The JSON in path, or None while it does not exist yet."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class SlurmCluster:
    """Handle on the running test cluster."""

    state_dir: Path
    profile: Path = TEST_PROFILE

    # --- jobs -------------------------------------------------------------------------------------
    def sbatch(self, *args: str) -> str:
        """Submit with sbatch --parsable; returns the job id."""
        return run(["sbatch", "--parsable", *args]).stdout.strip().split(";")[0]

    def job(self, job_id: str) -> dict[str, str]:
        """`scontrol show job` as a dict (finished jobs stay visible for MinJobAge = 600 s)."""
        out = run(["scontrol", "show", "job", "--oneliner", job_id]).stdout
        return dict(item.split("=", 1) for item in out.split() if "=" in item)

    def state(self, job_id: str) -> str:
        return self.job(job_id)["JobState"]

    def wait_state(self, job_id: str, states: set[str], timeout: float = 120) -> str:
        return wait_for(
            f"job {job_id} to reach {sorted(states)}",
            lambda: (s := self.state(job_id)) in states and s,
            timeout,
        )

    def history(self) -> str:
        """Finished jobs, one line each (jobcomp/filetxt: JobId=... JobState=... Partition=...)."""
        path = self.state_dir / "jobcomp.log"
        return path.read_text() if path.exists() else ""

    def finished_state(self, job_id: str) -> str | None:
        """The JobState of job_id's latest record in the job history (a requeued job has several)."""
        state = None
        for line in self.history().splitlines():
            fields = dict(item.split("=", 1) for item in line.split() if "=" in item)
            if fields.get("JobId") == job_id:
                state = fields.get("JobState")
        return state

    def skip_requeue_hold(self, job_id: str, timeout: float = 60) -> None:
        """SLURM holds a requeued job for a fixed ~120 s (Reason=BeginTime); tests release it now.

        The hold is set only once the pre-empted job has finished completing, so wait for it first
        (an earlier StartTime=now is overwritten).
        """

        def held() -> bool:
            info = self.job(job_id)
            return info["JobState"] == "PENDING" and info.get("Reason") == "BeginTime"

        wait_for(f"requeued job {job_id} to be held", held, timeout)
        run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"])

    # --- snakemake --------------------------------------------------------------------------------
    def snakemake_cmd(self, *args: str) -> list[str]:
        """snakemake from this interpreter's environment, through the SLURM plugin and the test profile."""
        return [
            sys.executable, "-m", "snakemake",
            "--executor", "slurm",
            "--workflow-profile", str(self.profile),
            *args,
        ]  # fmt: skip

    def snakemake(
        self, workdir: Path, *args: str, timeout: float = 600, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        """Run snakemake in workdir to completion (not checked: assert on returncode yourself).

        env is also the jobs' environment (the plugin submits with --export=ALL), e.g. a PATH with the
        venv's bin first so that rules find `jointdiff` and `torchrun`.
        """
        return subprocess.run(
            self.snakemake_cmd(*args),
            cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env,
        )  # fmt: skip


def write_counter_script(directory: Path) -> Path:
    path = directory / "counter.py"
    path.write_text(COUNTER_SCRIPT)
    return path


# --- the fixture ---------------------------------------------------------------------------------
_users = 0
_stop_at_end = False


def _start() -> None:
    global _stop_at_end
    if os.geteuid() != 0:
        pytest.skip("the SLURM test cluster needs root (it installs slurm-wlm and starts its daemons)")
    if shutil.which("slurmctld") is None and shutil.which("apt-get") is None:
        pytest.skip("SLURM is not installed and there is no apt-get to install it")
    already_up = (STATE_DIR / "started").exists()
    proc = subprocess.run(
        ["bash", str(START_SCRIPT)], capture_output=True, text=True, timeout=900,
        env={**os.environ, "JOINTDIFF_SLURM_STATE_DIR": str(STATE_DIR)},
    )  # fmt: skip
    if proc.returncode == EXIT_CANNOT_INSTALL:
        pytest.skip(f"cannot install SLURM here: {proc.stderr.strip()}")
    if proc.returncode != 0:
        pytest.fail(f"start_test_cluster.sh failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    _stop_at_end = not already_up


def _stop() -> None:
    proc = subprocess.run(
        ["bash", str(STOP_SCRIPT)], capture_output=True, text=True, timeout=120,
        env={**os.environ, "JOINTDIFF_SLURM_STATE_DIR": str(STATE_DIR)},
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"stop_test_cluster.sh failed:\n{proc.stdout}\n{proc.stderr}")


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """A running single-node SLURM cluster (partitions 'debug' and 'urgent'), stopped after the session."""
    global _users
    if _users == 0:
        _start()
    _users += 1
    try:
        yield SlurmCluster(state_dir=STATE_DIR)
    finally:
        _users -= 1
        if _users == 0 and _stop_at_end:
            _stop()
