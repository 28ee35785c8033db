"""The real jointdiff workflow on a real (single-node) SLURM cluster through the test profile."""

from __future__ import annotations

import csv
import json
import re
import subprocess

import pytest
import torch

from conftest import REPO, subprocess_env
from slurm_cluster import SlurmCluster, run, slurm_cluster, wait_for  # noqa: F401  (pytest fixture)
from workflow_helpers import TINY_EXPERIMENT, tiny_workflow


@pytest.mark.slurm
@pytest.mark.slow
def test_tiny_workflow_runs_through_slurm(slurm_cluster: SlurmCluster, tmp_path, digits_root):  # noqa: F811
    config = tiny_workflow(tmp_path, digits_root)
    proc = slurm_cluster.snakemake(tmp_path, "--snakefile", str(REPO / "Snakefile"), "--configfile", str(config),
                                   timeout=1500, env=subprocess_env(threads=1))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]

    # Every non-local job went through sbatch, ran to completion on the cluster, and left its SLURM log.
    submitted = {job_id: (rule, tmp_path / log) for job_id, log, rule in re.findall(
        r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S*?/rule_(\w+)/\S*?\.log)\)", output)}
    rules = {rule for rule, _ in submitted.values()}
    assert {"train", "sample_unconditional", "sample_guided", "accuracy", "fid_standard", "counterfactual",
            "guided_score", "independent_classifier"} <= rules, rules
    assert not rules & {"table", "figure_samples"}  # report rules stay local
    for job_id, (rule, log) in submitted.items():
        assert slurm_cluster.finished_state(job_id) == "COMPLETED", (job_id, rule)
        # slurmctld knows the job by its rule (and wildcards: rule_train_wildcards_tiny)
        assert slurm_cluster.job(job_id)["Comment"].split("_wildcards_")[0] == f"rule_{rule}"
        assert log.is_file() and log.name == f"{job_id}.log"

    # The outputs are the workflow's, with the numbers in the tables taken from the metric files.
    accuracy = json.loads((tmp_path / "results" / "tiny" / "metrics" / "accuracy.json").read_text())
    row = next(csv.DictReader(open(tmp_path / "results" / "tables" / "accuracy.csv")))
    assert float(row["EMA (%)"]) == pytest.approx(100 * accuracy["weights"]["ema"]["accuracy"], abs=0.01)
    train_log = (tmp_path / "results" / "logs" / "train" / "tiny.log").read_text()
    assert "wrote results/tiny/model.pt" in train_log


@pytest.mark.slurm
@pytest.mark.slow
def test_two_node_training_through_the_train_rule_resumes_after_a_cancel(slurm_cluster: SlurmCluster,  # noqa: F811
                                                                         tmp_path, digits_root):
    """An experiment with nodes: 2 trains through the workflow's own rule: one torchrun per node under srun, a c10d
    rendezvous on the first node, the global batch split over both processes (gloo). scancel ends the job;
    Snakemake's retry resubmits it, and the new job resumes from the checkpoint."""
    resources = {**TINY_EXPERIMENT["resources"], "nodes": 2}
    config = tiny_workflow(tmp_path, digits_root, num_steps=60, save_interval=5, resources=resources)
    target = "results/tiny/model.pt"
    with open(tmp_path / "snakemake.out", "w") as out:
        proc = subprocess.Popen(slurm_cluster.snakemake_cmd("--snakefile", str(REPO / "Snakefile"), "--retries", "1",
                                                            target, "--configfile", str(config)),
                                cwd=tmp_path, env=subprocess_env(threads=1), stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for("the first checkpoint", lambda: list((tmp_path / "results" / "tiny" / "checkpoints").glob("*.pt")),
                 timeout=600)
        first = re.search(r"submitted with SLURM jobid (\d+)", (tmp_path / "snakemake.out").read_text()).group(1)
        assert slurm_cluster.job(first)["NumNodes"] == "2"
        run(["scancel", first])
        assert proc.wait(timeout=900) == 0, (tmp_path / "snakemake.out").read_text()[-5000:]
    finally:
        proc.kill()

    assert slurm_cluster.finished_state(first) == "CANCELLED"
    log = (tmp_path / "results" / "logs" / "train" / "tiny.log").read_text()
    resumed = re.search(r"resumed from \S+ at step (\d+)", log)
    assert resumed and 0 < int(resumed.group(1)) < 60, log[-3000:]
    assert log.count("joined the gloo process group") >= 2  # both ranks of the resumed job
    model = torch.load(tmp_path / target, weights_only=False)
    checkpoint = torch.load(max((tmp_path / "results" / "tiny" / "checkpoints").glob("*.pt")), weights_only=False)
    assert model["step"] == 60 and checkpoint["world_size"] == 2


def test_slurm_profile_dry_run_gives_train_jobs_their_gpus_and_runtime(tmp_path):
    """`snakemake -n --workflow-profile profiles/slurm` on the paper config, without a cluster."""
    import subprocess
    from conftest import BIN
    proc = subprocess.run([str(BIN / "snakemake"), "-n", "--snakefile", str(REPO / "Snakefile"), "--directory",
                           str(tmp_path), "--configfile", str(REPO / "config" / "config.yaml"),
                           "--workflow-profile", str(REPO / "profiles" / "slurm")],
                          capture_output=True, text=True, env=subprocess_env())
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    jobs = re.findall(r"rule train:.*?wildcards: experiment=(\w+)\s+resources: ([^\n]+)", proc.stdout + proc.stderr,
                      flags=re.S)
    resources = {experiment: line for experiment, line in jobs}
    assert set(resources) == {"svhn", "cifar10", "cifar100", "fashionmnist"}
    for experiment, minutes, gpus in (("svhn", 2880, 4), ("cifar10", 4320, 4), ("fashionmnist", 1440, 1)):
        assert f"runtime={minutes}," in resources[experiment] and f"gpu={gpus}" in resources[experiment]
        assert "tasks_per_gpu=0" in resources[experiment]
