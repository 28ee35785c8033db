"""Figures made of images: a grid of samples, guided samples (one panel per alpha, one row per target class),
and counterfactuals (original | counterfactual | change, with the classifier's predictions). Titles say what
is shown, never a file path: the figures go into papers."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from jointdiff.errors import ConfigError, UserError
from jointdiff.images import grid
from jointdiff import keys as K
from jointdiff.report.inputs import alpha_of, check_images, read_npz

log = logging.getLogger(__name__)

PER_CLASS = 10           # guided samples shown per class (one row)
MAX_CLASSES = 20         # rows per guided panel; more classes (CIFAR100) show the first ones
MAX_COUNTERFACTUALS = 8  # triplets in the counterfactual figure
COUNTERFACTUAL_ROWS = 4  # triplets above each other; more go into a further column
TRIPLET_PANEL_INCHES = 1.2
PANEL_INCHES = 3.0


def only_input(inputs: Sequence[Path], kind: str) -> Path:
    if len(inputs) != 1:
        raise ConfigError(f"--kind {kind} takes one --inputs file, got {len(inputs)}")
    return inputs[0]


def show(ax: Axes, image: np.ndarray) -> None:
    """An H x W x C uint8 image, grey when C = 1, without axes."""
    ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray", vmin=0, vmax=255,
              interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def grid_shape(n: int) -> tuple[int, int]:
    """(images shown, images per row): the first 100 (10 a row) or 64 (8 a row), else all in a square."""
    if n >= 100:
        return 100, 10
    if n >= 64:
        return 64, 8
    return n, int(np.ceil(np.sqrt(n)))


def figure_for(image: np.ndarray, panels: int, panel_inches: float = PANEL_INCHES,
               extra_inches: float = 0.6) -> Figure:
    """A figure for `panels` images of `image`'s aspect side by side, `panel_inches` wide each."""
    height = panel_inches * image.shape[0] / image.shape[1] + extra_inches
    return Figure(figsize=(panel_inches * panels, height), layout="constrained")


# ---------------------------------------------------------------------------------------------------------------
def samples_figure(inputs: Sequence[Path], title: str | None) -> Figure:
    """The first 64-100 samples of one archive as a grid; with a second archive of real images (the FID floor's),
    a row of real images above them, so the eye can compare."""
    if len(inputs) not in (1, 2):
        raise ConfigError(f"--kind samples takes a samples file and optionally real images, got {len(inputs)} files")
    images = [check_images(read_npz(p, (K.KEY_IMAGES,))[K.KEY_IMAGES], K.KEY_IMAGES, p) for p in inputs]
    count, per_row = grid_shape(len(images[0]))
    panels = [(grid(images[0][:count], per_row), f"{title or 'samples'}: first {count} of {len(images[0])}")]
    if len(images) == 2:
        panels.insert(0, (grid(images[1][:per_row], per_row), "real images"))
    heights = [image.shape[0] for image, _ in panels]
    fig = figure_for(np.concatenate([image for image, _ in panels]), 1, panel_inches=2 * PANEL_INCHES,
                     extra_inches=0.4 * len(panels))
    for ax, (image, label) in zip(fig.subplots(len(panels), 1, height_ratios=heights, squeeze=False)[:, 0], panels):
        show(ax, image)
        ax.set_title(label, fontsize=9)
    return fig


# ---------------------------------------------------------------------------------------------------------------
def class_rows(images: np.ndarray, labels: np.ndarray, path: Path) -> tuple[np.ndarray, list[int], int]:
    """One grid row of up to PER_CLASS images per target class; returns (grid, classes shown, classes in all)."""
    if labels.shape != (len(images),):
        raise UserError(f"{path}: key {K.KEY_LABELS!r} should hold one label per image, "
                        f"found shape {labels.shape} for {len(images)} images")
    classes = sorted(int(c) for c in np.unique(labels))
    shown = classes[:MAX_CLASSES]
    if len(shown) < len(classes):
        log.info("%s: showing the first %d of %d classes", path, len(shown), len(classes))
    per_row = min(PER_CLASS, max(int((labels == c).sum()) for c in shown))
    tiles = np.zeros((len(shown) * per_row, *images.shape[1:]), dtype=np.uint8)
    for row, cls in enumerate(shown):
        chosen = images[labels == cls][:per_row]
        tiles[row * per_row:row * per_row + len(chosen)] = chosen
    return grid(tiles, per_row), shown, len(classes)


