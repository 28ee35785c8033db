"""The experiment file as the workflow and `jointdiff experiments` read it, and the workflow config's checks against
the experiments: each refusal names the file or the config key, without Snakemake and without torch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from snakemake.utils import validate

from conftest import REPO, run_torch_free
from jointdiff.errors import ConfigError, UserError
from jointdiff.workflow.checks import (check_sampling_and_evaluation, check_training, classic_guidance_experiments,
                                       selected)
from jointdiff.workflow.experiment_file import OUTPUT_GROUPS, read_experiment, read_experiments
from jointdiff.workflow.resources import Resources, runtime_minutes

EXPERIMENTS = REPO / "config" / "experiments"
TINY = {"description": "a test run", "source": "ours (a test)", "dataset": "digits", "num_channels": 32,
        "num_res_blocks": 1, "diffusion_steps": 100, "batch_size": 16, "num_steps": 20, "class_cond": True,
        "train_with_classifier": True, "resources": {"gpus": 0, "runtime": "30m", "mem_mb": 2000}}


def write(tmp_path: Path, name: str = "tiny", **changes) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**TINY, **changes}))
    return path


def refusal(path: Path) -> str:
    with pytest.raises(UserError) as err:
        read_experiment(path)
    return str(err.value)


def workflow_config(**changes) -> dict:
    """config/config.yaml with the schema's defaults, as the workflow checks it, and `changes` merged per block."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for key, value in changes.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    validate(config, str(REPO / "config" / "schema.yaml"), set_default=True)
    return config


# ---- the file ---------------------------------------------------------------------------------------------------
def test_every_experiment_file_of_the_checkout_reads_with_its_notes():
    for path in sorted(EXPERIMENTS.glob("*.yaml")):
        experiment = read_experiment(path)
        data = yaml.safe_load(path.read_text())
        assert experiment.name == path.stem and experiment.description == data["description"], path
        assert experiment.resources.gpus == data["resources"]["gpus"] and experiment.source, path
        assert experiment.outputs == set(data.get("outputs", OUTPUT_GROUPS)), path


def test_the_workflow_reads_each_experiment_under_its_overrides_data_root_and_name(tmp_path):
    write(tmp_path, num_steps=20)
    read = read_experiments(tmp_path, ["tiny"], {"num_steps": "7"}, "/data")
    cfg = read["tiny"].cfg
    assert (cfg.num_steps, cfg.dataroot, cfg.experiment_name) == (7, "/data", "tiny")
    with pytest.raises(UserError, match=r"config key experiments: no experiment file .*missing\.yaml for 'missing'"):
        read_experiments(tmp_path, ["tiny", "missing"], {}, "/data")


def test_defaults_of_the_blocks(tmp_path):
    experiment = read_experiment(write(tmp_path, resources=None))
    assert experiment.resources == Resources() and experiment.outputs == set(OUTPUT_GROUPS)
    assert experiment.noised_classifier.width == 128  # the authors' classifier_train.py


@pytest.mark.parametrize("changes, message", [
    ({"resource": {"gpus": 1}}, "tiny.yaml: unknown key resource (did you mean resources?)"),
    ({"num_step": 10}, "tiny.yaml: unknown key num_step (did you mean num_steps?)"),
    ({"zzz": 1}, "tiny.yaml: unknown key zzz; an experiment file holds settings"),
    ({"sampling": {"steps": 10}}, "tiny.yaml: sampling: is a block of the workflow config"),
    ({"evaluation": {"fid_smoke": True}}, "tiny.yaml: evaluation: is a block of the workflow config"),
    ({"num_channels": "wide"}, "tiny.yaml: num_channels expects an integer, got 'wide'"),
    ({"dataset": "ImageNet"}, "unknown dataset 'ImageNet'"),
    ({"lr": -1}, "lr must be > 0"),
])
def test_a_bad_key_or_setting_is_refused_naming_the_experiment_and_key(tmp_path, changes, message):
    text = refusal(write(tmp_path, **changes))
    assert text.startswith("experiment 'tiny': ") and message in text, text


