"""A tiny experiment and workflow config, and a runner for the real snakemake, shared by the workflow tests
(local and SLURM)."""

from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from conftest import BIN, REPO, subprocess_env

TINY_EXPERIMENT = {
    "description": "a model that trains in seconds, for the workflow tests",
    "dataset": "digits", "num_channels": 32, "num_res_blocks": 1, "attention_resolutions": "8",
    "diffusion_steps": 100, "batch_size": 16, "lr": 1e-3, "num_steps": 20, "class_cond": True,
    "train_with_classifier": True, "classifier_loss_scaling": 0.1, "classifier_dropout": 0.1,
    "classifier_augmentation": "none", "ema_rate": 0.9, "save_interval": 10, "validation_interval": 10,
    "validation_subset": 64, "plot_interval": 0, "num_workers": 0, "checkpoint_minutes": 0, "channels_last": True,
    "resources": {"gpus": 0, "nodes": 1, "runtime": "30m", "mem_mb": 2000},
}


def tiny_workflow(workdir: Path, dataroot: Path, **experiment_changes) -> Path:
    """Write experiments/tiny.yaml and config.yaml into workdir; returns the config path."""
    experiments = workdir / "experiments"
    experiments.mkdir(parents=True, exist_ok=True)
    (experiments / "tiny.yaml").write_text(yaml.safe_dump({**TINY_EXPERIMENT, **experiment_changes}))
    config = {
        "experiments": ["tiny"], "experiments_dir": str(experiments), "dataroot": str(dataroot),
        "results": "results", "overrides": {},
        "train": {"cpu_processes": 1, "threads": 1, "stop_after_steps": 0},
        "sampling": {"batch_size": 64, "sampler": "ddim", "steps": 5, "eta": 0.0, "clip_x0": False,
                     "unconditional_samples": 20, "guided_alphas": [0, 10], "guided_samples_per_class": 2,
                     "counterfactual_images": 4, "counterfactual_t_fraction": 0.3, "counterfactual_alpha": 10},
        "evaluation": {"fid_weights": ["ema"], "fid_split": "train", "fid_min_samples": 10000, "fid_smoke": True,
                       "fid_reference_limit": 40, "fid_metrics": ["fid", "prc", "kid"], "paper_fid": True,
                       "paper_fid_samples": 20, "accuracy_noise_levels": [0, 0.5]},
        "report": {"paper_results": "config/paper_results.yaml"},
    }
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def change_workflow_config(config: Path, **changes) -> None:
    """Rewrite a workflow config file with `changes`: a dict value updates that block's keys, any other replaces
    the key."""
    data = yaml.safe_load(config.read_text())
    for key, value in changes.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    config.write_text(yaml.safe_dump(data))


def dry_run_jobs(output: str) -> list[tuple[str, bool, str]]:
    """A dry run's jobs as (rule, local, the job's lines): each job's lines start at its `rule x:` or
    `localrule x:` line."""
    jobs = []
    for block in re.split(r"^(?=(?:local)?rule \w+:$)", output, flags=re.M):
        if header := re.match(r"(local)?rule (\w+):", block):
            jobs.append((header.group(2), bool(header.group(1)), block))
    return jobs


def snakemake_command(workdir: Path, config: Path, *extra: str) -> list[str]:
    return [str(BIN / "snakemake"), "--snakefile", str(REPO / "Snakefile"), "--directory", str(workdir),
            "--configfile", str(config), *extra]


def run_snakemake(workdir: Path, config: Path, *extra: str, check: bool = True,
                  timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run(snakemake_command(workdir, config, *extra), capture_output=True, text=True,
                          env=subprocess_env(threads=1), timeout=timeout)
    if check:
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    return proc


def rebuild_and_compare(workdir: Path) -> None:
    """`jointdiff rebuild` on a copy of a workflow's results in another directory, every file's time scrambled (as
    a copy from a cluster leaves them): it remakes every table and figure, byte for byte (PDFs aside: they carry
    their date), and runs no other job."""
    copy = workdir.parent / f"{workdir.name}-copied"
    shutil.copytree(workdir / "results", copy / "results")
    shutil.copy(workdir / "config.yaml", copy / "config.yaml")
    files = sorted(p for p in (copy / "results").rglob("*") if p.is_file())
    for path in files:
        os.utime(path, (t := random.Random(str(path)).uniform(1e9, 1.5e9), t))
    made = sorted(p.relative_to(workdir) for d in ("tables", "figures") for p in (workdir / "results" / d).iterdir()
                  if p.suffix != ".pdf")
    proc = subprocess.run([str(BIN / "jointdiff"), "rebuild", "--configfile", "config.yaml"], cwd=copy,
                          capture_output=True, text=True, env=subprocess_env(threads=1), timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    jobs = {line.split()[-1].rstrip(":") for line in (proc.stdout + proc.stderr).splitlines()
            if line.startswith(("rule ", "localrule "))}
    report_rules = {line.split()[1].rstrip(":") for line in (REPO / "rules" / "report.smk").read_text().splitlines()
                    if line.startswith("rule ")}
    assert jobs <= report_rules and "report_only" in jobs, jobs
    rebuilt = [p for p in made if (copy / p).stat().st_mtime > 1.6e9]
    assert rebuilt == made and all((copy / p).read_bytes() == (workdir / p).read_bytes() for p in made)
