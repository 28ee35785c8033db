"""GPUs of their own for local jobs (`jointdiff launch`, `jointdiff.jobs`), on a simulated pool: a fake nvidia-smi
on the PATH or CUDA_VISIBLE_DEVICES names the GPUs, and real processes (and a real Snakemake run) hold them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import BIN, subprocess_env
from jointdiff.jobs.launch import job_argv, job_gpus, job_processes, rendezvous_flags, under_torchrun
from jointdiff.errors import UserError
from jointdiff.jobs.gpus import Pool, hold_gpus, machine_pool, try_hold, visible_ids

RECORDER = """import json, os, sys, time
start = time.time()
time.sleep(float(sys.argv[2]))
json.dump({"gpus": os.environ["CUDA_VISIBLE_DEVICES"], "start": start, "end": time.time(),
           "threads": os.environ.get("OMP_NUM_THREADS")}, open(sys.argv[1], "w"))
"""

SNAKEFILE = """
JOBS = config["jobs"]

rule all:
    input: expand("out/{job}.json", job=JOBS)

rule job:
    output: "out/{job}.json"
    resources: gpu=lambda wc: JOBS[wc.job]
    shell: "python -m jointdiff launch --gpus {resources.gpu} -- python record.py {output} 1.5 2> out/{wildcards.job}.log"