def test_an_empty_or_unreadable_file_is_named(tmp_path):
    (tmp_path / "tiny.yaml").write_text("")
    assert "tiny.yaml is empty" in refusal(tmp_path / "tiny.yaml")
    (tmp_path / "tiny.yaml").write_text("dataset: [digits\n")
    assert "tiny.yaml: not valid YAML" in refusal(tmp_path / "tiny.yaml")
    (tmp_path / "tiny.yaml").write_text("- dataset\n")
    assert "tiny.yaml: expected a mapping of settings, got list" in refusal(tmp_path / "tiny.yaml")


@pytest.mark.parametrize("resources, message", [
    ({"gpu": 4}, "tiny.yaml: unknown key resources.gpu (did you mean gpus?)"),
    ({"threads": 4}, "tiny.yaml: unknown key resources.threads; known: gpus, nodes, runtime, mem_mb, max_runtime"),
    ([4], "tiny.yaml: resources must be a mapping of gpus, nodes, runtime, mem_mb, max_runtime, eval_runtime"),
    ({"nodes": 0}, "tiny.yaml: resources.nodes must be an integer >= 1, got 0"),
    ({"gpus": "2"}, "tiny.yaml: resources.gpus must be an integer >= 0, got '2'"),
    ({"mem_mb": 1.5}, "tiny.yaml: resources.mem_mb must be an integer >= 1, got 1.5"),
    ({"runtime": "forever"}, "tiny.yaml: resources.runtime must be minutes or a duration like 90m, 12h, 2d, got"),
    ({"max_runtime": "-1h"}, "tiny.yaml: resources.max_runtime must be minutes or a duration"),
    ({"eval_runtime": ""}, "tiny.yaml: resources.eval_runtime must be minutes or a duration"),
])
def test_a_bad_resources_block_names_the_file_and_key(tmp_path, resources, message):
    text = refusal(write(tmp_path, resources=resources))
    assert text.startswith("experiment 'tiny': ") and message in text, text


def test_runtimes_in_minutes_and_a_retry_capped_at_max_runtime():
    assert [runtime_minutes(v) for v in ("2d", "12h", "90m", 45, " 1.5H ")] == [2880, 720, 90, 45, 90]
    for bad in ("", "forever", "0", "-3m", "inf", "nanm"):
        with pytest.raises(ValueError):
            runtime_minutes(bad)
    resources = Resources(runtime="1h", eval_runtime="30m")
    assert (resources.minutes(), resources.minutes("eval_runtime"), resources.minutes("max_runtime")) == (60, 30, 180)
    assert [resources.train_minutes(attempt) for attempt in (1, 2, 3, 4)] == [60, 120, 180, 180]
    assert [Resources(runtime="1h", max_runtime="90m").train_minutes(a) for a in (1, 2)] == [60, 90]


@pytest.mark.parametrize("outputs", ["accuracy", ["accuracy", "fid"], [{"accuracy": 1}]])
def test_bad_outputs_name_the_file_and_the_groups(tmp_path, outputs):
    text = refusal(write(tmp_path, outputs=outputs))
    assert "tiny.yaml: outputs must be a list of accuracy, generation, guidance, got" in text, text


def test_outputs_leave_groups_out(tmp_path):
    assert read_experiment(write(tmp_path, outputs=["accuracy"])).outputs == {"accuracy"}
    assert read_experiment(write(tmp_path, outputs=[])).outputs == set()


@pytest.mark.parametrize("block, message", [
    ({"widht": 64}, "tiny.yaml: unknown key noised_classifier.widht (did you mean width?)"),
    ({"width": "wide"}, "tiny.yaml: noised_classifier.width expects an integer, got 'wide'"),
    ({"width": 96, "head_channels": 64}, "tiny.yaml: noised classifier: width 96 does not split into heads of 64"),
])
def test_a_bad_noised_classifier_block_names_the_file_and_key(tmp_path, block, message):
    text = refusal(write(tmp_path, noised_classifier=block))
    assert text.startswith("experiment 'tiny': ") and message in text, text


