"""The experiment config: the authors' README commands parse unchanged; bad values fail fast, naming the field."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from jointdiff.config import ExperimentConfig, load_config, parse_flags
from jointdiff.errors import ConfigError, DatasetError

REPO = Path(__file__).resolve().parents[1]

# Experiment file -> what the authors' README command in its `flags:` trains: (dataset, C, res blocks, T, batch,
# steps). The README labels the FashionMNIST command "CelebA".
EXPECTED = {
    "svhn": ("SVHN", 128, 3, 1000, 256, 250_000),
    "cifar10": ("CIFAR10", 128, 3, 1000, 256, 500_000),
    "cifar100": ("CIFAR100", 128, 3, 1000, 256, 500_000),
    "fashionmnist": ("FashionMNIST", 64, 3, 500, 128, 100_000),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_authors_readme_commands_parse_unchanged(name):
    """Each paper experiment keeps its README command verbatim under `flags:`; the flags alone give that run."""
    flags = yaml.safe_load((REPO / "config" / "experiments" / f"{name}.yaml").read_text())["flags"]
    cfg = load_config(flags=flags)
    dataset, channels, blocks, steps_T, batch, steps = EXPECTED[name]
    assert (cfg.dataset, cfg.num_channels, cfg.num_res_blocks, cfg.diffusion_steps, cfg.batch_size,
            cfg.num_steps) == (dataset, channels, blocks, steps_T, batch, steps)
    assert cfg.train_with_classifier and not cfg.train_noised_classifier and cfg.classifier_loss_scaling == 0.001
    assert cfg.dropout == 0.3 and cfg.lr == 1e-4 and cfg.class_cond and cfg.eval_on_test_set
    assert cfg.gpu_id == 1 and cfg.validation_interval == 100 and cfg.save_interval == 20_000


@pytest.mark.parametrize("name", ["svhn", "cifar10", "cifar100", "fashionmnist", "celeba", "digits_demo"])
def test_experiment_files_load(name):
    cfg = load_config(REPO / "config" / "experiments" / f"{name}.yaml")
    assert cfg.gpu_id == -1  # the workflow runs under torchrun
    if name == "fashionmnist":
        assert cfg.resolved_image_size() == 28 and cfg.attention_resolution_list() == [16, 8]


def test_flags_override_yaml_and_round_trip(tmp_path):
    path = tmp_path / "e.yaml"
    path.write_text("flags: --dataset CIFAR10 --num_channels 64\nnum_res_blocks: 2\n")
    cfg = load_config(path, ["--num_channels", "96"])
    assert (cfg.dataset, cfg.num_channels, cfg.num_res_blocks) == ("CIFAR10", 96, 2)
    assert load_config(flags=cfg.to_flags()) == cfg


@pytest.mark.parametrize("flags, field", [
    ("--lr -1", "lr"),
    ("--batch_size 0", "batch_size"),
    ("--learn_sigma True", "learn_sigma"),
    ("--use_kl True", "use_kl"),
    ("--num_channels 48", "num_channels"),
    ("--dropout 1.5", "dropout"),
    ("--train_with_classifier maybe", "train_with_classifier"),
    ("--num_steps 1.5", "num_steps"),
    ("--classifier_augmentation hflip,warp", "classifier_augmentation"),
    ("--bogus_flag 3", "bogus_flag"),
    ("--dataset CIFAR10 --image_size 24", "image_size"),
    ("--labelled_data_share 0", "labelled_data_share"),
])
def test_bad_values_name_the_field(flags, field):
    with pytest.raises(ConfigError, match=field):
        load_config(flags=flags)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(DatasetError, match="CIFAR10.*FashionMNIST|FashionMNIST.*CIFAR10"):
        ExperimentConfig(dataset="ImageNet")


def test_bad_flag_fails_before_torch_is_imported(tmp_path):
    """A user mistake costs no torch import (~2 s here) and no data loading: exit 2, one line, flag named."""
    code = ("import sys; from jointdiff.cli import main; rc = main(['train', '--lr', '-1', '--run-dir', 'r', "
            "'--out', 'm.pt']); assert 'torch' not in sys.modules, 'torch was imported'; sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "lr must be > 0" in lines[0]


def test_parse_flags_needs_values():
    with pytest.raises(ConfigError, match="--num_channels needs a value"):
        parse_flags("--num_channels --dropout 0.1")


class Writes(io.StringIO):
    """stderr that keeps each write call apart (unbuffered stderr turns each into its own system call)."""

    def __init__(self):
        super().__init__()
        self.calls: list[str] = []

    def write(self, text: str) -> int:
        self.calls.append(text)
        return super().write(text)


@pytest.mark.parametrize("rank, prefix", [(None, "jointdiff train: error: "),
                                          ("1", "jointdiff train: error (rank 1): ")])
def test_an_error_is_one_whole_line_per_rank(tmp_path, monkeypatch, rank, prefix):
    """torchrun's ranks print at once into one log: a line written in two calls (text, then newline) interleaves."""
    from jointdiff.cli import main
    if rank:
        monkeypatch.setenv("RANK", rank)
    else:
        monkeypatch.delenv("RANK", raising=False)
    monkeypatch.setattr(sys, "stderr", Writes())
    assert main(["train", "--run-dir", str(tmp_path / "run"), "--out", str(tmp_path / "m.pt")]) == 2
    assert len(sys.stderr.calls) == 1 and sys.stderr.calls[0].startswith(prefix + "no experiment")
    assert sys.stderr.calls[0].endswith("\n") and sys.stderr.calls[0].count("\n") == 1


@pytest.mark.parametrize("config", ["empty.yaml", None])
def test_train_without_an_experiment_is_refused_instead_of_training_the_defaults(tmp_path, capsys, config):
    """An empty file (or no --config and no flags) would otherwise train 100,000 steps of the defaults."""
    from jointdiff.cli import main
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    args = ["--config", str(tmp_path / config)] if config else []
    assert main(["train", *args, "--run-dir", str(tmp_path / "run"), "--out", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert ("empty.yaml is empty" if config else "no experiment: give --config FILE") in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("block", ["sampling", "evaluation"])
def test_a_workflow_block_in_an_experiment_file_is_refused_by_name(tmp_path, block):
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump({"dataset": "digits", block: {"steps": 10}}))
    with pytest.raises(ConfigError, match=rf"e\.yaml: {block}: is a block of the workflow config"):
        load_config(path)
