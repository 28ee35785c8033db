"""The sbatch/srun flags the SLURM executor plugin builds for our GPU rules.

These pin the plugin's behaviour that the train rule relies on (one task, torchrun spawning the GPU
workers), so a plugin upgrade that changes it fails here and not
on a cluster. They call the plugin's own string builders the way its test suite does, with a minimal
stand-in job carrying Snakemake's real ResourceList.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import REPO
from workflow_helpers import dry_run_jobs, snakemake_command

pytest.importorskip("snakemake_executor_plugin_slurm")

from snakemake.iocontainers import ResourceList  # noqa: E402
from snakemake.profiles import ProfileConfigFileParser  # noqa: E402
from snakemake.resources import Resource  # noqa: E402
from snakemake_executor_plugin_slurm.partitions import get_best_partition, read_partition_file  # noqa: E402
from snakemake_executor_plugin_slurm.submit_string import get_submit_command  # noqa: E402
from snakemake_executor_plugin_slurm.utils import set_gres_string  # noqa: E402
from snakemake_executor_plugin_slurm_jobstep import (  # noqa: E402
    get_gpu_setting,
    get_node_setting,
)
from snakemake_interface_common.exceptions import WorkflowError  # noqa: E402

# What the executor passes besides the job (account and partition are preformatted flag strings).
PARAMS = {
    "run_uuid": "run-uuid",
    "slurm_logfile": ".snakemake/slurm_logs/rule_train/%j.log",
    "comment_str": "rule_train",
    "account": "",
    "partition": " -p gpu",
    "workdir": "/work",
}

PROFILE = REPO / "profiles" / "slurm"
PARTITIONS = PROFILE / "partitions.yaml"  # the example: partitions `cpu` and `gpu`
# The train rule's resources for a 4-GPU experiment (config: gpus 4, nodes 1, runtime 3d, mem_mb 64000),
# plus tasks_per_gpu: 0 from profiles/slurm.
TRAIN = {"gpu": 4, "nodes": 1, "runtime": 4320, "mem_mb": 64000, "tasks_per_gpu": 0}


def make_job(threads: int = 1, name: str = "train", **resources) -> SimpleNamespace:
    """The attributes of a Snakemake job that the plugin's string builders read."""
    return SimpleNamespace(
        name=name,
        threads=threads,
        wildcards={},
        resources=ResourceList(fromdict=resources),
    )


def sbatch_for(job, partition: str = "gpu") -> str:
    """The sbatch flags as the executor assembles them (run_job: submit command + GPU string)."""
    return get_submit_command(job, {**PARAMS, "partition": f" -p {partition}"}) + set_gres_string(job)


def profile_settings(monkeypatch, **variables: str) -> dict:
    """profiles/slurm as Snakemake reads it (YTE template evaluated) under these environment variables."""
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with open(PROFILE / "config.yaml") as f:
        return dict(ProfileConfigFileParser().parse(f))


def planned_jobs(workdir: Path, *config: str) -> list[SimpleNamespace]:
    """Every job of a dry run of the paper config through profiles/slurm, with the resources Snakemake gives it
    (the rules' own, the profile's defaults); the dry run names them in its `resources:` lines."""
    env = {**os.environ, "JOINTDIFF_SLURM_PARTITIONS": str(PARTITIONS)}
    command = snakemake_command(workdir, REPO / "config" / "config.yaml", "-n", "--workflow-profile", str(PROFILE),
                                "--config", *config)
    proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    jobs = []
    for rule, local, block in dry_run_jobs(proc.stdout):
        resources = re.search(r"^\s+resources: (.*)$", block, flags=re.M)
        if resources and not local:  # local rules are never submitted
            values = dict(item.split("=", 1) for item in resources.group(1).split(", "))
            kept = {k: int(v) if v.isdigit() else v for k, v in values.items()
                    if v != "<TBD>" and k in ("gpu", "runtime", "mem_mb", "tasks_per_gpu", "nodes", "slurm_partition")}
            jobs.append(make_job(name=rule, **kept))
    return jobs


def flags(command: str) -> list[str]:
    return command.split()


def test_runtime_from_config_is_minutes():
    # Snakemake turns the config's human-friendly runtime into the minutes the plugin passes to -t.
    assert Resource.parse_human_friendly("runtime", "3d") == 4320
    assert Resource.parse_human_friendly("runtime", "12h") == 720


def test_single_node_four_gpus():
    cmd = sbatch_for(make_job(cpus_per_task=32, **TRAIN))
    f = flags(cmd)
    assert "--gpus=4" in f
    assert "--cpus-per-task=32" in f
    assert "--nodes=1" in f
    assert re.search(r"(^| )-t 4320( |$)", cmd)
    assert re.search(r"--mem 64000( |$)", cmd)
    assert "-p gpu" in cmd
    # One task: torchrun, not SLURM, starts one worker per GPU.
    assert not any(x.startswith("--ntasks") for x in f), cmd


def test_threads_become_cpus_per_task():
    # profiles/slurm sets the train CPU count with set-threads, i.e. through threads.
    job = make_job(threads=32, **TRAIN)
    assert "--cpus-per-task=32" in flags(sbatch_for(job))


def test_no_ntasks_per_gpu_without_tasks_per_gpu_setting():
    # Plugin >= 2.7.1 adds --ntasks-per-gpu only when asked, even without the profile's tasks_per_gpu: 0.
    job = make_job(gpu=4, nodes=1, runtime=4320)
    assert "--ntasks-per-gpu" not in sbatch_for(job)


def test_tasks_on_a_gpu_rule_would_split_the_job():
    # Why GPU rules must not set `tasks`: it turns into --ntasks-per-gpu, one task (and one train.py,
    # seeing one GPU) per GPU (plugin issues #316/#459).
    job = make_job(gpu=4, tasks=1)
    assert "--ntasks-per-gpu=1" in flags(sbatch_for(job))


