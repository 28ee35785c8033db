"""The probe heat map: linear-probe test accuracy of each encoder block (rows) at each timestep (columns), one panel
per probed model (a plain diffusion model beside the joint one), on one colour scale with the values written in."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from jointdiff import keys as K
from jointdiff.errors import UserError
from jointdiff.report.inputs import experiment_of, read_json

CELL_INCHES = 0.8


def probe_figure(inputs: Sequence[Path], title: str | None) -> Figure:
    required = (K.KEY_T_FRACTIONS, K.KEY_BLOCKS, K.KEY_PROBE_ACCURACY, K.KEY_OBJECTIVE)
    loaded = [(path, read_json(path, required)) for path in inputs]
    rows = max(len(data[K.KEY_BLOCKS]) for _, data in loaded)
    cols = max(len(data[K.KEY_T_FRACTIONS]) for _, data in loaded)
    fig = Figure(figsize=(len(loaded) * (2.5 + CELL_INCHES * cols), 1.2 + 0.45 * rows), layout="constrained")
    axes = fig.subplots(1, len(loaded), squeeze=False)[0]
    image = None
    for ax, (path, data) in zip(axes, loaded):
        values = 100 * np.asarray(data[K.KEY_PROBE_ACCURACY], dtype=float)
        if values.shape != (len(data[K.KEY_BLOCKS]), len(data[K.KEY_T_FRACTIONS])):
            raise UserError(f"{path}: key {K.KEY_PROBE_ACCURACY!r} should be blocks x t fractions")
        image = ax.imshow(values, vmin=0, vmax=100, cmap="viridis", aspect="auto")
        for (i, j), v in np.ndenumerate(values):
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7, color="white" if v < 60 else "black")
        ax.set_xticks(range(values.shape[1]), [f"{f:g}" for f in data[K.KEY_T_FRACTIONS]])
        ax.set_yticks(range(values.shape[0]), [f"{b['name']} ({b['resolution']}px, {b['channels']})"
                                               for b in data[K.KEY_BLOCKS]], fontsize=7)
        ax.set_xlabel("t / T")
        ax.set_title(f"{experiment_of(data, path)} ({data[K.KEY_OBJECTIVE]})", fontsize=9)
    fig.colorbar(image, ax=list(axes), label="probe test accuracy (%)")
    fig.suptitle(title or "linear probes of the encoder: accuracy per block and noise level")
    return fig
