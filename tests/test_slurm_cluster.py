"""Jobs through a real SLURM cluster on this machine (Debian's slurm-wlm, two nodes on one host,
started by scripts/slurm/start_test_cluster.sh).

What is real here: slurmctld/slurmd/munged, sbatch/squeue/scancel, the Snakemake SLURM executor plugin
with profiles/slurm-test, SLURM's own pre-emption (partition priority, PreemptMode=REQUEUE), and a
process that checkpoints and resumes the way training does. Nothing is mocked.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from slurm_cluster import (  # noqa: F401  (slurm_cluster is a pytest fixture)
    SlurmCluster,
    read_json,
    run,
    slurm_cluster,
    wait_for,
    write_counter_script,
)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

TARGET = 20  # counter steps of 0.5 s: 10 s of "training" in all


def test_cluster_is_up_with_the_default_config_path(slurm_cluster: SlurmCluster):
    # The plugin's job step drops SLURM_CONF, so only the default path works inside jobs.
    config = run(["scontrol", "show", "config"]).stdout
    assert re.search(r"^SLURM_CONF\s*=\s*/etc/slurm/slurm.conf$", config, re.M)
    assert run(["sinfo", "-h", "-p", "debug", "-o", "%a"]).stdout.strip() == "up"


def test_cancelled_job_resumes_from_its_checkpoint_when_resubmitted(
    slurm_cluster: SlurmCluster, tmp_path: Path
):
    counter = write_counter_script(tmp_path)
    state_path = tmp_path / "state.json"
    submit = ["--partition=debug", f"--output={tmp_path}/%j.out", "--time=5",
              f"--wrap={sys.executable} {counter} {state_path} {TARGET}"]  # fmt: skip

    first = slurm_cluster.sbatch(*submit)
    wait_for("4 checkpoints", lambda: (s := read_json(state_path)) and s["count"] >= 4, timeout=60)
    run(["scancel", first])
    slurm_cluster.wait_state(first, {"CANCELLED"})
    count_at_cancel = read_json(state_path)["count"]
    assert count_at_cancel < TARGET

    second = slurm_cluster.sbatch(*submit)
    slurm_cluster.wait_state(second, {"COMPLETED"}, timeout=120)

    state = read_json(state_path)
    assert state["count"] == TARGET
    assert [r["job"] for r in state["runs"]] == [first, second]
    # Continued where the cancelled job's last checkpoint left off, not from 0.
    assert state["runs"][1]["start"] == count_at_cancel >= 4


def test_preempted_job_is_requeued_and_resumes(slurm_cluster: SlurmCluster, tmp_path: Path):
    counter = write_counter_script(tmp_path)
    state_path = tmp_path / "state.json"
    low = slurm_cluster.sbatch(
        "--partition=debug", "--requeue", "--exclusive", "--time=5", f"--output={tmp_path}/%j.out",
        f"--wrap={sys.executable} {counter} {state_path} {TARGET}",
    )  # fmt: skip
    wait_for("4 checkpoints", lambda: (s := read_json(state_path)) and s["count"] >= 4, timeout=60)

    # A job in the higher-tier partition needs the whole node: SLURM pre-empts (requeues) the low one.
    urgent = slurm_cluster.sbatch(
        "--partition=urgent", "--exclusive", "--time=1", f"--output={tmp_path}/%j.out", "--wrap=sleep 1"
    )
    wait_for(f"job {low} to be requeued", lambda: slurm_cluster.job(low).get("Restarts") == "1", 60)
    slurm_cluster.wait_state(urgent, {"COMPLETED"}, timeout=60)
    slurm_cluster.skip_requeue_hold(low)
    slurm_cluster.wait_state(low, {"COMPLETED"}, timeout=120)

    state = read_json(state_path)
    assert state["count"] == TARGET
    first, second = state["runs"]
    # Same SLURM job, restarted by SLURM, resumed from its checkpoint.
    assert first["job"] == second["job"] == low
    assert (first["restart"], second["restart"]) == (0, 1)
    assert second["start"] >= 4


# Like the real train rule: checkpoints live outside the declared output (Snakemake deletes the
# outputs of a failed job before retrying it), and only the finished model is declared.
TRAIN_WORKFLOW = """\
rule train:
    output: "model_final.json"
    params: ckpt="ckpt/state.json"
    shell: "mkdir -p ckpt && {python} counter.py {{params.ckpt}} {target} && cp {{params.ckpt}} {{output}}"
