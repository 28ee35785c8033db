"""`jointdiff probe`: linear probes of a frozen encoder per block and timestep, and their table and heat map."""

from __future__ import annotations

import json

from jointdiff.cli import main
from test_report import assert_figure, read_table


def test_probe_scores_every_block_at_every_timestep_and_the_report_shows_them(trained_model, digits_root, tmp_path):
    out = tmp_path / "probe_ema.json"
    assert main(["probe", "--model", str(trained_model), "--dataroot", str(digits_root), "--t-fractions", "0,0.5",
                 "--train-images", "300", "--out", str(out), "--device", "cpu"]) == 0
    probe = json.loads(out.read_text())
    blocks, accuracy = probe["blocks"], probe["probe_accuracy"]
    assert [b["name"] for b in blocks][-1] == "middle block" and len(blocks) == 7  # conv, 3 levels, 2 downs, middle
    assert probe["timesteps"] == [0, 50] and probe["n_train"] == 300 and probe["n_test"] == 360
    assert probe["numerics"] == {"device": "cpu", "tf32": False}
    assert len(accuracy) == 7 and all(len(row) == 2 and all(0 <= a <= 1 for a in row) for row in accuracy)
    assert accuracy[-1][0] > 0.5 and probe["objective"] == "joint"  # clean digits: far above chance (10%)

    rows = read_table(_report(tmp_path, "table", "probe", out, "csv"))
    assert list(rows["block"]) == [b["name"] for b in blocks]
    assert [float(v) for v in rows["t = 0.5 T (%)"]] == [round(100 * row[1], 2) for row in accuracy]
    assert_figure(_report(tmp_path, "figure", "probe", out, "png"))


def _report(tmp_path, what, kind, inputs, suffix):
    out = tmp_path / f"{kind}.{suffix}"
    assert main(["report", what, "--kind", kind, "--inputs", str(inputs), "--out", str(out)]) == 0
    return out


def test_bad_timesteps_fail_before_loading_the_model(tmp_path, capsys):
    assert main(["probe", "--model", str(tmp_path / "missing.pt"), "--dataroot", str(tmp_path), "--t-fractions",
                 "0,2", "--out", str(tmp_path / "p.json")]) == 2
    assert "--t-fractions must lie in [0, 1]" in capsys.readouterr().err