def test_a_noised_classifier_block_sets_its_settings(tmp_path):
    settings = read_experiment(write(tmp_path, noised_classifier={"iterations": 30, "width": 64})).noised_classifier
    assert (settings.iterations, settings.width, settings.depth) == (30, 64, 2)


# ---- the workflow config against the experiments ------------------------------------------------------------------
@pytest.mark.parametrize("resources, cpu_processes, cap, message", [
    ({"gpus": 0}, 3, None, "batch_size 16 is not divisible by its 3 training processes "
                           "(config key train.cpu_processes 3)"),
    ({"gpus": 3}, 1, None, "batch_size 16 is not divisible by its 3 training processes (resources.gpus 3)"),
    ({"gpus": 4}, 1, 3, "batch_size 16 is not divisible by its 3 training processes (resources.gpus 4 scaled down "
                        "to the 3 GPUs of --resources gpu)"),
    ({"gpus": 0, "nodes": 3}, 1, None, "by its 3 training processes (config key train.cpu_processes 1 x 3 nodes)"),
    ({"gpus": 2, "nodes": 3}, 1, 1, "by its 6 training processes (resources.gpus 2 x 3 nodes)"),  # no scaling
])
def test_a_batch_its_training_processes_cannot_share_is_refused(tmp_path, resources, cpu_processes, cap, message):
    write(tmp_path, resources=resources)
    experiments = read_experiments(tmp_path, ["tiny"], {}, "data")
    with pytest.raises(ConfigError) as err:
        check_training(experiments, tmp_path / "results", cpu_processes, cap)
    assert str(err.value).startswith("experiment 'tiny': ") and message in str(err.value), err.value


def test_batches_that_share_evenly_pass(tmp_path):
    write(tmp_path, resources={"gpus": 4})
    experiments = read_experiments(tmp_path, ["tiny"], {}, "data")
    for cap in (None, 0, 2, 4, 8):  # a cap of 0 (no GPUs) or of at least the GPUs asked for scales nothing down
        check_training(experiments, tmp_path / "results", 3, cap)


def test_a_run_directory_trained_with_other_settings_is_refused(tmp_path):
    write(tmp_path)
    run_dir = tmp_path / "results" / "tiny"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "ckpt-000000002.pt").write_bytes(b"")
    saved = read_experiments(tmp_path, ["tiny"], {}, "data")["tiny"].cfg.to_dict()
    (run_dir / "config.json").write_text(json.dumps({**saved, "classifier_loss_scaling": 0.2}))
    with pytest.raises(ConfigError, match=r"^experiment 'tiny': .*ckpt-000000002\.pt was trained with other settings "
                                          r"\(classifier_loss_scaling 0\.2 -> 0\.001\)"):
        check_training(read_experiments(tmp_path, ["tiny"], {}, "data"), tmp_path / "results", 1, None)
    check_training(read_experiments(tmp_path, ["tiny"], {"classifier_loss_scaling": 0.2}, "data"),
                   tmp_path / "results", 1, None)


@pytest.fixture(scope="module")
def paper_experiments() -> dict:
    names = ["cifar10", "cifar10_classifier_only", "cifar10_diffusion_only", "celeba"]
    return read_experiments(EXPERIMENTS, names, {}, "data")


@pytest.mark.parametrize("key, names, message", [
    ("probe", ["svhn"], "config key probe.experiments: 'svhn' is not in experiments (cifar10, cifar10_classifier_"),
    ("probe", ["cifar10_classifier_only"], "config key probe.experiments: 'cifar10_classifier_only' is the "
                                           "classifier-only baseline: it has no denoiser to probe or guide"),
    ("classic_guidance", ["svhn"], "config key classic_guidance.experiments: 'svhn' is not in experiments"),
])
def test_an_analysis_of_an_experiment_it_cannot_run_on_is_refused(paper_experiments, key, names, message):
    with pytest.raises(ConfigError) as err:
        selected(workflow_config(**{key: {"experiments": names}}), key, paper_experiments)
    assert message in str(err.value), err.value


