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


def test_jobs_ask_for_at_most_the_machines_gpus(tmp_path):
    # cifar10 asks for 4 GPUs; on a 2-GPU machine its training runs on 2, and one-GPU jobs stay at 1.
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "0,1"}
    command = snakemake_command(tmp_path, REPO / "config" / "config.yaml", "-n", "--workflow-profile", str(PROFILE),
                                "--config", "experiments=[cifar10]")
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    gpus = {m.group(1): int(m.group(2)) for m in
            re.finditer(r"^rule (\w+):\n(?:    .*\n)*?    resources: .*?\bgpu=(\d+)", proc.stdout, flags=re.M)}
    assert gpus["train"] == gpus["sample_unconditional"] == 2 and gpus["fid_standard"] == 1
