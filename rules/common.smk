# Validation and helpers shared by every rule: the config is checked against the schema, every experiment file
# is parsed by jointdiff's own config code (so a bad key fails here, before any job), and input functions
# build paths and params.

import os
import sys
from pathlib import Path

from snakemake.utils import validate

sys.path.insert(0, workflow.basedir)  # the workflow imports jointdiff's torch-free config code
from jointdiff.config import load_config, read_yaml_settings  # noqa: E402
from jointdiff.errors import UserError  # noqa: E402

# Every job runs this checkout's jointdiff too (`python -m jointdiff`, `torchrun -m jointdiff`): the environment,
# conda's (envs/jointdiff.yaml) or a venv, holds the third-party packages, and the workflow's directory comes first
# on each job's PYTHONPATH. The first part is Snakemake's default prefix (bash strict mode), kept.
WORKFLOW_DIR = workflow.basedir
shell.prefix("set -euo pipefail; export PYTHONPATH={WORKFLOW_DIR:q}${{PYTHONPATH:+:$PYTHONPATH}}; ")

validate(config, "../config/schema.yaml", set_default=True)

RESULTS = config["results"]
DATAROOT = config["dataroot"]
EXPERIMENTS = config["experiments"]
# An experiment file's `resources:` block; max_runtime caps retries (default 3 x runtime), eval_runtime is the
# limit of each sampling and metric job.
DEFAULT_RESOURCES = {"gpus": 0, "nodes": 1, "runtime": "12h", "mem_mb": 16000, "max_runtime": None,
                     "eval_runtime": "12h"}


def _load_experiment(name):
    path = Path(workflow.basedir) / config["experiments_dir"] / f"{name}.yaml"
    if not path.is_file():
        raise WorkflowError(f"config key experiments: no experiment file {path} for {name!r}")
    try:
        cfg = load_config(path, overrides={**config["overrides"], "dataroot": DATAROOT, "experiment_name": name})
        import yaml
        resources = {**DEFAULT_RESOURCES, **(yaml.safe_load(path.read_text()).get("resources") or {})}
    except UserError as err:
        raise WorkflowError(f"experiment {name!r}: {err}")
    return cfg, resources


EXPERIMENT_CONFIGS = {name: _load_experiment(name) for name in EXPERIMENTS}


wildcard_constraints:
    experiment="|".join(EXPERIMENTS),
    dataset="[A-Za-z0-9_-]+",
    weights="ema|raw",
    alpha=r"[0-9.e+-]+",
    protocol="standard|paper",


def exp_cfg(wildcards):
    return EXPERIMENT_CONFIGS[wildcards.experiment][0]


def exp_resources(wildcards):
    return EXPERIMENT_CONFIGS[wildcards.experiment][1]


def exp_gpus(wildcards):
    return int(exp_resources(wildcards)["gpus"])


def exp_processes(wildcards):
    """torchrun processes per node: one per GPU, or config train.cpu_processes on CPU."""
    return exp_gpus(wildcards) or config["train"]["cpu_processes"]


def exp_runtime_minutes(wildcards, key="runtime"):
    """An experiment's runtime ("2d", "12h", "90m" or minutes) in minutes, for attempt-scaled limits."""
    value = exp_resources(wildcards)[key]
    if value is None:  # max_runtime unset: three attempts' worth
        return 3 * exp_runtime_minutes(wildcards)
    text = str(value).strip().lower()
    units = {"d": 1440, "h": 60, "m": 1}
    if text[-1:] in units:
        return int(float(text[:-1]) * units[text[-1]])
    return int(float(text))


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


def sampler_flags():
    s = config["sampling"]
    flags = (f"--sampler {s['sampler']} --variance {s['variance']} --steps {s['steps']} --eta {s['eta']} "
             f"--batch-size {s['batch_size']} --guidance {s['guidance']} --head-t {s['head_t']}")
    return flags + (" --clip-x0" if s["clip_x0"] else "")


# ---- which outputs each experiment has ----------------------------------------------------------------------
# Accuracy needs the head; samples and FID need a trained denoiser (not the classifier-only baseline); guidance
# and counterfactuals need both.
CLASSIFIER_EXPERIMENTS = [e for e in EXPERIMENTS if EXPERIMENT_CONFIGS[e][0].train_with_classifier]
GENERATIVE_EXPERIMENTS = [e for e in EXPERIMENTS if EXPERIMENT_CONFIGS[e][0].diffusion_loss_weight > 0]
JOINT_EXPERIMENTS = [e for e in CLASSIFIER_EXPERIMENTS if e in GENERATIVE_EXPERIMENTS]
# Class-guided sampling (and its alpha sweep) needs classes; attribute models (CelebA) get counterfactuals, which
# flip one attribute, instead.
GUIDED_EXPERIMENTS = [e for e in JOINT_EXPERIMENTS if not EXPERIMENT_CONFIGS[e][0].multi_label_classifier]
# Given relative to the repository; inputs are relative to the working directory (the repository, unless
# --directory says otherwise). A relative path keeps the tables free of this machine's paths and keeps a moved
# checkout from rerunning the table jobs.
PAPER_RESULTS = os.path.relpath(Path(workflow.basedir) / config["report"]["paper_results"])
N_UNCOND = config["sampling"]["unconditional_samples"]


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
    datasets = dict.fromkeys(EXPERIMENT_CONFIGS[x][0].dataset for x in GENERATIVE_EXPERIMENTS)
    return files + [f"{RESULTS}/floors/{d}/fid_{p}.json" for d in datasets for p in fid_protocols()]


# The floor of each FID protocol: real images of the split it does not compare against, as many as its samples.
FLOOR_SPLIT = {"standard": "test", "paper": "train"}


def floor_count(wildcards):
    return N_UNCOND if wildcards.protocol == "standard" else config["evaluation"]["paper_fid_samples"]


def guided_metric_files():
    return [f"{RESULTS}/{e}/metrics/guided_ema_alpha{a}.json" for e in GUIDED_EXPERIMENTS for a in ALPHAS]


def all_tables():
    tables = (["fid"] if GENERATIVE_EXPERIMENTS else []) + (["accuracy"] if CLASSIFIER_EXPERIMENTS else [])
    tables += ["guidance"] if GUIDED_EXPERIMENTS else []
    return [f"{RESULTS}/tables/{t}.{ext}" for t in tables for ext in ("csv", "md", "tex")]


def all_figures():
    names = ["training_curves"] + [f"samples_{e}" for e in GENERATIVE_EXPERIMENTS]
    names += ["accuracy_vs_noise"] if CLASSIFIER_EXPERIMENTS else []
    names += [f"guided_{e}" for e in GUIDED_EXPERIMENTS] + [f"counterfactual_{e}" for e in JOINT_EXPERIMENTS]
    names += ["alpha_sweep"] if GUIDED_EXPERIMENTS else []
    return [f"{RESULTS}/figures/{n}.{ext}" for n in names for ext in ("png", "pdf")]


def sample_launcher(wildcards):
    return f"torchrun --standalone --nnodes=1 --nproc-per-node={max(exp_gpus(wildcards), 1)} -m jointdiff"


def independent_classifier_input(wildcards):
    """Every guided score has two judges: the model's own head and this classifier of the real images."""
    return f"{RESULTS}/independent_classifiers/{exp_cfg(wildcards).dataset}.pt"