def test_gres_instead_of_gpus():
    # For sites that reject --gpus ("Requested GRES option unsupported by configured SelectType").
    job = make_job(cpus_per_task=32, gres="gpu:a100:4", nodes=1, runtime=4320, tasks_per_gpu=0)
    f = flags(sbatch_for(job))
    assert "--gres=gpu:a100:4" in f
    assert not any(x.startswith("--gpus") for x in f)
    # Still a GPU job for the plugin: no --ntasks at all.
    assert not any(x.startswith("--ntasks") for x in f)


def test_gpu_model_is_prefixed():
    job = make_job(gpu=4, gpu_model="h100", runtime=60)
    assert "--gpus=h100:4" in flags(sbatch_for(job))


def test_nested_quotes_in_gres_are_rejected():
    with pytest.raises(WorkflowError, match="nested string"):
        set_gres_string(make_job(gres="'gpu:4'"))


def test_multi_node_gpus_is_a_total():
    # --gpus counts GPUs of the whole job; with nodes=2 SLURM may split 8 GPUs unevenly, so
    # multi-node runs should ask per node with gres (next test).
    job = make_job(gpu=8, nodes=2, cpus_per_task=64, runtime=4320, tasks_per_gpu=0)
    f = flags(sbatch_for(job))
    assert "--nodes=2" in f
    assert "--gpus=8" in f
    assert not any(x.startswith("--ntasks") for x in f)


def test_multi_node_torchrun_via_mpi_mode():
    # One task per node, each running torchrun over that node's GPUs (README "Multi-node training").
    job = make_job(
        mpi="srun", nodes=2, tasks=2, tasks_per_gpu=0, gres="gpu:4", cpus_per_task=64, runtime=4320
    )
    f = flags(sbatch_for(job))
    assert {"--nodes=2", "--ntasks=2", "--gres=gpu:4", "--cpus-per-task=64"} <= set(f)
    assert "--ntasks-per-gpu" not in " ".join(f)


def test_cpu_only_test_cluster_job():
    # profiles/slurm-test sets gpu: 0 for the GPU rules: no GPU flag at all, one plain task.
    job = make_job(threads=2, gpu=0, nodes=1, runtime=30, mem_mb=4000)
    f = flags(sbatch_for(job))
    assert not any(x.startswith(("--gpus", "--gres")) for x in f)
    assert "--ntasks=1" in f
    assert "--cpus-per-task=2" in f


def test_jobstep_srun_gets_all_gpus_and_one_node():
    # Inside the allocation the job step runs `srun -n1 ... <snakemake job>`; it must see all 4 GPUs.
    job = make_job(**TRAIN)
    assert get_gpu_setting(job) == "--gpus=4"
    assert get_node_setting(job) == "--nodes=1"
    assert get_gpu_setting(make_job(gpu=0)) == ""


def test_the_profile_hands_partition_choice_to_the_plugin(monkeypatch):
    settings = profile_settings(monkeypatch, JOINTDIFF_SLURM_PARTITIONS="/site/partitions.yaml")
    assert settings["slurm-partition-config"] == "/site/partitions.yaml"
    assert "set-resources" not in settings  # no per-rule list to keep in step with the rules
    assert "tasks_per_gpu=0" in settings["default-resources"]
    assert not any(r.startswith("slurm_partition=") for r in settings["default-resources"])
    monkeypatch.delenv("JOINTDIFF_SLURM_PARTITIONS")
    settings = profile_settings(monkeypatch, JOINTDIFF_SLURM_PARTITION="main")  # one partition for every job
    assert "slurm_partition=main" in settings["default-resources"] and "slurm-partition-config" not in settings


def test_every_job_asking_for_a_gpu_is_submitted_to_the_gpu_partition_as_one_task(tmp_path):
    # The partition follows each rule's own `gpu` resource (the plugin's partition selection from the profile's
    # partitions file), not a list of rule names that a new GPU rule could miss. cifar10 asks for 4 GPUs,
    # fashionmnist for 1.
    jobs = planned_jobs(tmp_path, "experiments=[cifar10,fashionmnist]")
    partitions = read_partition_file(PARTITIONS)
    gpu_rules = set()
    for job in jobs:
        partition = get_best_partition(partitions, job, logging.getLogger("slurm-plugin"))
        f = flags(sbatch_for(job, partition))
        gpus = job.resources.get("gpu", 0)
        if gpus:
            gpu_rules.add(job.name)
            assert partition == "gpu" and f"--gpus={gpus}" in f, (job.name, f)
            assert not any(x.startswith("--ntasks") for x in f), (job.name, f)  # torchrun starts the workers
        else:
            assert partition == "cpu" and not any(x.startswith(("--gpus", "--gres")) for x in f), (job.name, f)
    # Every rule of the workflow that runs a model asks for a GPU, the scoring of guided samples included.
    assert gpu_rules == {"train", "sample_unconditional", "sample_guided", "counterfactual", "accuracy",
                         "fid_standard", "fid_paper_protocol", "guided_score", "fid_floor", "independent_classifier"}
    # The GPU-less test cluster's profile takes the GPUs away from exactly these rules.
    with open(REPO / "profiles" / "slurm-test" / "config.yaml") as f:
        test_profile = dict(ProfileConfigFileParser().parse(f))
    assert {r.split(":")[0] for r in test_profile["set-resources"] if r.endswith(":gpu=0")} == gpu_rules
    assert {"--gpus=4", "--gpus=1"} <= {x for job in jobs for x in flags(sbatch_for(job)) if x.startswith("--gpus")}
