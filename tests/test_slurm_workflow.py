"""The real jointdiff workflow on a real (single-node) SLURM cluster through the test profile."""

from __future__ import annotations

import csv
import json
import re

import pytest

from conftest import REPO, subprocess_env
from slurm_cluster import SlurmCluster, slurm_cluster  # noqa: F401  (pytest fixture)
from workflow_helpers import tiny_workflow

pytestmark = [pytest.mark.slurm, pytest.mark.slow]


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
            "guided_score", "reference_classifier"} <= rules, rules
    assert not rules & {"table_fid", "figure_samples"}  # report rules stay local
    for job_id, rule in submitted.items():
        assert slurm_cluster.finished_state(job_id) == "COMPLETED", (job_id, rule)

    # The outputs are the workflow's, with the numbers in the tables taken from the metric files.
    accuracy = json.loads((tmp_path / "results" / "tiny" / "metrics" / "accuracy.json").read_text())
    row = next(csv.DictReader(open(tmp_path / "results" / "tables" / "accuracy.csv")))
    assert float(row["EMA (%)"]) == pytest.approx(100 * accuracy["weights"]["ema"]["accuracy"], abs=0.01)
    train_log = (tmp_path / "logs" / "train" / "tiny.log").read_text()
    assert "wrote results/tiny/model.pt" in train_log
