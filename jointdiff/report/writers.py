"""Writing a table (CSV, Markdown, LaTeX) or a figure (PNG, PDF) beside each other, each file atomically.

Tables arrive as frames of already formatted text, so the three files show the same characters. The CSV gets
every column, provenance included; Markdown and LaTeX get the paper-facing columns, numbers right-aligned.
They are written here (a few lines each) rather than by pandas, whose writers need tabulate and Jinja2.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from jointdiff.atomic import atomic_write, atomic_write_text

if TYPE_CHECKING:  # tables need not import matplotlib, figures need not import pandas
    import pandas as pd
    from matplotlib.figure import Figure

    from jointdiff.report.table_format import ReportTable

log = logging.getLogger(__name__)

FIGURE_DPI = 150
LATEX_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def markdown(frame: pd.DataFrame, right: list[bool]) -> str:
    """A GitHub-flavoured Markdown table of a frame of strings, `right` columns right-aligned."""
    def row(cells) -> str:
        return "| " + " | ".join(str(c).replace("|", r"\|") for c in cells) + " |"
    rule = "|" + "|".join("---:" if r else "---" for r in right) + "|"
    return "\n".join([row(frame.columns), rule] + [row(r) for r in frame.itertuples(index=False)]) + "\n"


def latex_escape(text: str) -> str:
    return "".join(LATEX_SPECIALS.get(ch, ch) for ch in str(text))


def latex_number(text: str) -> str:
    """A number cell: a typeset minus sign instead of a hyphen."""
    return "$-$" + latex_escape(text[1:]) if text.startswith("-") else latex_escape(text)


def latex(frame: pd.DataFrame, right: list[bool]) -> str:
    """A booktabs `tabular` of a frame of strings, `right` columns right-aligned (needs \\usepackage{booktabs})."""
    def row(cells, numbers: list[bool]) -> str:
        return " & ".join(latex_number(c) if n else latex_escape(c) for c, n in zip(cells, numbers)) + r" \\"
    lines = [r"\begin{tabular}{" + "".join("r" if r else "l" for r in right) + "}", r"\toprule",
             row(frame.columns, [False] * len(right)), r"\midrule"]
    lines += [row(r, right) for r in frame.itertuples(index=False)]
    return "\n".join(lines + [r"\bottomrule", r"\end{tabular}"]) + "\n"


def write_table(table: ReportTable, out: Path) -> list[Path]:
    """`out` (.csv, every column) and the .md and .tex beside it (the paper-facing columns); returns the paths."""
    paper, right = table.paper_view(), table.right_aligned()
    texts = (table.rows.to_csv(index=False), markdown(paper, right), latex(paper, right))
    paths = [out.with_suffix(".csv"), out.with_suffix(".md"), out.with_suffix(".tex")]
    for path, text in zip(paths, texts):
        atomic_write_text(path, text)
        log.info("wrote %s (%d rows)", path, len(table.rows))
    return paths


def save_figure(fig: Figure, out: Path) -> list[Path]:
    """`out` (.png, FIGURE_DPI) and the .pdf beside it; returns both paths."""
    paths = [out.with_suffix(".png"), out.with_suffix(".pdf")]
    for path in paths:
        atomic_write(path, lambda f, fmt=path.suffix[1:]: fig.savefig(f, format=fmt, dpi=FIGURE_DPI))
        log.info("wrote %s", path)
    return paths
