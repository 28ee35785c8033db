"""`jointdiff experiments`: the experiments of this checkout, as a table and as JSON, without torch."""

from __future__ import annotations

import json

import yaml

from conftest import REPO, run_torch_free
from jointdiff.cli import main
from jointdiff.config import load_config

EXPERIMENTS = REPO / "config" / "experiments"


def test_json_lists_every_experiment_file_with_its_settings(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    assert main(["experiments", "--json"]) == 0
    listed = {e["name"]: e for e in json.loads(capsys.readouterr().out)}
    assert set(listed) == {p.stem for p in EXPERIMENTS.glob("*.yaml")}
    for name, entry in listed.items():
        path = EXPERIMENTS / f"{name}.yaml"
        cfg, data = load_config(path), yaml.safe_load(path.read_text())
        assert (entry["dataset"], entry["num_steps"]) == (cfg.dataset, cfg.num_steps), name
        assert entry["gpus"] == data["resources"]["gpus"] and entry["description"] == data["description"], name
    assert listed["cifar10"]["origin"] == "paper" and listed["cifar10"]["num_steps"] == 500_000
    assert listed["digits_demo"]["origin"] == listed["celeba"]["origin"] == "ours"
    assert listed["fashionmnist"]["dataset"] == "FashionMNIST" and listed["fashionmnist"]["gpus"] == 1


def test_table_has_one_aligned_line_per_experiment(tmp_path, capsys):
    (tmp_path / "mine.yaml").write_text("description: a test run\nsource: ours (a test)\ndataset: digits\n"
                                        "num_steps: 1234\nresources: {gpus: 2}\n")
    (tmp_path / "theirs.yaml").write_text("source: the authors' README\nflags: --dataset SVHN --num_steps 250000\n")
    assert main(["experiments", "--dir", str(tmp_path)]) == 0
    header, mine, theirs = capsys.readouterr().out.splitlines()
    assert header.split() == ["name", "dataset", "steps", "GPUs", "origin", "description"]
    assert mine.split() == ["mine", "digits", "1,234", "2", "ours", "a", "test", "run"]
    assert theirs.split() == ["theirs", "SVHN", "250,000", "0", "paper"]
    assert mine.index("1,234") + len("1,234") == theirs.index("250,000") + len("250,000")  # numbers right-aligned


def test_a_bad_file_or_directory_is_one_line_naming_it(tmp_path, capsys):
    (tmp_path / "broken.yaml").write_text("dataset: digits\nlr: -1\n")
    assert main(["experiments", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "experiment 'broken'" in err and "lr" in err
    assert main(["experiments", "--dir", str(tmp_path / "missing")]) == 2
    assert "--dir" in capsys.readouterr().err


def test_it_does_not_import_torch():
    proc = run_torch_free("from jointdiff.cli import main; main(['experiments'])")
    assert "cifar10" in proc.stdout
