"""The figure registry: each FIGURE_KINDS name drawn by a function `(inputs, title) -> Figure`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from matplotlib.figure import Figure

from jointdiff.report import FIGURE_KINDS
from jointdiff.report.curve_figures import accuracy_vs_noise_figure, alpha_sweep_figure, training_curves_figure
from jointdiff.report.image_figures import counterfactual_figure, guided_figure, samples_figure
from jointdiff.report.probe_figure import probe_figure

FIGURES: dict[str, Callable[[Sequence[Path], str | None], Figure]] = {
    "samples": samples_figure,
    "guided": guided_figure,
    "alpha_sweep": alpha_sweep_figure,
    "counterfactual": counterfactual_figure,
    "training_curves": training_curves_figure,
    "accuracy_vs_noise": accuracy_vs_noise_figure,
    "probe": probe_figure,
}
assert FIGURES.keys() == FIGURE_KINDS.keys(), "every figure kind the command line offers has a drawing function"


def draw_figure(kind: str, inputs: Sequence[Path], title: str | None = None) -> Figure:
    """The `kind` figure of `inputs`, titled `title` (or a default)."""
    return FIGURES[kind](inputs, title)
