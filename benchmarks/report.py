"""Rows of the results table, and their plain-text, Markdown and JSON forms."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

COLUMNS = ("measurement", "contender", "median", "baseline median", "ratio", "target", "met?")


@dataclass
class Row:
    """One line of the table: a contender's median against its baseline's."""

    section: str
    measurement: str
    contender: str
    median_s: float | None
    baseline: str
    baseline_median_s: float | None
    target: str
    met: bool | None
    median_text: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.median_s is None or not self.baseline_median_s:
            return None
        return self.median_s / self.baseline_median_s

    def cells(self) -> tuple[str, ...]:
        median = self.median_text or format_seconds(self.median_s)
        baseline = format_seconds(self.baseline_median_s)
        if self.baseline and self.baseline_median_s is not None:
            baseline = f"{baseline} ({self.baseline})"
        ratio = "-" if self.ratio is None else f"{self.ratio:.3f}x"
        met = "-" if self.met is None else ("yes" if self.met else "NO")
        return (self.measurement, self.contender, median, baseline, ratio, self.target, met)

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio"] = self.ratio
        return data


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    milliseconds = seconds * 1000
    if milliseconds < 10:
        return f"{milliseconds:.3f} ms"
    if milliseconds < 100:
        return f"{milliseconds:.2f} ms"
    return f"{milliseconds:.1f} ms"


def render_text(rows: Sequence[Row]) -> str:
    table = [COLUMNS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]

    def join(cells: Sequence[str]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True))

    lines = [join(COLUMNS).rstrip(), "  ".join("-" * width for width in widths)]
    lines += [join(cells).rstrip() for cells in table[1:]]
    return "\n".join(lines)


def render_markdown(rows: Sequence[Row]) -> str:
    def escape(cell: str) -> str:
        return cell.replace("|", "\\|")

    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(escape(cell) for cell in row.cells()) + " |" for row in rows]
    return "\n".join(lines)
