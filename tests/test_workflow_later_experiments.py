"""The paper's later experiments in the workflow: each experiment's jobs in a dry run, bad settings stopped before any
job, and the demo-size variants run end to end on digits with tables that hold their metric files' numbers."""

from __future__ import annotations

import csv
import json

import pytest
import yaml

from conftest import REPO
from test_workflow import job_counts
from workflow_helpers import rebuild_and_compare, run_snakemake

pytestmark = pytest.mark.workflow

PAPER_LATER = ["svhn_labels_1pct", "svhn_labels_1pct_classifier_only", "cifar10_labels_1pct",
               "cifar10_labels_1pct_classifier_only", "svhn_mnist", "svhn_mnist_classifier_only",
               "office_amazon_webcam", "office_amazon_webcam_classifier_only", "cifar10", "cifar10_diffusion_only"]
LATER_TABLES = ("semi_supervised", "domain_adaptation", "conditional_generation", "probe")


def write_config(tmp_path, *layers) -> object:
    """One config file from the given dicts (later ones update earlier ones, one level deep)."""
    merged: dict = {}
    for layer in layers:
        for key, value in layer.items():
            merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(merged))
    return path


def test_paper_scale_later_experiments_list_their_jobs(tmp_path):
    paper = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config = write_config(tmp_path, paper, {"experiments": PAPER_LATER,
                                            "classic_guidance": {"experiments": ["cifar10_diffusion_only"]},
                                            "probe": {"experiments": ["cifar10_diffusion_only", "cifar10"]}})
    output = run_snakemake(tmp_path, config, "-n", "-p").stdout
    counts = job_counts(output)
    assert counts["train"] == len(PAPER_LATER) and counts["noised_classifier"] == 1
    assert counts["accuracy"] == 9  # every run with a head; the accuracy-only ones (outputs: [accuracy]) too
    assert counts["prepare_data"] == 5  # SVHN, CIFAR10, DA_OFFICE_A_W, and DA_SVHN_MNIST after MNIST
    scales, alphas = 3, 4
    assert counts["sample_classic"] == counts["classic_score"] == scales
    assert counts["sample_guided"] == alphas and counts["fid_guided"] == scales + alphas and counts["probe"] == 2
    assert counts["table"] == 7 and counts["figure_probe"] == 1  # the later experiments' four tables among them
    for table in LATER_TABLES:
        assert f"--kind {table} " in output, table
    assert "results/svhn_labels_1pct/samples" not in output and "results/svhn_mnist/samples" not in output
    assert "--noised-classifier results/cifar10_diffusion_only/noised_classifier.pt" in output
    assert "--width 128 --depth 2 --attention-resolutions 32,16,8 --head-channels 64 --lr 0.0003" in output


def test_demo_later_experiments_list_their_jobs(tmp_path):
    demo = [yaml.safe_load((REPO / "config" / name).read_text()) for name in ("demo.yaml",
                                                                                "demo_later_experiments.yaml")]
    counts = job_counts(run_snakemake(tmp_path, write_config(tmp_path, *demo), "-n").stdout)
    assert counts["train"] == 8 and counts["accuracy"] == 7 and counts["noised_classifier"] == 1
    assert counts["sample_classic"] == 4 and counts["fid_guided"] == 8 and counts["probe"] == 2


@pytest.mark.parametrize("change, message", [
    ({"classic_guidance": {"experiments": ["svhn"]}}, "classic_guidance.experiments: 'svhn' is not in experiments"),
    ({"probe": {"experiments": ["cifar10_classifier_only"]}, "experiments": ["cifar10_classifier_only"]},
     "it has no denoiser"),
])
def test_bad_later_experiment_settings_fail_before_any_job(tmp_path, change, message):
    demo = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    proc = run_snakemake(tmp_path, write_config(tmp_path, demo, change), "-n", check=False)
    assert proc.returncode != 0 and message in proc.stdout + proc.stderr


