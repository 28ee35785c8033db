"""The Snakemake workflow as users run it: the real snakemake, every rule executed on the tiny config."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from conftest import REPO, subprocess_env
from workflow_helpers import (change_workflow_config, dry_run_jobs, rebuild_and_compare, run_snakemake,
                              snakemake_command, tiny_workflow)

pytestmark = pytest.mark.workflow

ABSOLUTE_PATH = re.compile(r"(?:^|[\s,|&(\"'])/[\w.-]+/")  # a path starting at / inside a table cell


def job_counts(dry_run_output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run -> {rule: count}."""
    table = dry_run_output.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, flags=re.M)}


def test_paper_config_dry_run_lists_every_stage_per_experiment(tmp_path):
    proc = run_snakemake(tmp_path, REPO / "config" / "config.yaml", "-n")
    counts = job_counts(proc.stdout)
    experiments = 4  # svhn, cifar10, cifar100, fashionmnist
    alphas = 4
    assert counts["train"] == experiments and counts["prepare_data"] == experiments
    assert counts["sample_unconditional"] == 2 * experiments  # 50k EMA for the FID, 5k raw for the paper's
    assert counts["sample_guided"] == alphas * experiments and counts["guided_score"] == alphas * experiments
    for rule in ("accuracy", "counterfactual", "fid_standard", "fid_paper_protocol"):
        assert counts[rule] == experiments, rule
    assert counts["fid_floor"] == 2 * experiments  # four datasets, standard and paper protocol
    assert counts["table"] == 3  # accuracy, FID, guidance
    for rule in ("figure_alpha_sweep", "figure_training_curves"):
        assert counts[rule] == 1, rule


def test_celeba_gets_counterfactuals_but_no_class_guided_sampling(tmp_path):
    """CelebA's head predicts 40 attributes, not classes: guided sampling toward 'all classes' cannot apply, so its
    jobs are left out and the counterfactuals (one flipped attribute) stay."""
    config = tmp_path / "celeba.yaml"
    data = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.write_text(yaml.safe_dump({**data, "experiments": ["celeba"]}))
    output = run_snakemake(tmp_path, config, "-n").stdout
    counts = job_counts(output)
    assert counts["train"] == counts["accuracy"] == counts["counterfactual"] == counts["fid_standard"] == 1
    assert "sample_guided" not in counts and "figure_alpha_sweep" not in counts
    assert counts["table"] == 2 and "results/tables/guidance.csv" not in output  # accuracy and FID


def test_the_demos_sampling_jobs_take_one_thread_each_so_that_two_run_side_by_side(tmp_path):
    """sampling.threads gives sampling jobs their own thread count (the demo's 1); other model jobs keep
    train.threads."""
    proc = run_snakemake(tmp_path, REPO / "config" / "demo.yaml", "-n", "--cores", "2")
    output = proc.stdout + proc.stderr
    threads = {}
    for rule, _, block in dry_run_jobs(output):
        count = re.search(r"^    threads: (\d+)$", block, flags=re.M)  # Snakemake leaves out "threads: 1"
        threads.setdefault(rule, set()).add(int(count.group(1)) if count else 1)
    for rule in ("sample_unconditional", "sample_guided", "counterfactual"):
        assert threads[rule] == {1}, (rule, threads)
    for rule in ("train", "fid_standard", "fid_floor", "accuracy"):
        assert threads[rule] == {2}, (rule, threads)


def test_lint_is_clean(tmp_path):
    run_snakemake(tmp_path, REPO / "config" / "demo.yaml", "--lint")


