# Validation and helpers shared by every rule: the config is checked against the schema, every experiment file is
# read by jointdiff's own code (jointdiff/workflow/experiment_file.py) and the workflow config is checked against
# every experiment (jointdiff/workflow/checks.py), so a bad key fails here, before any job, never after training;
# the experiment groups, the targets and the input functions build paths and params.

import os
import shlex
import sys
from types import SimpleNamespace
from pathlib import Path

import yaml
from snakemake.utils import validate

sys.path.insert(0, workflow.basedir)  # the workflow imports jointdiff's torch-free code
from jointdiff.data.specs import component_datasets, get_spec  # noqa: E402
from jointdiff.errors import UserError  # noqa: E402
from jointdiff.report.table_kinds import TABLES  # noqa: E402
from jointdiff.sample.seeds import MAX_SAMPLES  # noqa: E402
from jointdiff.workflow.checks import (check_sampling_and_evaluation, check_training,  # noqa: E402
                                       classic_guidance_experiments, selected)
from jointdiff.workflow.experiment_file import read_experiments  # noqa: E402
from jointdiff.workflow.workflow_config import coerce_to_schema, sampling_settings  # noqa: E402

# Every job runs this checkout's jointdiff too (`python -m jointdiff`, `torchrun -m jointdiff`): the environment,
# conda's (envs/jointdiff.yaml) or a venv, holds the third-party packages, and the workflow's directory comes first
# on each job's PYTHONPATH. The first part is Snakemake's default prefix (bash strict mode), kept.
WORKFLOW_DIR = workflow.basedir
shell.prefix("set -euo pipefail; export PYTHONPATH={WORKFLOW_DIR:q}${{PYTHONPATH:+:$PYTHONPATH}}; ")


SCHEMA = Path(workflow.basedir) / "config" / "schema.yaml"
config.update(coerce_to_schema(config, yaml.safe_load(SCHEMA.read_text())))
try:
    validate(config, str(SCHEMA), set_default=True)
except WorkflowError as err:  # Snakemake's message names the key, not the file it came from
    raise WorkflowError(f"config from {', '.join(map(str, workflow.configfiles)) or 'no file'} "
                        f"(and --config): {err}")

RESULTS = config["results"]
LOGS = f"{RESULTS}/logs"  # every rule's log, so runs into different results directories keep apart
DATAROOT = config["dataroot"]
EXPERIMENTS = config["experiments"]
for key in ("dataroot", "results"):
    if Path(config[key]).exists() and not Path(config[key]).is_dir():
        raise WorkflowError(f"config key {key}: {config[key]} is a file, not a directory")


def checked(function, *args):
    """`function(*args)`, its UserError turned into a WorkflowError with the same text, which Snakemake prints as
    one message before any job."""
    try:
        return function(*args)
    except UserError as err:
        raise WorkflowError(str(err))


# Every experiment, read from its file (its settings under the config's overrides, its resources, outputs and
# noised-classifier settings), and checked for what its training job would refuse only after Snakemake deleted a
# finished model: a run directory's checkpoints trained with other settings, a batch its processes cannot share.
EXPERIMENT_FILES = checked(read_experiments, Path(workflow.basedir) / config["experiments_dir"], EXPERIMENTS,
                           config["overrides"], DATAROOT)
GPU_CAP = getattr(workflow.global_resources.get("gpu"), "value", None)  # --resources gpu=N: jobs scale down to it
checked(check_training, EXPERIMENT_FILES, RESULTS, config["train"]["cpu_processes"], GPU_CAP)

MULTI_NODE_EXPERIMENTS = [e for e in EXPERIMENTS if EXPERIMENT_FILES[e].resources.nodes > 1]
SINGLE_NODE_EXPERIMENTS = [e for e in EXPERIMENTS if e not in MULTI_NODE_EXPERIMENTS]


def experiments_pattern(names):
    """A wildcard constraint matching exactly these experiments (nothing when there are none)."""
    return "|".join(names) or "(?!)"


