"""profiles/local: the documented way to run the paper's experiments on one machine caps the GPUs that jobs
running at once may ask for at this machine's GPU count."""

from __future__ import annotations

import os
import re
import subprocess

import pytest
from snakemake.profiles import ProfileConfigFileParser

from conftest import REPO
from workflow_helpers import snakemake_command

PROFILE = REPO / "profiles" / "local"


def gpu_cap() -> int:
    """The `resources: gpu` the profile gives, as Snakemake reads it (YTE template evaluated)."""
    with open(PROFILE / "config.yaml") as f:
        settings = dict(ProfileConfigFileParser().parse(f))
    (cap,) = [int(r.split("=")[1]) for r in settings["resources"] if r.startswith("gpu=")]
    return cap


@pytest.mark.parametrize("visible, count", [("0,1,2", 3), ("3", 1), ("", 0), ("-1", 0)])
def test_the_cap_is_the_gpus_cuda_visible_devices_names(monkeypatch, visible, count):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    assert gpu_cap() == count


def test_otherwise_the_gpus_nvidia_smi_lists(monkeypatch, tmp_path):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert gpu_cap() == 0  # no nvidia-smi: a machine without (NVIDIA) GPUs
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'GPU 0: NVIDIA H100 (UUID: GPU-a)'\necho 'GPU 1: NVIDIA H100 (UUID: GPU-b)'\n")
    fake.chmod(0o755)
    assert gpu_cap() == 2


JOB = re.compile(r"^rule (\w+):\n(?:    .*\n)*?    resources: .*?\bgpu=(\d+).*\nShell command: (.*)$", flags=re.M)


def test_every_gpu_job_runs_through_the_launcher_on_its_allocation(tmp_path):
    # cifar10 asks for 4 GPUs; on a 2-GPU machine its training and sampling run on 2, and one-GPU jobs stay at 1.
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0,1"}
    command = snakemake_command(tmp_path, REPO / "config" / "config.yaml", "-n", "-p", "--workflow-profile",
                                str(PROFILE), "--config", "experiments=[cifar10]")
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    jobs = JOB.findall(proc.stdout)
    gpu_jobs = {rule for rule, gpus, _ in jobs if int(gpus) > 0}
    assert {"train", "sample_unconditional", "sample_guided", "fid_standard", "fid_floor", "accuracy", "guided_score",
            "counterfactual", "independent_classifier"} <= gpu_jobs
    for rule, gpus, shell in jobs:
        launch = re.search(r"python -m jointdiff launch (.*?) --gpus (\d+) --threads \d+ -- (\S+)", shell)
        assert launch, f"{rule} does not run through jointdiff launch: {shell}"
        assert launch.group(2) == gpus, f"{rule}: launched on {launch.group(2)} GPUs, allocated {gpus}"
        torchrun = "--torchrun" in launch.group(1)
        assert torchrun == (launch.group(3) in ("train", "sample")), rule
        assert "--nproc-per-node" not in shell  # only the launcher decides the process count
    assert {rule: int(gpus) for rule, gpus, _ in jobs if rule in ("train", "sample_unconditional", "fid_standard")} == {
        "train": 2, "sample_unconditional": 2, "fid_standard": 1}
    assert "--experiment-gpus 4" in next(shell for rule, _, shell in jobs if rule == "train")


def test_a_batch_the_scaled_down_gpus_cannot_share_is_refused_before_any_job(tmp_path):
    # svhn trains batch 256 on 4 GPUs; a 3-GPU machine would scale it to 3 processes, which cannot split it.
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0,1,2"}
    command = snakemake_command(tmp_path, REPO / "config" / "config.yaml", "-n", "--workflow-profile", str(PROFILE),
                                "--config", "experiments=[svhn]")
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode != 0
    assert ("experiment 'svhn': batch_size 256 is not divisible by its 3 training processes (resources.gpus 4 scaled "
            "down to the 3 GPUs of --resources gpu)") in proc.stdout + proc.stderr