@pytest.mark.parametrize("change, message", [
    ({"sampling": {"steps": "many"}}, "steps"),
    ({"experiments": ["no_such_experiment"]}, "no_such_experiment"),
    ({"evaluation": {"fid_weights": ["ema", "best"]}}, "best"),
    ({"unknown_key": 1}, "unknown_key"),
    # Settings checked against every experiment (jointdiff/workflow/checks.py, tests/test_experiment_file.py):
    ({"sampling": {"steps": 500}}, "config key sampling.steps (experiment 'tiny'): --steps 500: the model has 100"),
    ({"sampling": {"guided_samples_per_class": 20000}}, "guided_samples_per_class (10 classes of tiny)"),
    # Lists that mean nothing empty:
    ({"sampling": {"guided_alphas": []}}, "guided_alphas"),
    ({"evaluation": {"fid_weights": []}}, "fid_weights"),
    ({"evaluation": {"fid_metrics": []}}, "fid_metrics"),
    ({"evaluation": {"accuracy_noise_levels": []}}, "accuracy_noise_levels"),
    ({"classic_guidance": {"scales": []}}, "scales"),
    ({"experiments": [".."]}, "'..' does not match"),  # would write beside results/, not in it
    ({"train": {"cpu_processes": 3}}, "experiment 'tiny': batch_size 16 is not divisible by its 3 training processes "
                                      "(config key train.cpu_processes 3)"),
])
def test_bad_workflow_config_fails_before_any_job(tmp_path, digits_root, change, message):
    config = tiny_workflow(tmp_path, digits_root)
    change_workflow_config(config, **change)
    proc = run_snakemake(tmp_path, config, "--cores", "1", check=False)
    assert proc.returncode != 0 and message in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def test_a_config_the_schema_refuses_is_named_by_its_file(tmp_path, digits_root):
    config = tiny_workflow(tmp_path, digits_root)
    config.write_text(config.read_text().replace("steps: 5", "steps: many"))
    proc = run_snakemake(tmp_path, config, "-n", check=False)
    assert proc.returncode != 0 and f"config from {config} (and --config): " in proc.stdout + proc.stderr


# Each refusal of an experiment file has its unit test in tests/test_experiment_file.py; these show the workflow's.
@pytest.mark.parametrize("change, message", [
    ({"dataset": "ImageNet"}, "experiment 'tiny': unknown dataset 'ImageNet'"),
    ({"resources": {"gpu": 4}}, "tiny.yaml: unknown key resources.gpu (did you mean gpus?)"),
    ({"resources": {"gpus": 3}}, "batch_size 16 is not divisible by its 3 training processes (resources.gpus 3)"),
])
def test_bad_experiment_file_fails_before_any_job(tmp_path, digits_root, change, message):
    config = tiny_workflow(tmp_path, digits_root, **change)
    proc = run_snakemake(tmp_path, config, "--cores", "1", check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and message in output, output[-3000:]
    assert not (tmp_path / "results").exists()


def test_a_refused_setting_change_keeps_the_trained_model_and_what_was_computed_from_it(tmp_path, digits_root):
    """Snakemake deletes a job's outputs before the job runs: the refusal to resume comes at validation, so
    model.pt survives it, and with the setting set back nothing runs again."""
    steps = {"num_steps": 2, "save_interval": 2, "validation_interval": 2}
    config = tiny_workflow(tmp_path, digits_root, **steps)
    target = "results/tiny/metrics/accuracy.json"
    run_snakemake(tmp_path, config, "--cores", "1", target)
    kept = {p: (tmp_path / p).stat().st_mtime_ns for p in ("results/tiny/model.pt", target)}

    tiny_workflow(tmp_path, digits_root, **steps, classifier_loss_scaling=0.2)
    proc = run_snakemake(tmp_path, config, "--cores", "1", target, check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "experiment 'tiny': " in output, output[-3000:]
    assert "ckpt-000000002.pt was trained with other settings (classifier_loss_scaling 0.1 -> 0.2)" in output
    assert {p: (tmp_path / p).stat().st_mtime_ns for p in kept} == kept

    tiny_workflow(tmp_path, digits_root, **steps)
    proc = run_snakemake(tmp_path, config, "-n", target)
    assert "Nothing to be done" in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]
    # Another machine's cores and GPUs change what each job is given, not what it computes: nothing reruns.
    proc = run_snakemake(tmp_path, config, "-n", target, "--cores", "2", "--set-threads", "train=2", "accuracy=2",
                         "--resources", "gpu=3")
    assert "Nothing to be done" in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]
    # Nor does a tracker switched on after training: it watches runs, it changes none.
    proc = run_snakemake(tmp_path, config, "-n", target, "--config", "train={trackers: [tensorboard]}")
    assert "Nothing to be done" in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]