wildcard_constraints:
    experiment="|".join(EXPERIMENTS),
    kind="guided|classic",
    dataset="[A-Za-z0-9_-]+",
    weights="ema|raw",
    alpha=r"[0-9.e+-]+",
    protocol="standard|paper",


def exp_cfg(wildcards):
    return EXPERIMENT_FILES[wildcards.experiment].cfg


def exp_dataset(wildcards):
    return exp_cfg(wildcards).dataset


def exp_resources(wildcards):
    return EXPERIMENT_FILES[wildcards.experiment].resources


def exp_gpus(wildcards):
    return exp_resources(wildcards).gpus


def exp_nodes(wildcards):
    return exp_resources(wildcards).nodes


def exp_mem_mb(wildcards):
    return exp_resources(wildcards).mem_mb


def train_runtime(wildcards, attempt):
    """attempt x the experiment's runtime, capped at its max_runtime, in minutes."""
    return exp_resources(wildcards).train_minutes(attempt)


def exp_runtime(wildcards):
    """The experiment's runtime in minutes: the limit of its noised classifier's training."""
    return exp_resources(wildcards).minutes()


def eval_runtime(wildcards):
    """The limit of each sampling and metric job of the experiment, in minutes."""
    return exp_resources(wildcards).minutes("eval_runtime")


def exp_device(wildcards):
    return "cuda" if exp_gpus(wildcards) else "cpu"


def manifest_path(dataset):
    return f"{DATAROOT}/{dataset}/manifest.json"


def dataroot_of(manifest):
    """The data root that holds <root>/<dataset>/manifest.json."""
    return str(Path(manifest).parent.parent)


def exp_manifest(wildcards):
    return manifest_path(exp_cfg(wildcards).dataset)


def run_dir(wildcards):
    return f"{RESULTS}/{wildcards.experiment}"


def alpha_str(alpha):
    """A sweep value as it appears in file names: 0, 10, 0.5."""
    return f"{float(alpha):g}"


ALPHAS = [alpha_str(a) for a in config["sampling"]["guided_alphas"]]


def fid_smoke_flags():
    e = config["evaluation"]
    if not e["fid_smoke"]:
        return ""
    return "--smoke" + (f" --reference-limit {e['fid_reference_limit']}" if e["fid_reference_limit"] else "")


def tracker_flags():
    """`jointdiff train` flags of the experiment trackers config train.trackers names (none: no flags)."""
    t = config["train"]
    if not t["trackers"]:
        return ""
    return " ".join(f"--tracker {name}" for name in t["trackers"]) + (
        f" --wandb-mode {t['wandb_mode']} --wandb-project {shlex.quote(t['wandb_project'])}")


def sampler_flags(classic=False):
    """The workflow config's sampling settings (classic guidance's, with `classic`) as `jointdiff sample` flags,
    those that differ from the defaults, and its batch size."""
    settings = checked(sampling_settings, config, classic)
    return f"{settings.to_flags()} --batch-size {config['sampling']['batch_size']}".strip()


# ---- which outputs each experiment has ----------------------------------------------------------------------
# Accuracy needs the head; samples and FID need a trained denoiser (not the classifier-only baseline); guidance
# and counterfactuals need both. An experiment file's `outputs:` can leave groups out.
def _wants(name, group):
    return group in EXPERIMENT_FILES[name].outputs


CLASSIFIER_EXPERIMENTS = [e for e in EXPERIMENTS if EXPERIMENT_FILES[e].cfg.train_with_classifier
                          and _wants(e, "accuracy")]
DENOISER_EXPERIMENTS = [e for e in EXPERIMENTS if EXPERIMENT_FILES[e].cfg.diffusion_loss_weight > 0]
GENERATIVE_EXPERIMENTS = [e for e in DENOISER_EXPERIMENTS if _wants(e, "generation")]
JOINT_EXPERIMENTS = [e for e in DENOISER_EXPERIMENTS if EXPERIMENT_FILES[e].cfg.train_with_classifier
                     and _wants(e, "guidance")]