# The demo-size variants, shortened: every job of the later experiments' tables runs for real, on few steps.
SHORT = {
    "overrides": {"num_steps": 4, "validation_subset": 32, "save_interval": 4, "validation_interval": 4},
    "train": {"cpu_processes": 1, "threads": 1, "stop_after_steps": 0},
    "sampling": {"batch_size": 64, "sampler": "ancestral", "steps": 3, "clip_x0": True, "guidance": "x0",
                 "guided_alphas": [0, 10], "guided_samples_per_class": 1},
    "evaluation": {"fid_smoke": True, "fid_reference_limit": 20, "fid_metrics": ["fid", "prc"],
                   "accuracy_noise_levels": [0]},
    "classic_guidance": {"scales": [0, 10], "iterations": 3},
    "probe": {"t_fractions": [0, 0.5], "train_images": 100},
}


@pytest.mark.slow
def test_demo_size_variants_run_end_to_end_and_tables_hold_their_numbers(tmp_path, digits_root):
    demo = [yaml.safe_load((REPO / "config" / name).read_text()) for name in ("demo.yaml",
                                                                                "demo_later_experiments.yaml")]
    experiments = ["digits_demo", "digits_diffusion_only", "digits_labels_1pct", "digits_labels_1pct_classifier_only",
                   "digits_inverted", "digits_inverted_classifier_only"]
    config = write_config(tmp_path, *demo, SHORT, {"experiments": experiments, "dataroot": str(digits_root)})
    targets = [f"results/tables/{t}.csv" for t in LATER_TABLES] + ["results/figures/probe.png"]
    run_snakemake(tmp_path, config, "--cores", "2", *targets, timeout=1800)
    results = tmp_path / "results"

    def rows(table):
        return list(csv.DictReader(open(results / "tables" / f"{table}.csv")))

    def accuracy(experiment):
        return json.loads((results / experiment / "metrics" / "accuracy.json").read_text())["weights"]["ema"]

    for table, joint, baseline in (("semi_supervised", "digits_labels_1pct", "digits_labels_1pct_classifier_only"),
                                   ("domain_adaptation", "digits_inverted", "digits_inverted_classifier_only")):
        row, = rows(table)
        assert float(row["joint EMA (%)"]) == pytest.approx(100 * accuracy(joint)["accuracy"], abs=0.006)
        assert float(row["classifier only EMA (%)"]) == pytest.approx(100 * accuracy(baseline)["accuracy"], abs=0.006)
    conditional = rows("conditional_generation")
    assert {(r["experiment"], r["alpha / scale"]) for r in conditional} == {
        ("digits_demo", "0"), ("digits_demo", "10"), ("digits_diffusion_only", "0"), ("digits_diffusion_only", "10")}
    for r in conditional:
        kind = "classic" if r["experiment"] == "digits_diffusion_only" else "guided"
        score = json.loads((results / r["experiment"] / "metrics" / f"{kind}_ema_alpha{r['alpha / scale']}.json")
                           .read_text())
        fid = json.loads((results / r["experiment"] / "metrics" / f"fid_{kind}_ema_alpha{r['alpha / scale']}.json")
                         .read_text())
        assert float(r["own classifier (%)"]) == pytest.approx(100 * score["own_head_target_accuracy"], abs=0.006)
        assert float(r["independent classifier (%)"]) == pytest.approx(
            100 * score["independent_target_accuracy"], abs=0.006)
        assert float(r["FID"]) == pytest.approx(fid["fid"], abs=0.006) and fid["n_samples"] == 10
    probe = rows("probe")
    assert {r["experiment"] for r in probe} == {"digits_demo", "digits_diffusion_only"}
    plain = json.loads((results / "digits_diffusion_only" / "metrics" / "probe_ema.json").read_text())
    assert [float(r["t = 0 T (%)"]) for r in probe if r["experiment"] == "digits_diffusion_only"] == [
        round(100 * row[0], 2) for row in plain["probe_accuracy"]]
    assert not (results / "digits_labels_1pct" / "samples").exists()  # outputs: [accuracy]
    rebuild_and_compare(tmp_path)
