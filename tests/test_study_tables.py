"""The later experiments' tables through `jointdiff report`: the numbers of the files they name, pairs checked."""

from __future__ import annotations


from jointdiff.cli import main
from test_report import read_table, write_json


def accuracy_file(root, experiment, dataset, share, objective, raw, ema, labelled=14, images=1437):
    return write_json(root / experiment / "metrics" / "accuracy.json", {
        "experiment": experiment, "dataset": dataset, "step": 3000, "multi_label": False, "split": "test",
        "weights": {"raw": {"accuracy": raw, "n": 360}, "ema": {"accuracy": ema, "n": 360}},
        "labelled_data_share": share, "train_images": images, "train_labelled": labelled, "objective": objective})


def table(tmp_path, kind, inputs):
    out = tmp_path / "tables" / f"{kind}.csv"
    assert main(["report", "table", "--kind", kind, "--inputs", *map(str, inputs), "--out", str(out)]) == 0
    return read_table(out)


def test_semi_supervised_rows_pair_joint_and_classifier_only_per_share(tmp_path):
    files = [accuracy_file(tmp_path, "d1", "digits", 0.01, "joint", 0.31, 0.3011),
             accuracy_file(tmp_path, "d1c", "digits", 0.01, "classifier only", 0.2, 0.1944),
             accuracy_file(tmp_path, "d10", "digits", 0.1, "joint", 0.9, 0.8833, labelled=144)]
    rows = table(tmp_path, "semi_supervised", files).set_index("label share (%)")
    assert list(rows.index) == ["1.00", "10.00"]
    one, ten = rows.loc["1.00"], rows.loc["10.00"]
    assert (one["joint EMA (%)"], one["classifier only EMA (%)"], one["joint raw (%)"]) == ("30.11", "19.44", "31.00")
    assert one["joint - classifier only, EMA (pp)"] == "10.67" and one["labelled train images"] == "14 of 1437"
    assert one["joint experiment"] == "d1" and one["classifier only experiment"] == "d1c"
    assert ten["classifier only EMA (%)"] == "not run" and ten["joint - classifier only, EMA (pp)"] == "n/a"
    assert str(files[0]) in one["source"] and str(files[1]) in one["source"]
    header = (tmp_path / "tables" / "semi_supervised.md").read_text().splitlines()[0]
    assert "| joint raw (%) | joint EMA (%) | classifier only raw (%) | classifier only EMA (%) |" in header


def test_domain_adaptation_reads_the_same_files(tmp_path):
    files = [accuracy_file(tmp_path, "da", "DA_digits_inverted", 1.0, "joint", 0.5, 0.55, labelled=718),
             accuracy_file(tmp_path, "dac", "DA_digits_inverted", 1.0, "classifier only", 0.4, 0.45, labelled=718)]
    row = table(tmp_path, "domain_adaptation", files).iloc[0]
    assert (row["dataset"], row["joint EMA (%)"], row["classifier only EMA (%)"]) == ("DA_digits_inverted", "55.00",
                                                                                        "45.00")


def test_two_runs_of_one_role_are_refused(tmp_path, capsys):
    files = [accuracy_file(tmp_path, name, "digits", 0.01, "joint", 0.3, 0.3) for name in ("a", "b")]
    assert main(["report", "table", "--kind", "semi_supervised", "--inputs", *map(str, files), "--out",
                 str(tmp_path / "t.csv")]) == 2
    assert "two joint runs of the same dataset and label share" in capsys.readouterr().err


def score_file(root, experiment, kind, alpha, own, independent, guidance, clip=True):
    samples = f"{root}/{experiment}/samples/{kind}_ema_alpha{alpha:g}.npz"
    return write_json(root / experiment / "metrics" / f"{kind}_ema_alpha{alpha:g}.json", {
        "experiment": experiment, "weights": "ema", "alpha": alpha, "n": 100, "samples": samples,
        "sampler": {"guidance": guidance, "clip_x0": clip}, "own_head_target_accuracy": own,
        "independent_target_accuracy": independent, "own_judge": "the joint head at t = 0"}), samples


def fid_file(root, experiment, kind, alpha, samples, fid):
    return write_json(root / experiment / "metrics" / f"fid_{kind}_ema_alpha{alpha:g}.json", {
        "fid": fid, "precision": 0.5, "recall": 0.25, "smoke": True, "n_samples": 100, "samples": {"path": samples}})


def test_conditional_generation_pairs_each_score_with_the_fid_of_its_samples(tmp_path):
    joint, joint_samples = score_file(tmp_path, "demo", "guided", 10, 1.0, 0.51, "x0")
    classic, classic_samples = score_file(tmp_path, "plain", "classic", 1, 0.9, 0.6, "classifier")
    zero, _ = score_file(tmp_path, "plain", "classic", 0, 0.1, 0.12, "classifier")
    fids = [fid_file(tmp_path, "demo", "guided", 10, joint_samples, 120.5),
            fid_file(tmp_path, "plain", "classic", 1, classic_samples, 99.25)]
    rows = table(tmp_path, "conditional_generation", [classic, zero, joint, *fids])
    assert list(rows["guidance"]) == ["classic: noised classifier", "classic: noised classifier", "joint head: x0"]
    assert list(rows["alpha / scale"]) == ["0", "1", "10"]
    assert list(rows["FID"]) == ["not run", "99.25", "120.50"]
    assert list(rows["independent classifier (%)"]) == ["12.00", "60.00", "51.00"]
    assert rows.iloc[1]["precision"] == "0.500" and rows.iloc[1]["recall"] == "0.250"


def test_an_fid_file_without_its_score_is_refused(tmp_path, capsys):
    _, samples = score_file(tmp_path, "demo", "guided", 10, 1.0, 0.5, "x0")
    orphan = fid_file(tmp_path, "demo", "guided", 10, samples + ".other", 1.0)
    assert main(["report", "table", "--kind", "conditional_generation", "--inputs", str(orphan), "--out",
                 str(tmp_path / "t.csv")]) == 2
    assert "an FID file whose samples no score file among --inputs read" in capsys.readouterr().err