# Class-guided sampling (and its alpha sweep) needs classes; attribute models (CelebA) get counterfactuals, which
# flip one attribute, instead.
GUIDED_EXPERIMENTS = [e for e in JOINT_EXPERIMENTS if not EXPERIMENT_FILES[e].cfg.multi_label_classifier]
# The paper's later experiments: the joint model beside the classifier-only baseline on the same labels, by label
# share (semi-supervised) or on a target domain (domain adaptation); classic guidance by a noised classifier beside
# the joint model's guidance; linear probes of frozen encoders.
DA_EXPERIMENTS = [e for e in CLASSIFIER_EXPERIMENTS if get_spec(EXPERIMENT_FILES[e].cfg.dataset).domains]
SEMI_SUPERVISED_EXPERIMENTS = [e for e in CLASSIFIER_EXPERIMENTS
                               if EXPERIMENT_FILES[e].cfg.labelled_data_share < 1 and e not in DA_EXPERIMENTS]
CLASSIC_EXPERIMENTS = checked(classic_guidance_experiments, config, EXPERIMENT_FILES)
PROBE_EXPERIMENTS = checked(selected, config, "probe", EXPERIMENT_FILES)
CLASSIC_SCALES = [alpha_str(a) for a in config["classic_guidance"]["scales"]]
# Given relative to the repository; inputs are relative to the working directory (the repository, unless
# --directory says otherwise). A relative path keeps the tables free of this machine's paths and keeps a moved
# checkout from rerunning the table jobs.
PAPER_RESULTS = os.path.relpath(Path(workflow.basedir) / config["report"]["paper_results"])
N_UNCOND = config["sampling"]["unconditional_samples"]


# The sampling settings against every experiment that samples, the FID split, and the sample counts against
# jointdiff sample's cap and the FID protocols.
checked(check_sampling_and_evaluation, config, [EXPERIMENT_FILES[e] for e in GENERATIVE_EXPERIMENTS],
        [EXPERIMENT_FILES[e] for e in GUIDED_EXPERIMENTS], MAX_SAMPLES)


def metric_files(pattern, experiments):
    return [pattern.format(results=RESULTS, experiment=e) for e in experiments]


def fid_protocols():
    return ["standard"] + (["paper"] if config["evaluation"]["paper_fid"] else [])


def fid_inputs():
    """Every FID file of the table: the experiments' and, per dataset and protocol, the floor of real images."""
    e = config["evaluation"]
    files = [f"{RESULTS}/{x}/metrics/fid_standard_{w}.json" for x in GENERATIVE_EXPERIMENTS for w in e["fid_weights"]]
    if e["paper_fid"]:
        files += metric_files("{results}/{experiment}/metrics/fid_paper_raw.json", GENERATIVE_EXPERIMENTS)
    datasets = dict.fromkeys(EXPERIMENT_FILES[x].cfg.dataset for x in GENERATIVE_EXPERIMENTS)
    return files + [f"{RESULTS}/floors/{d}/fid_{p}.json" for d in datasets for p in fid_protocols()]


# The floor of each FID protocol: real images of the split it does not compare against, as many as its samples.
FLOOR_SPLIT = {"standard": "test", "paper": "train"}


def floor_count(wildcards):
    return N_UNCOND if wildcards.protocol == "standard" else config["evaluation"]["paper_fid_samples"]


def guided_metric_files():
    return [f"{RESULTS}/{e}/metrics/guided_ema_alpha{a}.json" for e in GUIDED_EXPERIMENTS for a in ALPHAS]


def conditional_generation_files():
    """Score and FID files of every guided sample set: the joint models' (guided_*) and classic guidance's."""
    sets = [(e, "guided", a) for e in GUIDED_EXPERIMENTS for a in ALPHAS]
    sets += [(e, "classic", s) for e in CLASSIC_EXPERIMENTS for s in CLASSIC_SCALES]
    return [f"{RESULTS}/{e}/metrics/{prefix}{kind}_ema_alpha{a}.json" for e, kind, a in sets
            for prefix in ("", "fid_")]


