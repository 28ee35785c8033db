"""`jointdiff report`: every table and figure kind through the command line, on small realistic files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.text import Text
from PIL import Image

from conftest import REPO, run_torch_free
from jointdiff.cli import main
from jointdiff.errors import ConfigError
from jointdiff.report.figures import draw_figure
from jointdiff.report.table_kinds import TABLES, build_table

PAPER = REPO / "config" / "paper_results.yaml"


def write_json(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def accuracy_file(root: Path, experiment: str, raw: float, ema: float, top5: float | None = None) -> Path:
    def weights(acc: float) -> dict:
        return {"accuracy": acc, "n": 10000, "per_class": [acc] * 10, **({"top5_accuracy": top5} if top5 else {})}
    curve = [{"t": t, "t_fraction": t / 1000, "accuracy": ema - t / 2000} for t in (0, 250, 500, 999)]
    return write_json(root / experiment / "metrics" / "accuracy.json", {
        "experiment": experiment, "dataset": experiment.upper(), "split": "test", "multi_label": False,
        "step": 500000, "weights": {"raw": weights(raw), "ema": weights(ema)},
        "noise_curve": {"raw": curve, "ema": curve}, "model": f"results/{experiment}/model.pt"})


def fid_file(root: Path, experiment: str, protocol: str, weights: str, fid: float, smoke: bool, n: int) -> Path:
    """As `jointdiff fid` writes it: no experiment or weights field, both in the path."""
    return write_json(root / experiment / "metrics" / f"fid_{protocol}_{weights}.json", {
        "fid": fid, "precision": 0.61, "recall": 0.55, "f_score": 0.58, "kid_mean": 0.0123, "kid_std": 0.001,
        "protocol": protocol, "protocol_label": protocol, "smoke": smoke, "n_samples": n, "n_reference": 50000,
        "reference": {"dataset": "CIFAR10", "split": "train" if protocol == "standard" else "test"},
        "samples": {"path": f"results/{experiment}/samples/uncond_{weights}.npz"}})


def guided_file(root: Path, experiment: str, alpha: float, own: float, ref: float | None) -> Path:
    return write_json(root / experiment / "metrics" / f"guided_ema_alpha{alpha:g}.json", {
        "experiment": experiment, "weights": "ema", "alpha": alpha, "n": 100,
        "sampler": {"guidance": "representation", "head_t": "t"},
        "own_head_target_accuracy": own, "independent_target_accuracy": ref})


def images(n: int, size: int = 8, channels: int = 3, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, channels), dtype=np.uint8)


def read_table(csv: Path) -> pd.DataFrame:
    for suffix in (".md", ".tex"):
        assert csv.with_suffix(suffix).stat().st_size > 0
    return pd.read_csv(csv, dtype=str, keep_default_na=False)


def assert_figure(png: Path) -> None:
    with Image.open(png) as im:
        im.verify()
    with Image.open(png) as im:
        assert im.width > 0 and im.height > 0
    assert png.with_suffix(".pdf").read_bytes().startswith(b"%PDF")


# --- tables -----------------------------------------------------------------------------------------------------
def test_every_table_kind_has_a_builder_and_a_caption_and_the_registry_needs_no_pandas():
    for kind, table in TABLES.items():
        assert callable(table.builder_function()), kind
        assert (REPO / "report" / f"table_{kind}.rst").is_file(), kind
    code = "import sys, jointdiff.report.table_kinds; assert 'pandas' not in sys.modules, 'pandas was imported'"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_paper_and_experiments_go_only_to_the_tables_that_take_them():
    with pytest.raises(ConfigError, match="--kind fid needs --paper"):
        build_table("fid", [])
    with pytest.raises(ConfigError, match="--paper does not apply to --kind guidance"):
        build_table("guidance", [], paper=PAPER)
    with pytest.raises(ConfigError, match="--experiments applies to --kind accuracy only, not fid"):
        build_table("fid", [], experiments=["cifar10"], paper=PAPER)


def test_accuracy_table_holds_the_files_numbers_and_unknown_paper_values(tmp_path):
    a = accuracy_file(tmp_path, "cifar10", 0.91234, 0.93456, top5=0.995)
    b = accuracy_file(tmp_path, "digits_demo", 0.97, 0.98)
    out = tmp_path / "tables" / "accuracy.csv"
    assert main(["report", "table", "--kind", "accuracy", "--inputs", str(a), str(b),
                 "--experiments", "cifar10", "digits_demo", "--paper", str(PAPER), "--out", str(out)]) == 0
    table = read_table(out).set_index("experiment")
    assert table.loc["cifar10", "raw (%)"] == "91.23" and table.loc["cifar10", "EMA (%)"] == "93.46"
    assert table.loc["cifar10", "top-5 EMA (%)"] == "99.50" and table.loc["digits_demo", "top-5 EMA (%)"] == "n/a"
    assert (table["paper (%)"] == "unknown").all() and (table["EMA - paper (pp)"] == "unknown").all()
    assert table.loc["cifar10", "source"] == str(a) and table.loc["digits_demo", "source"] == str(b)
    assert table.loc["digits_demo", "paper source"] == "not listed in paper_results.yaml"


def test_accuracy_table_difference_with_a_known_paper_value(tmp_path):
    paper = tmp_path / "paper.yaml"  # a fixture value, not the paper's
    paper.write_text("paper:\n  cifar10: {accuracy: 90.0, fid: null, source: test fixture}\n")
    a = accuracy_file(tmp_path, "cifar10", 0.9, 0.925)
    out = tmp_path / "accuracy.csv"
    assert main(["report", "table", "--kind", "accuracy", "--inputs", str(a), "--paper", str(paper),
                 "--out", str(out)]) == 0
    row = read_table(out).iloc[0]
    assert (row["paper (%)"], row["EMA - paper (pp)"], row["paper source"]) == ("90.00", "2.50", "test fixture")
    assert "top-5 EMA (%)" not in row.index  # no file has top-5


def test_fid_table_labels_smoke_rows_and_reads_names_from_paths(tmp_path):
    std = fid_file(tmp_path, "cifar10", "standard", "ema", 12.3456, smoke=False, n=50000)
    smoke = fid_file(tmp_path, "cifar10", "paper", "raw", 80.5, smoke=True, n=1000)
    out = tmp_path / "fid.csv"
    assert main(["report", "table", "--kind", "fid", "--inputs", str(std), str(smoke), "--paper", str(PAPER),
                 "--out", str(out)]) == 0
    table = read_table(out)
    first, second = table.iloc[0], table.iloc[1]
    assert (first["experiment"], first["protocol"], first["weights"]) == ("cifar10", "standard", "ema")
    assert (first["FID"], first["precision"], first["KID"], first["smoke"]) == ("12.35", "0.610", "0.0123", "no")
    assert (first["reference"], first["paper FID"], first["source"]) == ("CIFAR10 train", "unknown", str(std))
    assert second["setting"] == "smoke test, raw weights, 1,000 samples" and second["smoke"] == "yes"
    assert second["weights"] == "raw" and second["reference"] == "CIFAR10 test"
    assert "smoke" in out.with_suffix(".md").read_text()


def test_fid_table_has_a_floor_row_of_real_images(tmp_path):
    std = fid_file(tmp_path, "cifar10", "standard", "ema", 12.3456, smoke=False, n=50000)
    data = json.loads(std.read_text()) | {"fid": 2.5, "floor": True, "n_samples": 10000,
                                          "samples": {"real": {"dataset": "CIFAR10", "split": "test"}}}
    floor = write_json(tmp_path / "floors" / "CIFAR10" / "fid_standard.json", data)
    out = tmp_path / "fid.csv"
    assert main(["report", "table", "--kind", "fid", "--inputs", str(std), str(floor), "--paper", str(PAPER),
                 "--out", str(out)]) == 0
    row = read_table(out).set_index("experiment").loc["real CIFAR10 test (floor)"]
    assert (row["FID"], row["weights"], row["n samples"], row["FID - paper"]) == ("2.50", "real", "10000",
                                                                                 "n/a")


def test_guidance_table_sorts_alphas_and_marks_missing_reference(tmp_path):
    files = [guided_file(tmp_path, "cifar10", a, own, ref)
             for a, own, ref in ((10, 0.9, 0.8), (0, 0.1, None), (1, 0.5, 0.45))]
    out = tmp_path / "guidance.csv"
    assert main(["report", "table", "--kind", "guidance", "--inputs", *map(str, files), "--out", str(out)]) == 0
    table = read_table(out)
    assert list(table["alpha"]) == ["0", "1", "10"]
    assert list(table["own head (%)"]) == ["10.00", "50.00", "90.00"]
    assert list(table["independent classifier (%)"]) == ["n/a", "45.00", "80.00"]
    assert set(table["guidance"]) == {"representation, head t = t"}
    assert list(table["source"]) == [str(files[1]), str(files[2]), str(files[0])]
    assert r"own head (\%)" in out.with_suffix(".tex").read_text()  # LaTeX-escaped


def latex_rows(tex: str) -> tuple[str, list[list[str]]]:
    """The column spec of a booktabs tabular and its rows split into cells."""
    spec = re.search(r"\\begin\{tabular\}\{([lr]+)\}", tex).group(1)
    rows = [line.removesuffix(r" \\").split(" & ") for line in tex.splitlines() if line.endswith(r" \\")]
    return spec, rows


def test_paper_facing_markdown_and_latex_fit_a_page_and_the_csv_keeps_the_provenance(tmp_path):
    paper = tmp_path / "paper.yaml"  # a fixture value, not the paper's
    paper.write_text("paper:\n  cifar10: {accuracy: 95.0, fid: 20.0, source: test fixture}\n")
    inputs = {"accuracy": [accuracy_file(tmp_path, "cifar10", 0.9, 0.925, top5=0.99)],
              "fid": [fid_file(tmp_path, "cifar10", "standard", "ema", 12.5, smoke=False, n=50000),
                      fid_file(tmp_path, "cifar10", "paper", "raw", 80.5, smoke=True, n=1000)],
              "guidance": [guided_file(tmp_path, "cifar10", a, 0.5, 0.4) for a in (0, 10)]}
    for kind, files in inputs.items():
        out = tmp_path / "tables" / f"{kind}.csv"
        argv = ["report", "table", "--kind", kind, "--inputs", *map(str, files), "--out", str(out)]
        assert main(argv + (["--paper", str(paper)] if kind != "guidance" else [])) == 0
        csv_columns = list(read_table(out).columns)
        assert "source" in csv_columns, kind
        spec, rows = latex_rows(out.with_suffix(".tex").read_text())
        header, body = rows[0], rows[1:]
        assert len(spec) <= 8 and all(len(row) == len(spec) for row in rows), (kind, spec, rows)
        assert header[0] == "experiment" and spec[0] == "l" and len(body) == len(files), kind
        assert "source" not in " ".join(header) and str(tmp_path) not in out.with_suffix(".tex").read_text(), kind
        md_header, md_rule = out.with_suffix(".md").read_text().splitlines()[:2]
        assert md_rule.count("---:") == spec.count("r") and len(md_header.split(" | ")) == len(spec), kind
    spec, (header, row) = latex_rows((tmp_path / "tables" / "accuracy.tex").read_text())
    cells = dict(zip(header, row))
    assert cells["EMA - paper (pp)"] == "$-$2.50" and cells[r"EMA (\%)"] == "92.50"
    assert cells["metric"] == "top-1 accuracy"
    assert spec == "llrrrrr"  # experiment, metric | raw, EMA, top-5 EMA, paper, difference
    spec, rows = latex_rows((tmp_path / "tables" / "fid.tex").read_text())
    assert spec == "llrrrrrr" and rows[1][1] == "standard protocol, EMA weights, 50,000 samples"
    assert rows[1][-1] == "$-$7.50"
    assert rows[2][-1] == "n/a"  # no difference for a smoke test


def test_missing_key_names_file_and_key(tmp_path, capsys):
    path = accuracy_file(tmp_path, "cifar10", 0.9, 0.9)
    data = json.loads(path.read_text())
    del data["weights"]["ema"]["accuracy"]
    write_json(path, data)
    out = tmp_path / "accuracy.csv"
    assert main(["report", "table", "--kind", "accuracy", "--inputs", str(path), "--paper", str(PAPER),
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "'weights.ema.accuracy'" in err
    assert not out.exists()


def test_mismatched_experiments_and_missing_log_are_user_errors(tmp_path, capsys):
    path = accuracy_file(tmp_path, "cifar10", 0.9, 0.9)
    assert main(["report", "table", "--kind", "accuracy", "--inputs", str(path), "--experiments", "svhn",
                 "--paper", str(PAPER), "--out", str(tmp_path / "a.csv")]) == 2
    missing = tmp_path / "svhn" / "train_log.jsonl"
    assert main(["report", "figure", "--kind", "training_curves", "--inputs", str(missing),
                 "--out", str(tmp_path / "c.png")]) == 2
    assert str(missing) in capsys.readouterr().err


# --- figures ----------------------------------------------------------------------------------------------------
def run_figure(tmp_path: Path, kind: str, inputs: list[Path], title: str | None = None) -> Path:
    out = tmp_path / "figures" / f"{kind}.png"
    argv = ["report", "figure", "--kind", kind, "--inputs", *map(str, inputs), "--out", str(out)]
    assert main(argv + (["--title", title] if title else [])) == 0
    assert_figure(out)
    # Figures go into papers: no text in them names a file, with or without a title.
    for given in (title, None):
        texts = [t.get_text() for t in draw_figure(kind, inputs, given).findobj(Text)]
        leaks = [t for t in texts if str(tmp_path) in t or any(p.name in t for p in inputs)]
        assert not leaks, leaks
    return out


def test_sample_grid_figure(tmp_path):
    path = tmp_path / "uncond_ema_n120.npz"
    np.savez(path, images=images(120), labels=np.full(120, -1), seeds=np.arange(120))
    run_figure(tmp_path, "samples", [path], "cifar10")


def test_figures_draw_without_importing_torch(tmp_path):
    """A figure job reads images and logs only; importing torch would cost each job seconds."""
    path = tmp_path / "uncond_ema_n12.npz"
    np.savez(path, images=images(12), labels=np.full(12, -1), seeds=np.arange(12))
    out = tmp_path / "samples.png"
    run_torch_free("from jointdiff.cli import main; "
                   f"assert main(['report', 'figure', '--kind', 'samples', '--inputs', {str(path)!r}, "
                   f"'--out', {str(out)!r}]) == 0")
    assert_figure(out)


def test_sample_grid_with_a_row_of_real_images_above(tmp_path):
    samples, real = tmp_path / "uncond_ema_n120.npz", tmp_path / "real_standard.npz"
    np.savez(samples, images=images(120), labels=np.full(120, -1), seeds=np.arange(120))
    np.savez(real, images=images(30, seed=2), labels=np.full(30, -1))
    alone = run_figure(tmp_path / "a", "samples", [samples], "cifar10")
    both = run_figure(tmp_path / "b", "samples", [samples, real], "cifar10")
    with Image.open(alone) as a, Image.open(both) as b:
        assert b.size[1] > a.size[1] * 1.05  # the real row adds height


def test_guided_figure_reads_alpha_from_field_or_name(tmp_path):
    labels = np.repeat(np.arange(3), 4)
    named = tmp_path / "guided_ema_alpha10.npz"
    np.savez(named, images=images(12, channels=1), labels=labels, seeds=np.arange(12))
    stored = tmp_path / "guided_ema.npz"
    np.savez(stored, images=images(12, channels=1, seed=1), labels=labels, seeds=np.arange(12), alpha=np.array(0.0))
    run_figure(tmp_path, "guided", [named, stored], "digits")


def test_guided_figure_without_alpha_names_file_and_key(tmp_path, capsys):
    path = tmp_path / "guided.npz"
    np.savez(path, images=images(4), labels=np.zeros(4, dtype=int))
    assert main(["report", "figure", "--kind", "guided", "--inputs", str(path), "--out", str(tmp_path / "g.png")]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and "'alpha'" in err


def test_counterfactual_figure_fits_a_page(tmp_path):
    path = tmp_path / "counterfactual_ema.npz"
    n = 10  # the demo's count; the figure shows the first 8 as 4 rows of 2 triplets
    labels = np.arange(n) % 10
    np.savez(path, originals=images(n), counterfactuals=images(n, seed=2), source_labels=labels,
             target_labels=(labels + 1) % 10, pred_original=labels, pred_counterfactual=(labels + 1) % 10,
             t_star=np.array(300), alpha=np.array(5.0))
    out = run_figure(tmp_path, "counterfactual", [path], "cifar10")
    with Image.open(out) as image:
        width, height = image.size
    assert height < width <= 9 * 150  # landscape, at most 9 inches wide at the writers' 150 dpi
    titles = [ax.get_title() for ax in draw_figure("counterfactual", [path], "cifar10").axes if ax.get_title()]
    assert titles.count("change") == 8 and "label 4, pred 4" in titles and "target 8, pred 8" in titles


def test_alpha_sweep_figure(tmp_path):
    files = [guided_file(tmp_path, e, a, 0.1 + a / 20, None if e == "svhn" else 0.1 + a / 25)
             for e in ("cifar10", "svhn") for a in (0, 1, 10)]
    run_figure(tmp_path, "alpha_sweep", files)


def test_training_curves_figure(tmp_path):
    logs = []
    for experiment, has_head in (("cifar10", True), ("uncond", False)):
        lines = [{"step": s, "loss": 1 / s, "loss_diffusion": 1 / s, "loss_classifier": 2 / s if has_head else 0.0,
                  **({"acc_raw": s / 500, "acc_ema": s / 400} if has_head and s % 100 == 0 else {})}
                 for s in (50, 100, 150, 200, 150, 200)]  # resumed: steps 150, 200 logged again
        lines.append({"step": 200, "final": True, "acc_raw_full": 0.5})
        path = tmp_path / experiment / "train_log.jsonl"
        path.parent.mkdir()
        path.write_text("\n".join(map(json.dumps, lines)) + "\n")
        logs.append(path)
    run_figure(tmp_path, "training_curves", logs)


def test_accuracy_vs_noise_figure(tmp_path):
    files = [accuracy_file(tmp_path, e, 0.8, 0.85) for e in ("cifar10", "svhn")]
    run_figure(tmp_path, "accuracy_vs_noise", files)

