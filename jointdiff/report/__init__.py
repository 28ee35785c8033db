"""Tables and figures from the metric and sample files; every number and image traceable to its file.

- `keys.py`: the key names of every input format, in one place.
- `inputs.py`: reading those files, each checked for the keys it needs (a UserError names file and key).
- `table_kinds.py`: the table registry (kind, description, builder, metric files, experiments, paper column),
  which the command line and the workflow read.
- `tables.py`: the accuracy, FID and guidance tables as formatted text: every column for the CSV, at most eight
  paper-facing ones for Markdown and LaTeX; `study_tables.py` those of the later experiments (semi-supervised,
  domain adaptation, conditional generation, probes); `table_format.py` the table type and the cell formats.
- `writers.py`: a table as CSV + Markdown + LaTeX, a figure as PNG + PDF, each written atomically.
- `figures.py`: the figure registry; `image_figures.py` (sample grids, counterfactuals) and
  `curve_figures.py` (alpha sweep, training curves, accuracy against noise) and `probe_figure.py` draw them.

The figure kinds below are what `jointdiff report figure` offers; they live here so the command line lists them
without importing matplotlib.
"""

FIGURE_KINDS = {
    "samples": "a grid of the first 64-100 samples of one .npz",
    "guided": "one panel per alpha, one row per target class",
    "alpha_sweep": "target accuracy of guided samples against alpha",
    "counterfactual": "original | counterfactual | difference, with the classifier's predictions",
    "training_curves": "losses and validation accuracy against the training step",
    "accuracy_vs_noise": "test accuracy against the noise level t/T",
    "probe": "heat map of linear-probe accuracy, encoder block x timestep, one panel per model",
}