def tracked_metric_files(wildcards):
    """The final metric files of an experiment that its training's tracker run gets, of those the tables read (so
    tracking adds no metric job): accuracy, each FID, each guided set's score (by both judges) and, when classic
    guidance is compared, each guided set's FID."""
    e, name = config["evaluation"], wildcards.experiment
    files = [f"{RESULTS}/{name}/metrics/accuracy.json"] if name in CLASSIFIER_EXPERIMENTS else []
    if name in GENERATIVE_EXPERIMENTS:
        files += [f"{RESULTS}/{name}/metrics/fid_standard_{w}.json" for w in e["fid_weights"]]
        files += [f"{RESULTS}/{name}/metrics/fid_paper_raw.json"] if e["paper_fid"] else []
    files += [f"{RESULTS}/{name}/metrics/guided_ema_alpha{a}.json" for a in ALPHAS if name in GUIDED_EXPERIMENTS]
    if CLASSIC_EXPERIMENTS:
        files += [f for f in conditional_generation_files() if f.startswith(f"{RESULTS}/{name}/metrics/")]
    return list(dict.fromkeys(files))


def all_tracked_metrics():
    """With train.trackers on: each experiment's record of the final metrics sent to its tracker run."""
    if not config["train"]["trackers"]:
        return []
    return [f"{RESULTS}/{e}/metrics/tracked.json" for e in EXPERIMENTS
            if tracked_metric_files(SimpleNamespace(experiment=e))]


# The tables of the registry (jointdiff/report/table_kinds.py), one `table` job each: the experiment group each
# reports on (the workflow makes it when the group is not empty) and the files of each metric set it names, for the
# table's experiments (the FID, guided-score and conditional-generation sets are of their tables' groups already).
TABLE_EXPERIMENTS = {"classifier": CLASSIFIER_EXPERIMENTS, "generative": GENERATIVE_EXPERIMENTS,
                     "guided": GUIDED_EXPERIMENTS, "semi_supervised": SEMI_SUPERVISED_EXPERIMENTS,
                     "domain_adaptation": DA_EXPERIMENTS, "classic_guidance": CLASSIC_EXPERIMENTS,
                     "probe": PROBE_EXPERIMENTS}
TABLE_INPUTS = {
    "accuracy": lambda names: metric_files("{results}/{experiment}/metrics/accuracy.json", names),
    "fid": lambda names: fid_inputs(),
    "guided_scores": lambda names: guided_metric_files(),
    "conditional_generation": lambda names: conditional_generation_files(),
    "probe": lambda names: metric_files(f"{{results}}/{{experiment}}/metrics/probe_{config['probe']['weights']}.json",
                                        names),
}


def all_tables():
    return [f"{RESULTS}/tables/{kind}.{ext}" for kind, table in TABLES.items() if TABLE_EXPERIMENTS[table.experiments]
            for ext in ("csv", "md", "tex")]


def table_metric_files(kind):
    table = TABLES[kind]
    return TABLE_INPUTS[table.inputs](TABLE_EXPERIMENTS[table.experiments])


def table_input(wildcards):
    """The metric files of a table, and the paper's numbers when it has a paper column."""
    return {"metrics": table_metric_files(wildcards.kind)} | (
        {"paper": PAPER_RESULTS} if TABLES[wildcards.kind].paper else {})


def table_flags(wildcards):
    """The table command's flags after --inputs: each input's experiment (checked), the paper's numbers."""
    table = TABLES[wildcards.kind]
    flags = ["--experiments", *TABLE_EXPERIMENTS[table.experiments]] if table.checks_experiments else []
    flags += ["--paper", PAPER_RESULTS] if table.paper else []
    return "".join(f" {shlex.quote(flag)}" for flag in flags)


def all_figures():
    names = ["training_curves"] + [f"samples_{e}" for e in GENERATIVE_EXPERIMENTS]
    names += ["accuracy_vs_noise"] if CLASSIFIER_EXPERIMENTS else []
    names += [f"guided_{e}" for e in GUIDED_EXPERIMENTS] + [f"counterfactual_{e}" for e in JOINT_EXPERIMENTS]
    names += ["alpha_sweep"] if GUIDED_EXPERIMENTS else []
    names += ["probe"] if PROBE_EXPERIMENTS else []
    return [f"{RESULTS}/figures/{n}.{ext}" for n in names for ext in ("png", "pdf")]


