"""Tables as the toolkit shows them: escaped HTML for notebooks, plain text elsewhere.

Pure rendering, no IPython: the check and status tables, the AI Actions results and the
redirect advice all draw with these.
"""

from __future__ import annotations

import html
import json
from collections.abc import Collection, Sequence
from typing import Any

from ._redact import printable

__all__ = [
    "HTML_ROW_CAP",
    "TEXT_ROW_CAP",
    "cell_text",
    "html_grid",
    "pairs_html",
    "pairs_text",
    "text_grid",
]

HTML_ROW_CAP = 200
TEXT_ROW_CAP = 30
_TEXT_CELL = 48

_TABLE_STYLE = (
    "border-collapse:collapse;margin:4px 0;font-family:var(--jp-ui-font-family,sans-serif);"
    "font-size:13px"
)
_CELL = "padding:3px 10px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top"
_SCROLL = "max-height:420px;overflow:auto"


def cell_text(value: Any) -> str:
    """A value as a table cell: strings as they are, the rest as compact JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=str)
    except (TypeError, ValueError):
        return str(value)


def _clip(text: str, width: int = _TEXT_CELL) -> str:
    text = " ".join(printable(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def html_grid(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, caption: str, noun: str = "rows"
) -> str:
    """An escaped HTML table of at most `HTML_ROW_CAP` rows, in a scroll area when long."""
    shown = rows[:HTML_ROW_CAP]
    head = "".join(f'<th style="{_CELL}">{html.escape(h)}</th>' for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{html.escape(c)}</td>' for c in row) + "</tr>"
        for row in shown
    )
    table = (
        f'<table class="zapier-nb-table" style="{_TABLE_STYLE}">'
        f'<caption style="text-align:left;font-weight:bold">{html.escape(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )
    if len(rows) > 20:
        table = f'<div style="{_SCROLL}">{table}</div>'
    count = html.escape(_count_line(len(shown), len(rows), noun))
    return table + f'<p class="zapier-nb-count">{count}</p>'


def text_grid(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, caption: str, noun: str = "rows"
) -> str:
    """The same table as plain text, cells clipped, at most `TEXT_ROW_CAP` rows."""
    shown = [[_clip(c) for c in row] for row in rows[:TEXT_ROW_CAP]]
    heads = [_clip(h) for h in headers]
    widths = [max([len(h), *(len(row[i]) for row in shown)]) for i, h in enumerate(heads)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    out = [printable(caption), line(heads), "  ".join("-" * w for w in widths)]
    out += [line(row) for row in shown]
    out.append(_count_line(len(shown), len(rows), noun))
    return "\n".join(out)


def _count_line(shown: int, total: int, noun: str) -> str:
    if shown == total:
        return f"{total} {noun if total != 1 else noun.removesuffix('s')}."
    return f"Showing {shown} of {total} {noun}; the object holds them all."


def pairs_html(
    caption: str, pairs: Sequence[tuple[str, str]], *, code: Collection[str] = ()
) -> str:
    """A titled, escaped two-column table; the values of the labels in `code` as code."""

    def value(label: str, text: str) -> str:
        escaped = html.escape(text)
        return f"<code>{escaped}</code>" if label in code else escaped

    body = "".join(
        f'<tr><th style="{_CELL}">{html.escape(k)}</th><td style="{_CELL}">{value(k, v)}</td></tr>'
        for k, v in pairs
    )
    return (
        f'<table class="zapier-nb-table" style="{_TABLE_STYLE}">'
        f'<caption style="text-align:left;font-weight:bold">{html.escape(caption)}</caption>'
        f"<tbody>{body}</tbody></table>"
    )


def pairs_text(caption: str, pairs: Sequence[tuple[str, str]]) -> str:
    """The same two-column table as text, labels lined up."""
    width = max((len(k) for k, _ in pairs), default=0)
    caption = printable(caption)
    lines = [caption, "-" * max(len(caption), 1)]
    lines += [f"{k.ljust(width)}  {printable(v)}" for k, v in pairs]
    return "\n".join(lines)
