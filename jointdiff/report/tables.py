"""The report's tables: one row per metric file, every cell formatted text taken from a file the row names.

Each table has two faces. Its CSV holds every column, provenance included: the metric file of each row and the
source of the paper's number. Its Markdown and LaTeX are the paper-facing table: at most MAX_PAPER_COLUMNS
columns (experiment, what was measured, ours, the paper's, the difference), numbers right-aligned, so that the
.tex can be pasted into a paper as it is. Metric files appear as their paths were given (the workflow gives
relative ones), the paper's numbers by their file's name: no table depends on where it was made.

The paper's numbers come from config/paper_results.yaml; a value it leaves empty (or an experiment it does not
list) shows as "unknown", and so does any difference with it. A value a row cannot have shows as "n/a".
Accuracies are percentages with 2 decimals; differences are ours minus the paper's.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from jointdiff.errors import ConfigError
from jointdiff import keys as K
from jointdiff.report.inputs import experiment_of, get_number, read_json, read_paper, weights_of_fid
from jointdiff.report.table_format import NA, UNKNOWN, ReportTable, fixed, percent

WEIGHTS_NAMES = {"ema": "EMA weights", "raw": "raw weights", "real": "real images (the floor)"}


def paper_value(paper: dict[str, dict[str, Any]], experiment: str, metric: str,
                paper_path: Path) -> tuple[float | None, str]:
    """The paper's `metric` for `experiment` (None: unknown) and where the number comes from: the entry's source,
    else the file's name (not its directory, which depends on where the workflow runs)."""
    entry = paper.get(experiment)
    if entry is None:
        return None, f"not listed in {paper_path.name}"
    value = entry.get(metric)
    return (None if value is None else float(value)), str(entry.get(K.PAPER_SOURCE, paper_path.name))


def difference(ours: float, theirs: float | None, digits: int) -> str:
    return UNKNOWN if theirs is None else fixed(ours - theirs, digits)


# ---------------------------------------------------------------------------------------------------------------
def accuracy_table(inputs: Sequence[Path], experiments: Sequence[str] | None, paper_path: Path) -> ReportTable:
    """Test accuracy per experiment, raw and EMA weights (top-5 where present), against the paper's."""
    if experiments is not None and len(experiments) != len(inputs):
        raise ConfigError(f"--experiments names {len(experiments)} experiments for {len(inputs)} --inputs; "
                          "give one name per file, in the same order")
    paper = read_paper(paper_path)
    required = (K.KEY_EXPERIMENT, K.KEY_DATASET, K.KEY_STEP, K.KEY_MULTI_LABEL, f"{K.KEY_WEIGHTS}.ema.{K.KEY_N}",
                *(f"{K.KEY_WEIGHTS}.{w}.{K.KEY_ACCURACY}" for w in K.REPORT_WEIGHTS))
    rows = []
    for i, path in enumerate(inputs):
        data = read_json(path, required)
        experiment = str(data[K.KEY_EXPERIMENT])
        if experiments is not None and experiments[i] != experiment:
            raise ConfigError(f"{path}: holds experiment {experiment!r}, but --experiments gives "
                              f"{experiments[i]!r} in its place")
        acc = {w: get_number(data, f"{K.KEY_WEIGHTS}.{w}.{K.KEY_ACCURACY}", path) for w in K.REPORT_WEIGHTS}
        top5 = {w: get_number(data[K.KEY_WEIGHTS][w], K.KEY_TOP5, path, optional=True) for w in K.REPORT_WEIGHTS}
        theirs, paper_source = paper_value(paper, experiment, K.PAPER_ACCURACY, paper_path)
        rows.append({
            "experiment": experiment,
            "dataset": str(data[K.KEY_DATASET]),
            "step": str(data[K.KEY_STEP]),
            "metric": "mean attribute accuracy" if data[K.KEY_MULTI_LABEL] else "top-1 accuracy",
            "raw (%)": percent(acc["raw"]),
            "EMA (%)": percent(acc["ema"]),
            "top-5 raw (%)": percent(top5["raw"]),
            "top-5 EMA (%)": percent(top5["ema"]),
            "n test": str(data[K.KEY_WEIGHTS]["ema"][K.KEY_N]),
            "paper (%)": fixed(theirs, 2, UNKNOWN),
            "EMA - paper (pp)": difference(100 * acc["ema"], theirs, 2),
            "paper source": paper_source,
            "source": str(path),
        })
    frame = pd.DataFrame(rows)
    top5 = ["top-5 raw (%)", "top-5 EMA (%)"]
    has_top5 = not (frame[top5] == NA).all().all()
    paper = ("experiment", "metric", "raw (%)", "EMA (%)", *(["top-5 EMA (%)"] if has_top5 else []), "paper (%)",
             "EMA - paper (pp)")
    return ReportTable(frame if has_top5 else frame.drop(columns=top5), paper)


