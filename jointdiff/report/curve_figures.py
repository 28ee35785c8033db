"""Line plots: target accuracy of guided samples against alpha, training curves against the step, and test
accuracy against the noise level. One colour per experiment; EMA weights solid, raw dashed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from jointdiff.errors import UserError
from jointdiff import keys as K
from jointdiff.report.inputs import experiment_of, get_number, read_json, read_jsonl

STYLE = {"ema": "-", "raw": "--"}


def colour(index: int) -> str:
    return f"C{index % 10}"


def finish(ax: Axes, xlabel: str, ylabel: str, *, log_y: bool = False) -> None:
    """Labels, grid and legend; an empty panel says so instead of showing blank axes."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    if not ax.lines:
        ax.text(0.5, 0.5, "not logged", transform=ax.transAxes, ha="center", va="center", color="grey")
        return
    if log_y and all(min(line.get_ydata()) > 0 for line in ax.lines):
        ax.set_yscale("log")
    ax.legend(fontsize=7)


# ---------------------------------------------------------------------------------------------------------------
def alpha_sweep_figure(inputs: Sequence[Path], title: str | None) -> Figure:
    """Target accuracy (own head solid, independent classifier dashed) against alpha, on a symlog axis (alpha 0
    included)."""
    points: dict[str, list[tuple[float, float, float | None]]] = {}
    required = (K.KEY_ALPHA, K.KEY_OWN_TARGET_ACCURACY)
    for path in inputs:
        data = read_json(path, required)
        points.setdefault(experiment_of(data, path), []).append((
            get_number(data, K.KEY_ALPHA, path), get_number(data, K.KEY_OWN_TARGET_ACCURACY, path),
            get_number(data, K.KEY_INDEPENDENT_TARGET_ACCURACY, path, optional=True)))
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    for i, (experiment, rows) in enumerate(points.items()):
        rows.sort()
        ax.plot([r[0] for r in rows], [100 * r[1] for r in rows], "-o", color=colour(i),
                label=f"{experiment}: own head")
        judged = [r for r in rows if r[2] is not None]
        if judged:
            ax.plot([r[0] for r in judged], [100 * r[2] for r in judged], "--s", color=colour(i),
                    label=f"{experiment}: independent classifier")
    alphas = sorted({r[0] for rows in points.values() for r in rows})
    ax.set_xscale("symlog", linthresh=min((a for a in alphas if a > 0), default=1.0))
    ax.set_xticks(alphas, [f"{a:g}" for a in alphas])
    finish(ax, "guidance scale α", "target-class accuracy (%)")
    ax.set_title(title or "classifier guidance: target accuracy against α")
    return fig


# ---------------------------------------------------------------------------------------------------------------
def logged(records: dict[float, dict[str, Any]], key: str, where: str) -> tuple[list[float], list[float]]:
    """(steps, values) of the records that hold `key`."""
    steps = [s for s in sorted(records) if records[s].get(key) is not None]
    return steps, [get_number(records[s], key, f"{where}, step {s:g}") for s in steps]


def read_training_log(path: Path) -> dict[float, dict[str, Any]]:
    """Step -> record, without the final summary line; a resumed run logs some steps again: the last wins."""
    records = {}
    for record in read_jsonl(path):
        if not record.get(K.LOG_FINAL):
            records[get_number(record, K.LOG_STEP, path)] = record
    if not any(r.get(K.LOG_DIFFUSION_LOSS) is not None for r in records.values()):
        raise UserError(f"{path}: missing key {K.LOG_DIFFUSION_LOSS!r} (no logged training step)")
    return records


def training_curves_figure(inputs: Sequence[Path], title: str | None) -> Figure:
    """Diffusion loss, classifier loss and validation accuracy (raw and EMA) against the step; the experiment
    is the log's directory name (results/<experiment>/train_log.jsonl)."""
    fig = Figure(figsize=(14, 4), layout="constrained")
    loss_ax, cls_ax, acc_ax = fig.subplots(1, 3)
    for i, path in enumerate(inputs):
        records, experiment = read_training_log(path), path.parent.name
        loss_ax.plot(*logged(records, K.LOG_DIFFUSION_LOSS, str(path)), color=colour(i), label=experiment)
        steps, values = logged(records, K.LOG_CLASSIFIER_LOSS, str(path))
        if any(values):  # a model without the joint head logs 0
            cls_ax.plot(steps, values, color=colour(i), label=experiment)
        for weights, key in K.LOG_ACCURACY.items():
            steps, values = logged(records, key, str(path))
            if steps:
                acc_ax.plot(steps, [100 * v for v in values], STYLE[weights], color=colour(i),
                            label=f"{experiment} {weights}")
    finish(loss_ax, "step", "diffusion loss", log_y=True)
    finish(cls_ax, "step", "classifier loss", log_y=True)
    finish(acc_ax, "step", "validation accuracy (%)")
    fig.suptitle(title or "training curves")
    return fig


# ---------------------------------------------------------------------------------------------------------------
def noise_curve(data: dict[str, Any], weights: str, path: Path) -> tuple[list[float], list[float]]:
    """(t/T, accuracy %) of one weights' noise curve."""
    where = f"{path}, {K.KEY_NOISE_CURVE}.{weights}"
    curve = data[K.KEY_NOISE_CURVE][weights]
    if not isinstance(curve, list) or not curve:
        raise UserError(f"{where}: expected a non-empty list of {{t, {K.KEY_T_FRACTION}, {K.KEY_ACCURACY}}} points")
    points = sorted((get_number(p, K.KEY_T_FRACTION, where), get_number(p, K.KEY_ACCURACY, where)) for p in curve)
    return [p[0] for p in points], [100 * p[1] for p in points]


def accuracy_vs_noise_figure(inputs: Sequence[Path], title: str | None) -> Figure:
    """Test accuracy against t/T, raw and EMA weights, one colour per experiment."""
    required = tuple(f"{K.KEY_NOISE_CURVE}.{w}" for w in K.REPORT_WEIGHTS)
    fig = Figure(figsize=(6, 4), layout="constrained")
    ax = fig.add_subplot()
    for i, path in enumerate(inputs):
        data = read_json(path, required)
        experiment = experiment_of(data, path)
        head = {"zero": ", head fed t = 0", "t": ", head fed t"}.get(data.get(K.KEY_HEAD_T), "")
        for weights in K.REPORT_WEIGHTS:
            ax.plot(*noise_curve(data, weights, path), STYLE[weights], marker="o", markersize=3, color=colour(i),
                    label=f"{experiment} {weights}{head}")
    finish(ax, "noise level t / T", "test accuracy (%)")
    ax.set_title(title or "accuracy of the joint head on noised test images")
    return fig
