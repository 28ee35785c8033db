"""The real jointdiff workflow on a real (single-node) SLURM cluster through the test profile."""

from __future__ import annotations

import csv
import json
import re

import pytest

from conftest import REPO, subprocess_env
from slurm_cluster import SlurmCluster, slurm_cluster  # noqa: F401  (pytest fixture)
from workflow_helpers import tiny_workflow




@pytest.mark.slurm
@pytest.mark.slow
def test_tiny_workflow_runs_through_slurm(slurm_cluster: SlurmCluster, tmp_path, digits_root):  # noqa: F811
    config = tiny_workflow(tmp_path, digits_root)
    proc = slurm_cluster.snakemake(tmp_path, "--snakefile", str(REPO / "Snakefile"), "--configfile", str(config),
                                   timeout=1500, env=subprocess_env(threads=1))
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-5000:]

    # Every non-local job went through sbatch, ran to completion on the cluster, and left its SLURM log.
    submitted = dict(re.findall(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: .*?/rule_(\w+)/", output))
    rules = set(submitted.values())
    assert {"train", "sample_unconditional", "sample_guided", "accuracy", "fid_standard", "counterfactual",
            "guided_score", "independent_classifier"} <= rules, rules
    assert not rules & {"table_fid", "figure_samples"}  # report rules stay local
    for job_id, rule in submitted.items():
        assert slurm_cluster.finished_state(job_id) == "COMPLETED", (job_id, rule)

    # The outputs are the workflow's, with the numbers in the tables taken from the metric files.
    accuracy = json.loads((tmp_path / "results" / "tiny" / "metrics" / "accuracy.json").read_text())
    row = next(csv.DictReader(open(tmp_path / "results" / "tables" / "accuracy.csv")))
    assert float(row["EMA (%)"]) == pytest.approx(100 * accuracy["weights"]["ema"]["accuracy"], abs=0.01)
    train_log = (tmp_path / "logs" / "train" / "tiny.log").read_text()
    assert "wrote results/tiny/model.pt" in train_log


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