# ---------------------------------------------------------------------------------------------------------------
def fid_setting(data: dict[str, Any], weights: str) -> str:
    """What the FID row measured, with smoke-test rows marked so that nobody quotes them."""
    mode = "smoke test" if data[K.KEY_SMOKE] else f"{data[K.KEY_PROTOCOL]} protocol"
    return f"{mode}, {WEIGHTS_NAMES[weights]}, {int(data[K.KEY_N_SAMPLES]):,} samples"


def fid_table(inputs: Sequence[Path], paper_path: Path) -> ReportTable:
    """FID, precision, recall and KID per metric file, against the paper's FID (not for smoke tests), with the floor
    rows — real held-out images scored the same way — that say what a good FID is for that dataset and protocol."""
    paper = read_paper(paper_path)
    reference = f"{K.KEY_REFERENCE}.{{}}"
    required = (K.KEY_FID, K.KEY_PROTOCOL, K.KEY_SMOKE, K.KEY_N_SAMPLES,
                reference.format(K.KEY_REFERENCE_DATASET), reference.format(K.KEY_REFERENCE_SPLIT))
    rows = []
    for path in inputs:
        data = read_json(path, required)
        floor = bool(data.get(K.KEY_FLOOR))
        ours = get_number(data, K.KEY_FID, path)
        if floor:
            real = data[K.KEY_SAMPLES]["real"]
            experiment, theirs, paper_source = f"real {real['dataset']} {real['split']} (floor)", None, NA
        else:
            experiment = experiment_of(data, path)
            theirs, paper_source = paper_value(paper, experiment, K.PAPER_FID, paper_path)
        smoke = bool(data[K.KEY_SMOKE])
        weights = "real" if floor else weights_of_fid(data, path)
        rows.append({
            "experiment": experiment,
            "protocol": str(data[K.KEY_PROTOCOL]),
            "weights": weights,
            "n samples": str(data[K.KEY_N_SAMPLES]),
            "reference": " ".join(str(data[K.KEY_REFERENCE][k]) for k in (K.KEY_REFERENCE_DATASET,
                                                                           K.KEY_REFERENCE_SPLIT)),
            "smoke": "yes" if smoke else "no",
            "setting": fid_setting(data, weights),
            "FID": fixed(ours, 2),
            "precision": fixed(get_number(data, K.KEY_PRECISION, path, optional=True), 3),
            "recall": fixed(get_number(data, K.KEY_RECALL, path, optional=True), 3),
            "KID": fixed(get_number(data, K.KEY_KID_MEAN, path, optional=True), 4),
            "paper FID": fixed(theirs, 2, UNKNOWN),
            "FID - paper": NA if smoke or floor else difference(ours, theirs, 2),
            "paper source": paper_source,
            "source": str(path),
        })
    return ReportTable(pd.DataFrame(rows), ("experiment", "setting", "FID", "precision", "recall", "KID", "paper FID",
                                            "FID - paper"))


# ---------------------------------------------------------------------------------------------------------------
def guidance_table(inputs: Sequence[Path]) -> ReportTable:
    """Target-class accuracy of guided samples per experiment and alpha by two judges: the model's own head, which
    the guidance optimised, and the independent classifier, which never saw a sample (the own head alone can be
    fooled: adversarial samples). The guidance column names the method and the timestep its head read."""
    required = (K.KEY_WEIGHTS, K.KEY_ALPHA, K.KEY_N, K.KEY_OWN_TARGET_ACCURACY)
    order: dict[str, int] = {}   # experiments in the order given, alphas ascending within each
    rows = []
    for path in inputs:
        data = read_json(path, required)
        experiment = experiment_of(data, path)
        alpha = get_number(data, K.KEY_ALPHA, path)
        rows.append((order.setdefault(experiment, len(order)), alpha, {
            "experiment": experiment,
            "weights": str(data[K.KEY_WEIGHTS]),
            "guidance": guidance_label(data.get(K.KEY_SAMPLER) or {}),
            "alpha": f"{alpha:g}",
            "n": str(data[K.KEY_N]),
            "own head (%)": percent(get_number(data, K.KEY_OWN_TARGET_ACCURACY, path)),
            "independent classifier (%)": percent(
                get_number(data, K.KEY_INDEPENDENT_TARGET_ACCURACY, path, optional=True)),
            "source": str(path),
        }))
    rows.sort(key=lambda r: r[:2])
    return ReportTable(pd.DataFrame([row for _, _, row in rows]), ("experiment", "weights", "guidance", "alpha",
                                                                   "n", "own head (%)", "independent classifier (%)"))


def guidance_label(settings: dict[str, Any]) -> str:
    """The guidance method of a guided-samples file, with the head's timestep where the method reads it."""
    method = settings.get("guidance")
    if method is None:
        return UNKNOWN
    return method if method == "x0" else f"{method}, head t = {settings.get('head_t', UNKNOWN)}"