"""


def _start_training(slurm_cluster: SlurmCluster, workdir: Path, *args: str, target: int = TARGET):
    """Start snakemake on TRAIN_WORKFLOW (`target` counter steps) in the background; return once the job has
    checkpointed."""
    write_counter_script(workdir)
    (workdir / "Snakefile").write_text(TRAIN_WORKFLOW.format(python=sys.executable, target=target))
    with (workdir / "snakemake.out").open("w") as log:
        # Ctrl-C must reach Snakemake as on a terminal: a suite started in the background by a shell (`make test
        # &`) inherits SIGINT ignored, and Snakemake would then run on to the end.
        proc = subprocess.Popen(
            slurm_cluster.snakemake_cmd(*args), cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
    state_path = workdir / "ckpt" / "state.json"
    try:
        wait_for("4 checkpoints", lambda: (s := read_json(state_path)) and s["count"] >= 4, timeout=120)
    except AssertionError:
        proc.kill()
        raise AssertionError((workdir / "snakemake.out").read_text())
    return proc, read_json(state_path)["runs"][0]["job"]


def _finish(proc: subprocess.Popen, workdir: Path) -> None:
    rc = proc.wait(timeout=300)
    assert rc == 0, (workdir / "snakemake.out").read_text()


def test_snakemake_waits_while_slurm_requeues_preempted_training(
    slurm_cluster: SlurmCluster, tmp_path: Path
):
    # With slurm-requeue (both profiles), SLURM requeues a pre-empted job under the same id and
    # Snakemake keeps waiting for it; no retry is needed (--retries 0 in the test profile).
    proc, job = _start_training(slurm_cluster, tmp_path)
    slurm_cluster.sbatch(
        "--partition=urgent", "--exclusive", "--time=1", f"--output={tmp_path}/%j.out", "--wrap=sleep 1"
    )
    wait_for(f"job {job} to be requeued", lambda: slurm_cluster.job(job).get("Restarts") == "1", 60)
    slurm_cluster.skip_requeue_hold(job)
    _finish(proc, tmp_path)

    state = read_json(tmp_path / "model_final.json")
    assert state["count"] == TARGET
    (run1, run2) = state["runs"]
    assert run1["job"] == run2["job"] == job
    assert run2["start"] >= 4


def test_rerun_after_interrupting_snakemake_resumes_training(slurm_cluster: SlurmCluster, tmp_path: Path):
    # Snakemake stopped on the login node (Ctrl-C, logout): it cancels its SLURM jobs; running the same
    # command again resubmits the unfinished job (rerun-incomplete), which resumes from its checkpoint.
    # 30 s of "training", so that the job cannot end before Snakemake has cancelled it, however slow the
    # machine.
    target = 60
    proc, first = _start_training(slurm_cluster, tmp_path, target=target)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    try:
        slurm_cluster.wait_state(first, {"CANCELLED"}, timeout=60)
    except AssertionError as err:
        raise AssertionError(f"{err}; job state {slurm_cluster.state(first)}; snakemake's log:\n"
                             + (tmp_path / "snakemake.out").read_text()[-3000:])
    assert not (tmp_path / "model_final.json").exists()

    rerun = slurm_cluster.snakemake(tmp_path, timeout=300)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr

    state = read_json(tmp_path / "model_final.json")
    assert state["count"] == target
    (run1, run2) = state["runs"]
    assert run1["job"] == first != run2["job"]
    assert run2["start"] >= 4