"""


def fake_nvidia_smi(bin_dir: Path, count: int) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    script = bin_dir / "nvidia-smi"
    lines = "".join(f"echo 'GPU {i}: NVIDIA H200 (UUID: GPU-{i:04d})'\n" for i in range(count))
    script.write_text(f"#!/bin/sh\n{lines}")
    script.chmod(0o755)
    return bin_dir


def launch_env(tmp_path: Path, **changes: str) -> dict[str, str]:
    """The environment of a job on a machine whose GPUs the fake nvidia-smi lists (4 unless changed)."""
    env = {**subprocess_env(), "JOINTDIFF_GPU_LOCK_DIR": str(tmp_path / "locks")}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    env.pop("SLURM_JOB_ID", None)
    env["PATH"] = f"{fake_nvidia_smi(tmp_path / 'fakebin', 4)}:{BIN}:{env['PATH']}"
    return {**env, **changes}


def overlapping_holds(records: dict[str, dict]) -> list[tuple[str, str, str]]:
    """(gpu, job, job) for every GPU held by two jobs at overlapping times."""
    clashes = []
    names = sorted(records)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            ra, rb = records[a], records[b]
            shared = set(ra["gpus"].split(",")) & set(rb["gpus"].split(","))
            if shared and ra["start"] < rb["end"] and rb["start"] < ra["end"]:
                clashes += [(gpu, a, b) for gpu in shared]
    return clashes


# --- the pool ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, ids", [("0,1,2", ("0", "1", "2")), ("2,5", ("2", "5")), ("", ()), ("-1", ()),
                                        ("GPU-ab12, GPU-cd34", ("GPU-ab12", "GPU-cd34"))])
def test_cuda_visible_devices_names_the_pool(value, ids):
    assert visible_ids(value) == ids


def test_the_pool_is_cuda_visible_devices_else_what_nvidia_smi_lists(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(fake_nvidia_smi(tmp_path / "bin", 3)))
    assert machine_pool({"CUDA_VISIBLE_DEVICES": "2,5"}).ids == ("2", "5")
    listed = machine_pool({})
    assert listed.ids == ("0", "1", "2") and listed.source == "nvidia-smi -L"
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert machine_pool({}).ids == ()  # no nvidia-smi: no GPUs


def test_a_slurm_jobs_allocation_is_its_own_pool_with_its_own_locks(tmp_path):
    # SLURM numbers each job's GPUs from 0: two jobs on one node must not wait on each other's "0".
    first = machine_pool({"CUDA_VISIBLE_DEVICES": "0,1", "SLURM_JOB_ID": "41", "JOINTDIFF_GPU_LOCK_DIR": str(tmp_path)})
    second = machine_pool({"CUDA_VISIBLE_DEVICES": "0", "SLURM_JOB_ID": "42", "JOINTDIFF_GPU_LOCK_DIR": str(tmp_path)})
    assert first.ids == ("0", "1") and "SLURM" in first.source
    assert first.lock_dir != second.lock_dir
    assert try_hold(first, 2) is not None and try_hold(second, 1) is not None


# --- holding -------------------------------------------------------------------------------------------------
def test_a_job_takes_all_it_asks_for_or_nothing(tmp_path):
    pool = Pool(("0", "1", "2", "3"), "test", tmp_path)
    three = try_hold(pool, 3)
    assert sorted(three) == ["0", "1", "2"]
    assert try_hold(pool, 2) is None  # one is free: none is taken
    assert sorted(try_hold(pool, 1)) == ["3"]
    for fd in three.values():
        os.close(fd)
    assert sorted(try_hold(pool, 3)) == ["0", "1", "2"]


def test_asking_for_more_than_the_pool_fails_at_once(tmp_path):
    with pytest.raises(UserError, match=r"asks for 4 GPU\(s\) but the pool \(test\) has 2: 2,5"):
        hold_gpus(4, Pool(("2", "5"), "test", tmp_path))


def test_a_job_waits_for_free_gpus_and_says_so(tmp_path):
    pool = Pool(("0", "1"), "test", tmp_path)
    other = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from jointdiff.jobs.gpus import Pool, hold_gpus; from pathlib import Path; "
        f"hold_gpus(2, Pool(('0', '1'), 'test', Path({str(tmp_path)!r}))); print('held', flush=True); time.sleep(1.5)")],
        stdout=subprocess.PIPE, text=True, env=subprocess_env())
    assert other.stdout.readline().strip() == "held"
    said = []
    started = time.monotonic()
    held = hold_gpus(1, pool, say=said.append, poll_seconds=0.1)
    assert time.monotonic() - started > 0.5 and other.wait(10) == 0
    assert len(held) == 1 and said[0].startswith("waiting for 1 free GPU(s) of 0,1") and "waited" in said[1]


def test_a_killed_jobs_gpus_are_free_at_once(tmp_path):
    env = launch_env(tmp_path)
    job = subprocess.Popen([str(BIN / "python"), "-m", "jointdiff", "launch", "--gpus", "3", "--", "sleep", "60"],
                           env=env, stderr=subprocess.PIPE, text=True)
    assert "on GPU(s) 0,1,2 of 0,1,2,3 (nvidia-smi -L)" in job.stderr.readline()
    pool = Pool(("0", "1", "2", "3"), "test", tmp_path / "locks")
    assert try_hold(pool, 2) is None  # the exec'd `sleep` holds three of them
    job.send_signal(signal.SIGKILL)
    job.wait(10)
    assert sorted(try_hold(pool, 4)) == ["0", "1", "2", "3"]


# --- the launcher ----------------------------------------------------------------------------------------------
def test_a_job_runs_on_its_allocation_or_in_a_gres_slurm_job_on_its_experiments_count():
    assert job_gpus("train", 2, 4, 1, environ={}) == 2                      # scaled down by Snakemake's cap
    assert job_gpus("train", 0, 4, 1, environ={"SLURM_JOB_ID": "7"}) == 4   # gres: resources.gpu is 0
    assert job_gpus("train", 0, 4, 2, environ={"SLURM_JOB_ID": "7"}) == 4   # per node of a multi-node job
    assert job_gpus("fid", 0, 0, 1, environ={}) == 0
    with pytest.raises(UserError, match="its experiment asks for 4 GPU"):
        job_gpus("train", 0, 4, 1, environ={})


def test_one_process_per_gpu_of_the_job():
    assert job_processes(True, 2, 1, torchrun=True) == 2
    assert job_processes(True, 0, 3, torchrun=True) == 3   # a CPU job: train.cpu_processes
    assert job_processes(True, 1, 3, torchrun=False) == 1
    assert job_processes(False, 4, 1, torchrun=False) == 1  # another program uses its 4 GPUs as it likes
    with pytest.raises(UserError, match="--gpus 2 needs --torchrun"):
        job_processes(True, 2, 1, torchrun=False)


def test_torchrun_only_where_there_are_several_processes_or_nodes():
    assert under_torchrun(True, 2, 1) and under_torchrun(True, 1, 2)   # two GPUs; one GPU on each of two nodes
    assert not under_torchrun(True, 1, 1)    # one GPU or one CPU process: plain `python -m jointdiff`
    assert not under_torchrun(False, 1, 1)


@pytest.mark.parametrize("processes", [1, 2])
def test_a_single_process_torchrun_job_runs_as_one_plain_process(tmp_path, processes):
    # `train` without its required flags fails in every process it runs in; torchrun reports the failure. With two
    # workers torchrun stops the second once the first fails, sometimes before it prints: one error or two.
    proc = subprocess.run([str(BIN / "python"), "-m", "jointdiff", "launch", "--gpus", "0", "--cpu-processes",
                           str(processes), "--torchrun", "--", "train"], env=launch_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    errors = proc.stderr.count("jointdiff train: error: the following arguments are required")
    assert errors in ({1} if processes == 1 else {1, 2}), proc.stderr[-2000:]
    assert ("torch/distributed" in proc.stderr) == (processes > 1), proc.stderr[-2000:]


def test_torchrun_starts_the_jobs_process_count_and_other_programs_run_as_given():
    argv = job_argv(["sample", "--model", "m.pt"], True, 2, True, rendezvous_flags(1))
    assert argv[1:] == ["-m", "torch.distributed.run", "--standalone", "--nnodes=1", "--nproc-per-node=2", "-m",
                        "jointdiff", "sample", "--model", "m.pt"]
    assert job_argv(["fid", "--out", "f.json"], True, 1, False, [])[1:] == ["-m", "jointdiff", "fid", "--out", "f.json"]
    assert job_argv(["python", "x.py"], False, 1, False, []) == ["python", "x.py"]
    with pytest.raises(UserError, match="runs only in a SLURM job"):
        rendezvous_flags(2, environ={})


def test_a_gpu_experiment_scaled_to_no_gpu_is_refused_before_it_starts(tmp_path):
    proc = subprocess.run([str(BIN / "python"), "-m", "jointdiff", "launch", "--gpus", "0", "--experiment-gpus",
                           "4", "--torchrun", "--", "train"], env=launch_env(tmp_path), capture_output=True, text=True)
    assert proc.returncode == 2 and "its experiment asks for 4 GPU(s) but this job got none" in proc.stderr


def test_the_log_says_when_a_job_was_scaled_down(tmp_path):
    out = tmp_path / "rec.json"
    proc = subprocess.run([str(BIN / "python"), "-m", "jointdiff", "launch", "--gpus", "1", "--experiment-gpus", "4",
                           "--threads", "6", "--", "python", "-c", RECORDER, str(out), "0"],
                          env=launch_env(tmp_path), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "scaled down: the experiment asks for 4 GPUs, this job got 1" in proc.stderr
    assert json.loads(out.read_text()) | {"start": 0, "end": 0} == {"gpus": "0", "threads": "6", "start": 0, "end": 0}


# --- a real Snakemake run ------------------------------------------------------------------------------------
def run_toy_workflow(tmp_path: Path, env: dict[str, str], jobs: dict[str, int]) -> dict[str, dict]:
    """Run jobs asking for these many GPUs each through `jointdiff launch`; what each recorded, by job."""
    (tmp_path / "Snakefile").write_text(SNAKEFILE)
    (tmp_path / "jobs.json").write_text(json.dumps({"jobs": jobs}))
    (tmp_path / "record.py").write_text(RECORDER)
    (tmp_path / "out").mkdir()
    # No gpu cap: Snakemake starts every job at once, and only the locks keep them apart.
    proc = subprocess.run([str(BIN / "snakemake"), "--snakefile", str(tmp_path / "Snakefile"), "--cores", str(len(jobs)),
                           "--directory", str(tmp_path),
                           "--configfile", str(tmp_path / "jobs.json")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return {p.stem: json.loads(p.read_text()) for p in (tmp_path / "out").glob("*.json")}


@pytest.mark.workflow
def test_jobs_asking_for_1_2_and_4_gpus_at_once_never_share_one(tmp_path):
    jobs = {"one_a": 1, "one_b": 1, "one_c": 1, "one_d": 1, "two_a": 2, "two_b": 2, "four": 4}
    records = run_toy_workflow(tmp_path, launch_env(tmp_path), jobs)
    assert {job: len(r["gpus"].split(",")) for job, r in records.items()} == jobs
    assert overlapping_holds(records) == []
    assert set(",".join(r["gpus"] for r in records.values()).split(",")) == {"0", "1", "2", "3"}
    waited = [p.name for p in (tmp_path / "out").glob("*.log") if "waiting for" in p.read_text()]
    assert waited  # 11 GPUs asked for at once from 4: some jobs waited for others


@pytest.mark.workflow
def test_a_pool_given_by_cuda_visible_devices_hands_out_only_those(tmp_path):
    jobs = {"one_a": 1, "one_b": 1, "one_c": 1, "two": 2}
    records = run_toy_workflow(tmp_path, launch_env(tmp_path, CUDA_VISIBLE_DEVICES="2,5"), jobs)
    assert {r["gpus"] for r in records.values()} <= {"2", "5", "2,5"} and records["two"]["gpus"] == "2,5"
    assert overlapping_holds(records) == []


@pytest.mark.gpu
def test_a_launched_job_sees_exactly_the_gpus_it_holds(tmp_path):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA GPU")
    env = {**subprocess_env(), "JOINTDIFF_GPU_LOCK_DIR": str(tmp_path / "locks")}
    proc = subprocess.run([str(BIN / "python"), "-m", "jointdiff", "launch", "--gpus", "1", "--", str(BIN / "python"),
                           "-c", "import torch; print(torch.cuda.device_count(), torch.cuda.get_device_name(0))"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split()[0] == "1" and "on GPU(s) " in proc.stderr


def test_a_slurm_job_with_gres_gpus_runs_on_its_experiments_count_of_its_allocation(tmp_path):
    # Sites without --gpus ask for GPUs through gres: the job's resources.gpu is 0, its allocation SLURM's.
    out = tmp_path / "rec.json"
    env = launch_env(tmp_path, SLURM_JOB_ID="77", CUDA_VISIBLE_DEVICES="0,1")
    proc = subprocess.run([str(BIN / "python"), "-m", "jointdiff", "launch", "--gpus", "0", "--experiment-gpus", "2",
                           "--", "python", "-c", RECORDER, str(out), "0"], env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(out.read_text())["gpus"] == "0,1"
    assert "of 0,1 (CUDA_VISIBLE_DEVICES (this SLURM job's allocation))" in proc.stderr
