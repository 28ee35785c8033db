"""The workflow config checked against its experiments when the workflow starts, for what would otherwise fail
only after training (or after Snakemake deleted a finished model to retrain it). `config` is the workflow config
as the schema left it (config/schema.yaml); each check raises a UserError naming the config key or experiment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jointdiff.data.specs import get_spec
from jointdiff.errors import ConfigError, UserError
from jointdiff.jobs.resume import check_run_dir
from jointdiff.metrics.protocols import get_protocol
from jointdiff.workflow.experiment_file import ExperimentFile
from jointdiff.workflow.workflow_config import sampling_settings


def check_training(experiments: dict[str, ExperimentFile], results: str | Path, cpu_processes: int,
                   gpu_cap: int | None) -> None:
    """What a training job would refuse only after Snakemake deleted its finished model.pt (it deletes a job's
    outputs first): settings the run directory's checkpoints were not trained with, by the config beside them; and
    a batch that its processes (GPUs x nodes, or `cpu_processes` per node) cannot share evenly. `gpu_cap`: the
    GPUs of --resources gpu, to which a one-node job's GPUs scale down (None: no cap)."""
    for name, experiment in experiments.items():
        try:
            check_run_dir(experiment.cfg, Path(results) / name)
        except UserError as err:
            raise type(err)(f"experiment {name!r}: {err}") from None
        gpus, nodes = experiment.resources.gpus, experiment.resources.nodes
        scaled = nodes == 1 and isinstance(gpu_cap, int) and 0 < gpu_cap < gpus
        processes = nodes * ((gpu_cap if scaled else gpus) or cpu_processes)
        if experiment.cfg.batch_size % processes:
            by = f"resources.gpus {gpus}" if gpus else f"config key train.cpu_processes {cpu_processes}"
            by += f" scaled down to the {gpu_cap} GPUs of --resources gpu" if scaled else ""
            raise ConfigError(f"experiment {name!r}: batch_size {experiment.cfg.batch_size} is not divisible by its "
                              f"{processes} training processes ({by}" + (f" x {nodes} nodes)" if nodes > 1 else ")"))


def selected(config: dict[str, Any], key: str, experiments: dict[str, ExperimentFile]) -> list[str]:
    """The experiments a workflow-level analysis (config key `key`: probe, classic_guidance) runs on, checked: each
    must be one of the workflow's experiments and have a denoiser."""
    names = config[key]["experiments"]
    for name in names:
        if name not in experiments:
            raise ConfigError(f"config key {key}.experiments: {name!r} is not in experiments "
                              f"({', '.join(experiments)})")
        if experiments[name].cfg.diffusion_loss_weight == 0:
            raise ConfigError(f"config key {key}.experiments: {name!r} is the classifier-only baseline: it has no "
                              "denoiser to probe or guide")
    return list(names)


def classic_guidance_experiments(config: dict[str, Any], experiments: dict[str, ExperimentFile]) -> list[str]:
    """The experiments classic guidance (by a noised classifier) steers: `selected`, each with classes; and it is
    asked for by classic_guidance.experiments, not by sampling.guidance."""
    if config["sampling"]["guidance"] == "classifier":
        raise ConfigError("config key sampling.guidance: classifier is classic guidance by a separately trained "
                          "noised classifier; list the models to guide that way in classic_guidance.experiments")
    names = selected(config, "classic_guidance", experiments)
    for name in names:
        if get_spec(experiments[name].cfg.dataset).multi_label:
            raise ConfigError(f"config key classic_guidance.experiments: {name!r} has attributes, not classes; "
                              "classic guidance here steers toward classes")
    return names


def check_sampling_and_evaluation(config: dict[str, Any], generative: list[ExperimentFile],
                                  guided: list[ExperimentFile], max_samples: int) -> None:
    """The sampling settings against every experiment that samples (`generative`), the FID split, and the sample
    counts (of the `guided` experiments' class-guided sets too) against `max_samples`, the most jointdiff sample
    writes to one file, and the FID protocols' minimum."""
    if not generative:
        return
    s, e = config["sampling"], config["evaluation"]
    settings = sampling_settings(config)
    for experiment in generative:
        try:
            settings.check_fits(experiment.cfg.diffusion_steps)
        except UserError as err:
            raise ConfigError(f"config key sampling.steps (experiment {experiment.name!r}): {err}") from None
    standard, paper = get_protocol("standard"), get_protocol("paper")
    if e["fid_split"] != standard.reference_split:
        raise ConfigError(f"config key evaluation.fid_split: the standard FID compares against the "
                          f"{standard.reference_split} split, got {e['fid_split']!r}")
    counts = [("sampling.unconditional_samples", s["unconditional_samples"], e["fid_min_samples"])]
    if e["paper_fid"]:
        counts.append(("evaluation.paper_fid_samples", e["paper_fid_samples"], paper.min_samples))
    for experiment in guided:
        classes = experiment.cfg.resolved_num_classes()
        counts.append((f"sampling.guided_samples_per_class ({classes} classes of {experiment.name})",
                       classes * s["guided_samples_per_class"], 0))
    for key, count, fid_minimum in counts:
        if count > max_samples:
            raise ConfigError(f"config key {key}: {count:,} samples in one file, more than jointdiff sample's "
                              f"{max_samples:,}")
        if count < fid_minimum and not e["fid_smoke"]:
            raise ConfigError(f"config key {key}: {count:,} samples, but the FID needs at least {fid_minimum:,} "
                              "(raise it, or set evaluation.fid_smoke true for a run labelled smoke)")