def test_jobs_run_this_checkouts_package_whatever_comes_first_on_the_path(tmp_path):
    """The environments (conda's included) hold only third-party packages: each job imports jointdiff from the
    workflow's own directory, even with another jointdiff first on the caller's PYTHONPATH."""
    decoy = tmp_path / "decoy" / "jointdiff"
    decoy.mkdir(parents=True)
    (decoy / "__init__.py").write_text("raise ImportError('the decoy jointdiff was imported')\n")
    config = tiny_workflow(tmp_path, tmp_path / "data")
    env = {**subprocess_env(), "PYTHONPATH": str(decoy.parent)}
    manifest = tmp_path / "data" / "digits" / "manifest.json"
    proc = subprocess.run(snakemake_command(tmp_path, config, "--cores", "1", str(manifest)), capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert json.loads(manifest.read_text())["name"] == "digits"


def test_an_empty_experiment_file_or_a_data_root_that_is_a_file_fails_before_any_job(tmp_path, digits_root):
    config = tiny_workflow(tmp_path, digits_root)
    (tmp_path / "experiments" / "tiny.yaml").write_text("")
    proc = run_snakemake(tmp_path, config, "--cores", "1", check=False)
    assert proc.returncode != 0 and "tiny.yaml is empty" in proc.stdout + proc.stderr
    (tmp_path / "data").write_text("a file")
    config = tiny_workflow(tmp_path, tmp_path / "data")
    proc = run_snakemake(tmp_path, config, "--cores", "1", check=False)
    assert proc.returncode != 0 and f"config key dataroot: {tmp_path / 'data'} is a file" in proc.stdout + proc.stderr
    assert not (tmp_path / "results").exists()


def test_nested_config_overrides_on_the_command_line_are_typed(tmp_path, digits_root):
    """Snakemake 9 passes nested --config values as strings; the workflow types them before validating."""
    config = tiny_workflow(tmp_path, digits_root)
    proc = run_snakemake(tmp_path, config, "-n", "-p", "--config", "sampling={unconditional_samples: 7, clip_x0: true}",
                         "evaluation={fid_smoke: true}")
    assert "uncond_ema_n7.npz" in proc.stdout and "--clip-x0" in proc.stdout + proc.stderr
    proc = run_snakemake(tmp_path, config, "-n", "--config", "sampling={unconditional_samples: many}", check=False)
    assert proc.returncode != 0 and "unconditional_samples" in proc.stdout + proc.stderr


def test_final_metrics_reach_the_trackers_by_one_more_job_only_when_trackers_are_on(tmp_path, digits_root):
    """train.trackers on: one track_metrics job per experiment, after its metric files, and no other job more."""
    config = tiny_workflow(tmp_path, digits_root)

    def jobs(*extra):
        proc = run_snakemake(tmp_path, config, "-n", "-p", *extra)
        return Counter(re.findall(r"^(?:local)?rule (\w+):", proc.stdout, flags=re.M)), proc.stdout

    off, _ = jobs()
    on, printed = jobs("--config", "train={trackers: [tensorboard, wandb], wandb_mode: offline}")
    assert "track_metrics" not in off and on - off == Counter(track_metrics=1) and not off - on
    command = shlex.split(next(line for line in printed.splitlines() if "jointdiff track-metrics" in line))
    files = command[command.index("--metrics") + 1:command.index("--tracker")]
    assert command[command.index("--run-dir") + 1] == "results/tiny" and "results/tiny/metrics/accuracy.json" in files
    assert {"results/tiny/metrics/fid_standard_ema.json", "results/tiny/metrics/fid_paper_raw.json",
            "results/tiny/metrics/guided_ema_alpha0.json", "results/tiny/metrics/guided_ema_alpha10.json"} <= set(files)
    assert command[command.index("--out") + 1] == "results/tiny/metrics/tracked.json"
    assert "--wandb-mode offline" in shlex.join(command)


def test_paths_with_spaces_reach_every_command_as_one_argument(tmp_path):
    from jointdiff.data.prepare import prepare_dataset
    prepare_dataset("digits", tmp_path / "my data")
    config = tiny_workflow(tmp_path, tmp_path / "my data")
    change_workflow_config(config, results="my results")

    commands = re.findall(r"^Shell command: (.+)$", run_snakemake(tmp_path, config, "-n", "-p").stdout, flags=re.M)
    assert len(commands) > 10
    for command in commands:
        tokens = shlex.split(command)
        assert "my" not in tokens, command  # a path cut in two at its space

    run_snakemake(tmp_path, config, "--cores", "1", "my results/tiny/samples/uncond_ema_n20.npz")
    assert (tmp_path / "my results" / "tiny" / "model.pt").exists()
    assert len(np.load(tmp_path / "my results" / "tiny" / "samples" / "uncond_ema_n20.npz")["images"]) == 20


@pytest.mark.slow
def test_tiny_workflow_runs_every_rule_and_reports_measured_numbers(tiny_workflow_results):
    workdir, config = tiny_workflow_results, tiny_workflow_results / "config.yaml"
    results = workdir / "results"

    # Tables carry the numbers of the metric files they name.
    accuracy = json.loads((results / "tiny" / "metrics" / "accuracy.json").read_text())
    rows = list(csv.DictReader(open(results / "tables" / "accuracy.csv")))
    assert len(rows) == 1 and rows[0]["experiment"] == "tiny"
    assert float(rows[0]["EMA (%)"]) == pytest.approx(100 * accuracy["weights"]["ema"]["accuracy"], abs=0.01)
    assert "metrics/accuracy.json" in rows[0]["source"]
    fid = json.loads((results / "tiny" / "metrics" / "fid_standard_ema.json").read_text())
    fid_rows = {(r["experiment"], r["protocol"]): r for r in csv.DictReader(open(results / "tables" / "fid.csv"))}
    assert float(fid_rows["tiny", "standard"]["FID"]) == pytest.approx(fid["fid"], rel=1e-3)
    assert fid["smoke"] is True and fid_rows["tiny", "standard"]["smoke"] == "yes"
    # Each FID is read against its floor: real test images, as many as the samples, against the same reference.
    floor = json.loads((results / "floors" / "digits" / "fid_standard.json").read_text())
    floor_row = fid_rows["real digits test (floor)", "standard"]
    assert floor["floor"] is True and floor["n_samples"] == fid["n_samples"] == 20
    assert floor["reference"] == {k: v for k, v in fid["reference"].items()}
    assert float(floor_row["FID"]) == pytest.approx(floor["fid"], rel=1e-3) and floor_row["FID - paper"] == "n/a"
    assert ("real digits train (floor)", "paper") in fid_rows
    guided = list(csv.DictReader(open(results / "tables" / "guidance.csv")))
    assert {float(r["alpha"]) for r in guided} == {0.0, 10.0}
    assert all(r["independent classifier (%)"] not in ("", "n/a") for r in guided)

    # No table holds a path of this machine (this workflow runs outside the checkout, which it names by a
    # relative path): the tables stay valid when the checkout or the results move.
    for table in (results / "tables").iterdir():
        text = table.read_text()
        assert str(workdir) not in text and str(REPO) not in text, table
        assert not ABSOLUTE_PATH.search(text), (table, ABSOLUTE_PATH.search(text).group(0))

    # Rule logs report progress as plain lines, never a terminal's carriage-return updates.
    logs = workdir / "results" / "logs"
    assert not [p for p in logs.rglob("*.log") if "\r" in p.read_text()]
    assert "training: 20/20 step (100%)" in (logs / "train" / "tiny.log").read_text()
    assert "sampling: 1/1 batch (100%)" in (logs / "sample" / "tiny" / "uncond_ema_n20.log").read_text()
    assert "Inception features, samples: 20/20 image (100%)" in (logs / "evaluate" / "tiny" /
                                                                  "fid_standard_ema.log").read_text()

    # Every figure exists as a real image.
    for png in (results / "figures").glob("*.png"):
        with Image.open(png) as image:
            assert image.size[0] > 50 and image.size[1] > 50, png
        assert png.with_suffix(".pdf").read_bytes()[:4] == b"%PDF"
    assert {p.stem for p in (results / "figures").glob("*.png")} == {
        "training_curves", "samples_tiny", "accuracy_vs_noise", "guided_tiny", "counterfactual_tiny", "alpha_sweep"}

    # Every table and figure again from a copy of the results, and no other job.
    rebuild_and_compare(workdir)


def processes_in(directory: Path) -> list[int]:
    """PIDs of the processes whose working directory is `directory` (the workflow's jobs run there)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and Path(os.readlink(proc / "cwd")) == directory:
                found.append(int(proc.name))
        except OSError:
            continue
    return found


@pytest.mark.slow
def test_killed_workflow_ends_its_workers_and_resumes_training_from_its_checkpoint(tmp_path, digits_root):
    """SIGKILL to Snakemake's process group (as a crashed login shell or node would send) reaches torchrun but
    not its workers, which live in sessions of their own: they must checkpoint and exit by themselves, or the
    README's recovery (--unlock, rerun) would start a second trainer beside them. Two training processes, since
    a single one runs without torchrun."""
    config = tiny_workflow(tmp_path, digits_root, num_steps=100000, save_interval=5)
    change_workflow_config(config, train={"cpu_processes": 2, "threads": 2})
    target = "results/tiny/model.pt"  # relative to the workflow's --directory, as the rule's output is
    proc = subprocess.Popen(snakemake_command(tmp_path, config, "--cores", "1", target), env=subprocess_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ckpt_dir = tmp_path / "results" / "tiny" / "checkpoints"
    deadline = time.monotonic() + 300
    while not list(ckpt_dir.glob("ckpt-*.pt")) and time.monotonic() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # snakemake, its shell and torchrun
    proc.wait()
    deadline = time.monotonic() + 120
    while processes_in(tmp_path):
        assert time.monotonic() < deadline, "the training workers outlived the killed workflow"
        time.sleep(0.2)
    stopped_at = max(int(p.stem.split("-")[1]) for p in ckpt_dir.glob("ckpt-*.pt"))
    assert "is gone: checkpointing" in (tmp_path / "results" / "logs" / "train" / "tiny.log").read_text()
    assert not (tmp_path / target).exists()

    run_snakemake(tmp_path, config, "--unlock")  # a SIGKILL leaves Snakemake's lock behind, as after a crash
    run_snakemake(tmp_path, config, "--cores", "1", "--rerun-incomplete", target, "--config",
                  f"overrides={{num_steps: {stopped_at + 10}}}", timeout=1200)
    log = (tmp_path / "results" / "logs" / "train" / "tiny.log").read_text()
    assert f"at step {stopped_at}" in log
    assert torch.load(tmp_path / target, weights_only=False)["step"] == stopped_at + 10


@pytest.mark.slow
def test_demo_benchmark_reads_every_job_and_the_quality_of_a_real_run(tiny_workflow_results):
    """benchmarks/demo_run.py's reading of a run: every job of Snakemake's log with its times, summed by stage, and
    the numbers the demo is judged by, as the metric files hold them."""
    from benchmarks.demo_run import job_times, quality, stage_seconds
    logs = [p.read_text() for p in (tiny_workflow_results / ".snakemake" / "log").glob("*.snakemake.log")]
    log = max(logs, key=lambda text: text.count("Finished jobid"))
    jobs = job_times(log)
    assert Counter(j["rule"] for j in jobs) == job_counts(log)
    assert all(0 <= j["start"] <= j["end"] for j in jobs) and min(j["start"] for j in jobs) == 0
    stages = stage_seconds(jobs)
    assert stages["training"] == sum(j["end"] - j["start"] for j in jobs if j["rule"] == "train")
    assert sum(stages.values()) == pytest.approx(sum(j["end"] - j["start"] for j in jobs))
    numbers = quality(tiny_workflow_results / "results", "tiny")
    fid = json.loads((tiny_workflow_results / "results" / "tiny" / "metrics" / "fid_standard_ema.json").read_text())
    assert numbers["fid"] == round(fid["fid"], 2) and numbers["precision"] == round(fid["precision"], 3)
    assert set(numbers["guided_on_target_independent"]) == {"0", "10"}