def test_classic_guidance_steers_models_with_classes_asked_for_by_its_own_key(paper_experiments):
    config = workflow_config(classic_guidance={"experiments": ["cifar10_diffusion_only", "cifar10"]})
    assert classic_guidance_experiments(config, paper_experiments) == ["cifar10_diffusion_only", "cifar10"]
    assert selected(workflow_config(probe={"experiments": ["cifar10"]}), "probe", paper_experiments) == ["cifar10"]
    with pytest.raises(ConfigError, match="'celeba' has attributes, not classes"):
        classic_guidance_experiments(workflow_config(classic_guidance={"experiments": ["celeba"]}), paper_experiments)
    with pytest.raises(ConfigError, match="config key sampling.guidance: classifier is classic guidance by a "
                                          "separately trained noised classifier; list the models to guide"):
        classic_guidance_experiments(workflow_config(sampling={"guidance": "classifier"}), paper_experiments)


@pytest.mark.parametrize("changes, message", [
    ({"sampling": {"steps": 2000}}, "config key sampling.steps (experiment 'cifar10'): --steps 2000: the model has "
                                    "1000"),
    ({"evaluation": {"fid_split": "test"}}, "config key evaluation.fid_split: the standard FID compares against the "
                                            "train split, got 'test'"),
    ({"sampling": {"unconditional_samples": 200}}, "config key sampling.unconditional_samples: 200 samples, but the "
                                                   "FID needs at least 10,000 (raise it, or set evaluation.fid_smoke"),
    ({"evaluation": {"paper_fid_samples": 20}}, "config key evaluation.paper_fid_samples: 20 samples, but the FID "
                                                "needs at least"),
    ({"sampling": {"unconditional_samples": 200_000}}, "config key sampling.unconditional_samples: 200,000 samples "
                                                       "in one file, more than jointdiff sample's 100,000"),
    ({"sampling": {"guided_samples_per_class": 20_000}}, "config key sampling.guided_samples_per_class (10 classes of "
                                                         "cifar10): 200,000 samples in one file"),
])
def test_sampling_and_fid_settings_that_would_fail_after_training_are_refused(paper_experiments, changes, message):
    cifar10 = paper_experiments["cifar10"]
    with pytest.raises(ConfigError) as err:
        check_sampling_and_evaluation(workflow_config(**changes), [cifar10], [cifar10], 100_000)
    assert message in str(err.value), err.value


def test_sampling_settings_are_checked_as_jointdiff_sample_checks_them(paper_experiments):
    config = workflow_config()
    config["sampling"]["sampler"] = "euler"  # past the schema (a config that skipped it)
    with pytest.raises(UserError, match="config key sampling: --sampler must be one of ancestral, ddim, got 'euler'"):
        check_sampling_and_evaluation(config, [paper_experiments["cifar10"]], [], 100_000)


def test_sampling_checks_pass_on_the_paper_config_and_wait_for_an_experiment_that_samples(paper_experiments):
    cifar10 = paper_experiments["cifar10"]
    check_sampling_and_evaluation(workflow_config(), [cifar10], [cifar10], 100_000)
    check_sampling_and_evaluation(workflow_config(evaluation={"fid_smoke": True, "paper_fid_samples": 20}),
                                  [cifar10], [], 100_000)  # a smoke run: few samples, labelled so
    check_sampling_and_evaluation(workflow_config(sampling={"steps": 2000}), [], [], 100_000)  # nothing samples


def test_reading_and_checking_import_no_torch():
    run_torch_free("import jointdiff.workflow.checks, jointdiff.workflow.experiment_file")
