"""Writing a table (CSV, Markdown, LaTeX) or a figure (PNG, PDF) beside each other, each file atomically.

Tables arrive as frames of already formatted text, so the three files show the same characters. Markdown and
LaTeX are written here (a few lines each) rather than by pandas, whose writers need tabulate and Jinja2.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from jointdiff.atomic import atomic_write, atomic_write_text

if TYPE_CHECKING:  # tables need not import matplotlib, figures need not import pandas
    import pandas as pd
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

FIGURE_DPI = 150
LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def markdown(frame: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of a frame of strings."""
    def row(cells) -> str:
        return "| " + " | ".join(str(c).replace("|", r"\|") for c in cells) + " |"
    lines = [row(frame.columns), "|" + "|".join("---" for _ in frame.columns) + "|"]
    return "\n".join(lines + [row(r) for r in frame.itertuples(index=False)]) + "\n"


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in str(text))


def latex(frame: pd.DataFrame) -> str:
    """A booktabs `tabular` of a frame of strings (needs \\usepackage{booktabs})."""
    def row(cells) -> str:
        return " & ".join(latex_escape(c) for c in cells) + r" \\"
    lines = [r"\begin{tabular}{" + "l" * len(frame.columns) + "}", r"\toprule", row(frame.columns), r"\midrule"]
    lines += [row(r) for r in frame.itertuples(index=False)]
    return "\n".join(lines + [r"\bottomrule", r"\end{tabular}"]) + "\n"


def write_table(frame: pd.DataFrame, out: Path) -> list[Path]:
    """`out` (.csv) and the .md and .tex beside it; returns the three paths."""
    paths = [out.with_suffix(".csv"), out.with_suffix(".md"), out.with_suffix(".tex")]
    for path, text in zip(paths, (frame.to_csv(index=False), markdown(frame), latex(frame))):
        atomic_write_text(path, text)
        log.info("wrote %s (%d rows)", path, len(frame))
    return paths


def save_figure(fig: Figure, out: Path) -> list[Path]:
    """`out` (.png, FIGURE_DPI) and the .pdf beside it; returns both paths."""
    paths = [out.with_suffix(".png"), out.with_suffix(".pdf")]
    for path in paths:
        atomic_write(path, lambda f, fmt=path.suffix[1:]: fig.savefig(f, format=fmt, dpi=FIGURE_DPI))
        log.info("wrote %s", path)
    return paths
