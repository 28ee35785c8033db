"""The sbatch/srun flags the SLURM executor plugin builds for our GPU rules.

These pin the plugin's behaviour that the train rule relies on (one task, torchrun spawning the GPU
workers), so a plugin upgrade that changes it fails here and not
on a cluster. They call the plugin's own string builders the way its test suite does, with a minimal
stand-in job carrying Snakemake's real ResourceList.
"""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest

pytest.importorskip("snakemake_executor_plugin_slurm")

from snakemake.iocontainers import ResourceList  # noqa: E402
from snakemake.resources import Resource  # noqa: E402
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

# The train rule's resources for a 4-GPU experiment (config: gpus 4, nodes 1, runtime 3d, mem_mb 64000),
# plus tasks_per_gpu: 0 from profiles/slurm.
TRAIN = {"gpu": 4, "nodes": 1, "runtime": 4320, "mem_mb": 64000, "tasks_per_gpu": 0}


def make_job(threads: int = 1, **resources) -> SimpleNamespace:
    """The attributes of a Snakemake job that the plugin's string builders read."""
    return SimpleNamespace(
        name="train",
        threads=threads,
        wildcards={},
        resources=ResourceList(fromdict=resources),
    )


def sbatch_for(job) -> str:
    """The sbatch flags as the executor assembles them (run_job: submit command + GPU string)."""
    return get_submit_command(job, PARAMS) + set_gres_string(job)


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