def guided_figure(inputs: Sequence[Path], title: str | None) -> Figure:
    """One panel per alpha (ascending), one row per target class."""
    panels = []
    for path in inputs:
        arrays = read_npz(path, (K.KEY_IMAGES, K.KEY_LABELS))
        images = check_images(arrays[K.KEY_IMAGES], K.KEY_IMAGES, path)
        panels.append((alpha_of(arrays.get(K.KEY_ALPHA), path), images.shape[1],
                       *class_rows(images, arrays[K.KEY_LABELS], path)))
    panels.sort(key=lambda p: p[0])
    fig = figure_for(panels[0][2], len(panels), extra_inches=0.8)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    for ax, (alpha, height, image, classes, total) in zip(axes, panels):
        show(ax, image)
        ax.set_title(f"α = {alpha:g}" + (f" (first {len(classes)} of {total} classes)" if total > len(classes)
                                         else ""), fontsize=9)
        ax.set_yticks([2 + r * (height + 2) + height / 2 for r in range(len(classes))],
                      ["uncond." if c < 0 else str(c) for c in classes], fontsize=7)
    fig.suptitle(f"{title or 'guided samples'}: one row per target class", fontsize=10)
    return fig


# ---------------------------------------------------------------------------------------------------------------
def scalar(arrays: dict[str, np.ndarray], key: str) -> str:
    """A scalar field as text, "?" when the archive lacks it."""
    return f"{float(arrays[key].reshape(())):g}" if key in arrays and arrays[key].size == 1 else "?"


def counterfactual_layout(n: int) -> tuple[int, int]:
    """(rows, triplets side by side) for n counterfactuals: at most COUNTERFACTUAL_ROWS rows, so that the figure
    is wider than tall and fits a page (8 triplets: 4 rows of 2)."""
    columns = -(-n // COUNTERFACTUAL_ROWS)
    return -(-n // columns), columns


def counterfactual_figure(inputs: Sequence[Path], title: str | None) -> Figure:
    """Triplets of original | counterfactual | change, titled with the labels and the classifier's predictions,
    laid out in columns of triplets so that the figure fits a page."""
    path = only_input(inputs, "counterfactual")
    label_keys = (K.KEY_SOURCE_LABELS, K.KEY_TARGET_LABELS, K.KEY_PRED_ORIGINAL, K.KEY_PRED_COUNTERFACTUAL)
    arrays = read_npz(path, (K.KEY_ORIGINALS, K.KEY_COUNTERFACTUALS, *label_keys))
    originals = check_images(arrays[K.KEY_ORIGINALS], K.KEY_ORIGINALS, path)
    counterfactuals = check_images(arrays[K.KEY_COUNTERFACTUALS], K.KEY_COUNTERFACTUALS, path)
    if originals.shape != counterfactuals.shape:
        raise UserError(f"{path}: {K.KEY_ORIGINALS} {originals.shape} and {K.KEY_COUNTERFACTUALS} "
                        f"{counterfactuals.shape} differ in shape")
    for key in label_keys:
        if arrays[key].shape != (len(originals),):
            raise UserError(f"{path}: key {key!r} should hold one value per image, found shape {arrays[key].shape}")
    n = min(len(originals), MAX_COUNTERFACTUALS)

    # The change, averaged over channels, on a diverging scale centred on zero.
    change = (counterfactuals[:n].astype(np.float32) - originals[:n].astype(np.float32)).mean(axis=-1)
    limit = max(float(np.abs(change).max()), 1.0)

    rows, columns = counterfactual_layout(n)
    fig = Figure(figsize=(columns * 3.25 * TRIPLET_PANEL_INCHES + 0.8, rows * (TRIPLET_PANEL_INCHES + 0.25) + 0.5),
                 layout="constrained")
    # Each triplet is three panels; a narrow empty column keeps neighbouring triplets apart.
    ratios = ([1, 1, 1, 0.25] * columns)[:-1]
    axes = fig.subplots(rows, len(ratios), squeeze=False, gridspec_kw={"width_ratios": ratios})
    triplets = [axes[i % rows, 4 * (i // rows):4 * (i // rows) + 3] for i in range(rows * columns)]
    for ax in [*axes[:, 3::4].flat, *(ax for unused in triplets[n:] for ax in unused)]:
        ax.set_axis_off()
    src, tgt, pred, pred_cf = (arrays[k] for k in label_keys)
    for i, (original, counterfactual, difference) in enumerate(triplets[:n]):
        show(original, originals[i])
        original.set_title(f"label {src[i]}, pred {pred[i]}", fontsize=7)
        show(counterfactual, counterfactuals[i])
        counterfactual.set_title(f"target {tgt[i]}, pred {pred_cf[i]}", fontsize=7)
        diff_image = difference.imshow(change[i], cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        difference.set_title("change", fontsize=7)
        difference.set_xticks([])
        difference.set_yticks([])
    colorbar = fig.colorbar(diff_image, ax=axes, shrink=0.6)
    colorbar.set_label("counterfactual − original (0–255)", fontsize=8)
    fig.suptitle(f"{title or 'counterfactuals'}: original | counterfactual | change, first {n} of {len(originals)} "
                 f"(t* = {scalar(arrays, K.KEY_T_STAR)}, α = {scalar(arrays, K.KEY_ALPHA)})", fontsize=9)
    return fig
