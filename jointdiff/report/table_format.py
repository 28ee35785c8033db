"""A report table as formatted text, and the cell formats every table builder shares.

A table has two faces: `rows` holds every column (the CSV), `paper_columns` the paper-facing ones (Markdown and
LaTeX), at most MAX_PAPER_COLUMNS of them so that the .tex fits a page.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

UNKNOWN = "unknown"   # the paper's value is not known
NA = "n/a"            # this row has no such value
MAX_PAPER_COLUMNS = 8  # what fits the width of a page in a paper


@dataclass(frozen=True)
class ReportTable:
    """A table as formatted text: `rows` has every column (the CSV), `paper_columns` the paper-facing ones."""

    rows: pd.DataFrame
    paper_columns: tuple[str, ...]

    def __post_init__(self) -> None:
        assert len(self.paper_columns) <= MAX_PAPER_COLUMNS, self.paper_columns
        assert set(self.paper_columns) <= set(self.rows.columns), (self.paper_columns, list(self.rows.columns))

    def paper_view(self) -> pd.DataFrame:
        return self.rows[list(self.paper_columns)]

    def right_aligned(self) -> list[bool]:
        """Per paper column: True when every cell is a number (or unknown / n/a), to be right-aligned."""
        def is_number(cell: str) -> bool:
            try:
                float(cell)
            except ValueError:
                return cell in (UNKNOWN, NA)
            return True
        return [all(map(is_number, self.rows[column])) for column in self.paper_columns]


def fixed(value: float | None, digits: int, missing: str = NA) -> str:
    return missing if value is None else f"{value:.{digits}f}"


def percent(fraction: float | None, missing: str = NA) -> str:
    return fixed(None if fraction is None else 100 * fraction, 2, missing)