def one_gpu(wildcards):
    """What a single-process job of an experiment asks for: its one GPU, or none on a CPU experiment."""
    return min(exp_gpus(wildcards), 1)


def dataset_gpu(wildcards):
    """A per-dataset job (FID floor, independent classifier) runs on a GPU when any experiment on the dataset does."""
    return int(any(EXPERIMENT_FILES[e].resources.gpus for e in EXPERIMENTS
                   if EXPERIMENT_FILES[e].cfg.dataset == wildcards.dataset))


def dataset_device(wildcards):
    return "cuda" if dataset_gpu(wildcards) else "cpu"


# The threads of each job that runs a model (config train.threads), and of each sampling job (sampling.threads).
THREADS = config["train"]["threads"]
SAMPLING_THREADS = config["sampling"]["threads"] or THREADS


def launcher(asks=one_gpu, torchrun=False, cpu_processes=1, multinode=False):
    """A params function: the `jointdiff launch` prefix of a job's command, which the shell command completes with
    `--gpus {resources.gpu} --threads {threads} --`. The job runs on GPUs of its own (resources.gpu of them: what
    `asks` gives, or fewer under a --resources gpu=N cap), one process per GPU under torchrun, or `cpu_processes`
    without GPUs; its log names the GPUs. A multi-node job gets its GPUs per node through SLURM's gres (its
    resources.gpu is 0) and runs one launch per node."""

    def prefix(wildcards):
        flags = f"--experiment-gpus {asks(wildcards)} --cpu-processes {cpu_processes}"
        flags += (" --torchrun" if torchrun else "") + (f" --nodes {exp_nodes(wildcards)}" if multinode else "")
        return f"python -m jointdiff launch {flags}"

    return prefix


def guided_sample_count(wildcards):
    """Samples in one guided set: every class of the experiment's dataset, guided_samples_per_class each."""
    return exp_cfg(wildcards).resolved_num_classes() * config["sampling"]["guided_samples_per_class"]


def noised_classifier_flags(wildcards):
    """`jointdiff noised-classifier` flags: the experiment's data and diffusion, and its noised-classifier settings
    (classic_guidance.iterations, when set, wins)."""
    cfg, settings = exp_cfg(wildcards), EXPERIMENT_FILES[wildcards.experiment].noised_classifier
    iterations = config["classic_guidance"]["iterations"]
    more = f" --iterations {iterations}" if iterations else ""
    return (f"--dataset {cfg.dataset} --dataroot {shlex.quote(DATAROOT)} --image-size {cfg.resolved_image_size()} "
            f"--channels {cfg.resolved_channels()} --diffusion-steps {cfg.diffusion_steps} "
            f"--noise-schedule {cfg.noise_schedule} {settings.to_flags()}{more}")


def component_manifests(wildcards):
    """A domain-adaptation set is made of other prepared datasets: their manifests."""
    return [manifest_path(d) for d in component_datasets(get_spec(wildcards.dataset))]


def independent_classifier_input(wildcards):
    """Every guided score has two judges: the model's own head and this classifier of the real images."""
    return f"{RESULTS}/independent_classifiers/{exp_cfg(wildcards).dataset}.pt"


def existing_reports(wildcards):
    """Each table and figure of `all` whose inputs exist, as the report rule making it names them; a warning names
    those skipped (report_only, for `jointdiff rebuild`)."""
    from snakemake.logging import logger
    from jointdiff.commands.rebuild import report_rules
    makers = [workflow.get_rule(name) for name in report_rules(Path(workflow.basedir))]
    wanted, skipped = [], {}
    for path in all_tables() + all_figures():
        maker = next(r for r in makers if r.is_producer(path))
        missing = [f for f in maker.expand_input(maker.get_wildcards(path))[0] if not os.path.exists(f)]
        if missing:
            skipped.setdefault(os.path.splitext(path)[0], missing)
        else:
            wanted.append(path)
    for name, missing in skipped.items():
        logger.warning(f"skipped {name}.*: {len(missing)} of its inputs are missing, such as {missing[0]}")
    return wanted
