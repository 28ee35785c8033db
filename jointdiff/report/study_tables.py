"""The tables of the paper's later experiments: semi-supervised and domain-adaptation accuracy (the joint model beside
the classifier-only baseline trained on the same labels), conditional generation (the joint model's guidance beside
classic guidance by a noised classifier), and the linear probes of frozen encoders. One row per group of metric
files, every cell formatted text from a file the row names.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from jointdiff import keys as K
from jointdiff.errors import UserError
from jointdiff.report.inputs import experiment_of, get_number, read_json
from jointdiff.report.table_format import MAX_PAPER_COLUMNS, NA, ReportTable, fixed, percent

NOT_RUN = "not run"
PROBE_PAPER_COLUMNS = ("experiment", "model", "block")  # then one per timestep, as many as fit
OBJECTIVES = ("joint", "classifier only")


# ---------------------------------------------------------------------------------------------------------------
def report_table(rows: list[dict[str, str]], paper_columns: Sequence[str]) -> ReportTable:
    """The rows (every column goes to the CSV) with the paper-facing columns among them."""
    frame = pd.DataFrame(rows)
    return ReportTable(frame, tuple(c for c in paper_columns if c in frame.columns))


def joint_vs_classifier_only_table(inputs: Sequence[Path]) -> ReportTable:
    """Test accuracy of the joint model and of the classifier-only baseline trained on the same labels: one row per
    (dataset, label share), from accuracy.json files (semi-supervised runs; domain adaptation, whose test split is
    the target domain's)."""
    required = (K.KEY_DATASET, K.KEY_OBJECTIVE, K.KEY_LABELLED_SHARE, K.KEY_TRAIN_IMAGES, K.KEY_TRAIN_LABELLED,
                f"{K.KEY_WEIGHTS}.ema.{K.KEY_N}", *(f"{K.KEY_WEIGHTS}.{w}.{K.KEY_ACCURACY}" for w in K.REPORT_WEIGHTS))
    groups: dict[tuple[str, float], dict[str, tuple[Path, dict[str, Any]]]] = {}
    for path in inputs:
        data = read_json(path, required)
        objective = str(data[K.KEY_OBJECTIVE])
        if objective not in OBJECTIVES:
            raise UserError(f"{path}: key {K.KEY_OBJECTIVE!r} should be one of {', '.join(OBJECTIVES)}")
        group = groups.setdefault((str(data[K.KEY_DATASET]), get_number(data, K.KEY_LABELLED_SHARE, path)), {})
        if objective in group:
            raise UserError(f"{path} and {group[objective][0]}: two {objective} runs of the same dataset and label "
                            "share; give one of each")
        group[objective] = (path, data)
    rows = []
    for (dataset, share), runs in sorted(groups.items()):
        some = next(iter(runs.values()))[1]
        acc = {(o, w): get_number(runs[o][1], f"{K.KEY_WEIGHTS}.{w}.{K.KEY_ACCURACY}", runs[o][0]) if o in runs
               else None for o in OBJECTIVES for w in K.REPORT_WEIGHTS}
        both = all(acc[(o, "ema")] is not None for o in OBJECTIVES)
        rows.append({
            "dataset": dataset,
            "label share (%)": fixed(100 * share, 2),
            "labelled train images": f"{some[K.KEY_TRAIN_LABELLED]} of {some[K.KEY_TRAIN_IMAGES]}",
            "test images": str(some[K.KEY_WEIGHTS]["ema"][K.KEY_N]),
            **{f"{o} {w.upper() if w == 'ema' else w} (%)": percent(acc[(o, w)], NOT_RUN)
               for o in OBJECTIVES for w in ("ema", "raw")},
            "joint - classifier only, EMA (pp)": fixed(100 * (acc[("joint", "ema")] - acc[("classifier only", "ema")])
                                                       if both else None, 2),
            **{f"{o} experiment": str(runs[o][1].get(K.KEY_EXPERIMENT) or experiment_of(runs[o][1], runs[o][0]))
               if o in runs else NOT_RUN for o in OBJECTIVES},
            "source": "; ".join(str(runs[o][0]) for o in OBJECTIVES if o in runs),
        })
    # Raw beside EMA: the authors evaluated raw weights, and a label-scarce head's two differ by tens of points.
    return report_table(rows, ("dataset", "label share (%)", "test images", "joint raw (%)", "joint EMA (%)",
                               "classifier only raw (%)", "classifier only EMA (%)",
                               "joint - classifier only, EMA (pp)"))


# ---------------------------------------------------------------------------------------------------------------
GUIDANCE_LABELS = {"classifier": "classic: noised classifier"}


def conditional_generation_table(inputs: Sequence[Path]) -> ReportTable:
    """Guided samples per experiment, guidance method and α / scale: target accuracy by the classifier that guided
    them and by the independent classifier, with the FID, precision and recall of the same samples. The inputs
    are score files (`jointdiff score`) and FID files (`jointdiff fid`), paired by the samples file they read."""
    scores, fids = [], {}
    for path in inputs:
        data = read_json(path)
        if K.KEY_FID in data:
            fids[str(get_key_path(data, path))] = (path, data)
        else:
            read_json(path, (K.KEY_ALPHA, K.KEY_N, K.KEY_OWN_TARGET_ACCURACY, K.KEY_SAMPLES, K.KEY_SAMPLER))
            scores.append((path, data))
    order: dict[str, int] = {}
    rows = []
    for path, data in scores:
        experiment = experiment_of(data, path)
        method = str(data[K.KEY_SAMPLER].get("guidance", "representation"))
        alpha = get_number(data, K.KEY_ALPHA, path)
        fid_path, fid = fids.pop(str(data[K.KEY_SAMPLES]), (None, {}))
        rows.append(((order.setdefault(experiment, len(order)), method, alpha), {
            "experiment": experiment,
            "guidance": GUIDANCE_LABELS.get(method, f"joint head: {method}"),
            "weights": str(data.get(K.KEY_WEIGHTS)),
            "alpha / scale": f"{alpha:g}",
            "x0 clipped": "yes" if data[K.KEY_SAMPLER].get("clip_x0") else "no",
            "n": str(data[K.KEY_N]),
            "own classifier (%)": percent(get_number(data, K.KEY_OWN_TARGET_ACCURACY, path)),
            "independent classifier (%)": percent(
                get_number(data, K.KEY_INDEPENDENT_TARGET_ACCURACY, path, optional=True)),
            "FID": fixed(get_number(fid, K.KEY_FID, fid_path, optional=True), 2, NOT_RUN),
            "precision": fixed(get_number(fid, K.KEY_PRECISION, fid_path, optional=True), 3),
            "recall": fixed(get_number(fid, K.KEY_RECALL, fid_path, optional=True), 3),
            "FID smoke": NA if fid_path is None else ("yes" if fid.get(K.KEY_SMOKE) else "no"),
            "own judge": str(data.get(K.KEY_OWN_JUDGE, "the joint head at t = 0")),
            "source": str(path) + ("" if fid_path is None else f"; {fid_path}"),
        }))
    if fids:
        raise UserError(f"{next(iter(fids.values()))[0]}: an FID file whose samples no score file among --inputs read")
    rows.sort(key=lambda r: r[0])
    return report_table([row for _, row in rows], ("experiment", "guidance", "alpha / scale", "own classifier (%)",
                                                   "independent classifier (%)", "FID", "precision", "recall"))


def get_key_path(data: dict[str, Any], path: Path) -> str:
    """The samples file an FID file measured."""
    samples = data.get(K.KEY_SAMPLES)
    if not isinstance(samples, dict) or not samples.get("path"):
        raise UserError(f"{path}: missing key '{K.KEY_SAMPLES}.path' (the samples it measured)")
    return str(samples["path"])


# ---------------------------------------------------------------------------------------------------------------
def probe_table(inputs: Sequence[Path]) -> ReportTable:
    """Linear-probe test accuracy per experiment and encoder block, one column per timestep t / T."""
    required = (K.KEY_OBJECTIVE, K.KEY_T_FRACTIONS, K.KEY_BLOCKS, K.KEY_PROBE_ACCURACY, K.KEY_WEIGHTS,
                K.KEY_N_TRAIN)
    loaded = [(path, read_json(path, required)) for path in inputs]
    for path, data in loaded:
        if not all(isinstance(f, int | float) for f in data[K.KEY_T_FRACTIONS]):
            raise UserError(f"{path}: key {K.KEY_T_FRACTIONS!r} should be a list of numbers")
    fractions = sorted({float(f) for _, data in loaded for f in data[K.KEY_T_FRACTIONS]})
    rows = []
    for path, data in loaded:
        accuracy, blocks = data[K.KEY_PROBE_ACCURACY], data[K.KEY_BLOCKS]
        if len(accuracy) != len(blocks) or any(len(row) != len(data[K.KEY_T_FRACTIONS]) for row in accuracy):
            raise UserError(f"{path}: key {K.KEY_PROBE_ACCURACY!r} should hold one row per block and one value per "
                            f"t fraction")
        for block, values in zip(blocks, accuracy):
            by_t = dict(zip(data[K.KEY_T_FRACTIONS], values))
            rows.append({
                "experiment": experiment_of(data, path),
                "model": str(data[K.KEY_OBJECTIVE]),
                "weights": str(data[K.KEY_WEIGHTS]),
                "block": str(block["name"]),
                "resolution": str(block["resolution"]),
                "channels": str(block["channels"]),
                **{f"t = {f:g} T (%)": percent(by_t.get(f)) for f in fractions},
                "train images": str(data[K.KEY_N_TRAIN]),
                "source": str(path),
            })
    timesteps = [f"t = {f:g} T (%)" for f in fractions][:MAX_PAPER_COLUMNS - len(PROBE_PAPER_COLUMNS)]
    return report_table(rows, (*PROBE_PAPER_COLUMNS, *timesteps))

