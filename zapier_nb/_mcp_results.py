"""What the MCP calls return, as tables and text that read well in a notebook.

`ToolResult`: text content as text, JSON text as a table, structured content as rows,
images as images. Long text is cut, and long tables capped, with a line that says how much
is shown; the objects keep everything. Built from the SDK's objects by attribute, so this
module never imports the SDK.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ._results import RunOutcome, record_columns, to_frame
from ._tables import cell_text, html_grid, text_grid

__all__ = [
    "ContentBlock",
    "ToolInfo",
    "ToolList",
    "ToolResult",
    "ToolRunResult",
    "ToolRunRow",
    "ToolRunStatus",
]

TEXT_CAP = 10_000  # characters of text shown; the object keeps all of it
ToolRunStatus = Literal["success", "error", "unknown", "not_run"]


def _records_of(value: Any) -> list[dict[str, Any]] | None:
    """Rows from a JSON-like value: a list of objects, an object holding one, or one object."""
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return [dict(v) for v in value]
    if isinstance(value, list) and not value:
        return []
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(value) == 1 and lists:
            inner = _records_of(lists[0])
            if inner is not None:
                return inner
        if len(value) == 1 and "result" in value:  # the SDK's wrapping of a bare value
            inner = _records_of(value["result"])
            return inner if inner is not None else [dict(value)]
        return [dict(value)]
    return None


def _cut(text: str) -> tuple[str, str]:
    """The text to show and, when cut, the line saying so."""
    if len(text) <= TEXT_CAP:
        return text, ""
    return text[
        :TEXT_CAP
    ], f"Showing {TEXT_CAP:,} of {len(text):,} characters; .text holds them all."


# -- tools -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolInfo:
    """One tool an MCP server offers: what `tools/list` says of it."""

    name: str
    title: str | None
    description: str
    input_schema: dict[str, Any] = field(repr=False)
    output_schema: dict[str, Any] | None = field(default=None, repr=False)

    @classmethod
    def from_sdk(cls, tool: Any) -> ToolInfo:
        annotations = getattr(tool, "annotations", None)
        title = getattr(tool, "title", None) or getattr(annotations, "title", None)
        return cls(
            name=tool.name,
            title=title,
            description=(tool.description or "").strip(),
            input_schema=dict(tool.input_schema or {}),
            output_schema=dict(tool.output_schema) if tool.output_schema else None,
        )

    @property
    def arguments(self) -> list[str]:
        """Every argument the tool takes, in the schema's order."""
        return list((self.input_schema.get("properties") or {}).keys())

    @property
    def required(self) -> list[str]:
        """The arguments it cannot run without."""
        return [str(name) for name in self.input_schema.get("required") or []]


_TOOL_HEADERS = ("name", "title", "description", "required arguments")


def _tool_cells(tool: ToolInfo) -> list[str]:
    return [tool.name, tool.title or "", tool.description, ", ".join(tool.required)]


class ToolList(list[ToolInfo]):
    """The tools an MCP server offers (a list), shown as a table."""

    def __init__(self, tools: Iterable[ToolInfo], *, server: str = "") -> None:
        super().__init__(tools)
        self.server = server

    @property
    def names(self) -> list[str]:
        return [tool.name for tool in self]

    def get(self, name: str) -> ToolInfo | None:
        return next((tool for tool in self if tool.name == name), None)

    def _caption(self) -> str:
        return f"Zapier MCP: {len(self)} tool{'s' if len(self) != 1 else ''}"

    def _repr_html_(self) -> str:
        rows = [_tool_cells(tool) for tool in self]
        return html_grid(_TOOL_HEADERS, rows, caption=self._caption(), noun="tools")

    def __repr__(self) -> str:
        rows = [_tool_cells(tool) for tool in self]
        return text_grid(_TOOL_HEADERS, rows, caption=self._caption(), noun="tools")

    __str__ = __repr__

    def records(self) -> list[dict[str, Any]]:
        return [
            {
                "name": t.name,
                "title": t.title,
                "description": t.description,
                "required arguments": t.required,
            }
            for t in self
        ]

    def to_pandas(self) -> Any:
        """A pandas DataFrame with the table's columns."""
        return to_frame("pandas", self.records(), list(_TOOL_HEADERS))

    def to_polars(self) -> Any:
        """A polars DataFrame with the table's columns."""
        return to_frame("polars", self.records(), list(_TOOL_HEADERS))


# -- one call --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContentBlock:
    """One piece of a tool's answer: `kind` is text, image, audio, resource or link."""

    kind: str
    text: str = ""
    data: str = field(default="", repr=False)  # base64, for images and audio
    mime_type: str = ""
    uri: str = ""

    @classmethod
    def from_sdk(cls, block: Any) -> ContentBlock:
        kind = getattr(block, "type", "")
        if kind == "text":
            return cls("text", text=block.text)
        if kind in ("image", "audio"):
            return cls(kind, data=block.data, mime_type=block.mime_type)
        if kind == "resource_link":
            return cls("link", text=block.name or "", uri=str(block.uri))
        if kind == "resource":
            inner = block.resource
            text = getattr(inner, "text", None)
            mime = getattr(inner, "mime_type", None) or ""
            if text is not None:
                return cls("text", text=text, mime_type=mime, uri=str(inner.uri))
            return cls(
                "resource", data=getattr(inner, "blob", ""), mime_type=mime, uri=str(inner.uri)
            )
        return cls(kind or "unknown", text=str(block))

    @property
    def size(self) -> int:
        """Bytes of binary data (images, audio, blobs)."""
        try:
            return len(base64.b64decode(self.data, validate=False))
        except ValueError:
            return 0


class ToolResult:
    """What a tool answered: `content` blocks, `structured` content, and views of them.

    `records` are rows: from the structured content, else from JSON text. `text` is the
    text content joined. Empty `records` with text: the answer is shown as text.
    """

    def __init__(self, tool: str, content: Sequence[ContentBlock], structured: Any = None) -> None:
        self.tool = tool
        self.content = list(content)
        self.structured = structured

    @classmethod
    def from_sdk(cls, tool: str, result: Any) -> ToolResult:
        blocks = [ContentBlock.from_sdk(block) for block in result.content or []]
        return cls(tool, blocks, result.structured_content)

    @property
    def text(self) -> str:
        return "\n".join(block.text for block in self.content if block.kind == "text")

    @property
    def images(self) -> list[ContentBlock]:
        return [block for block in self.content if block.kind == "image"]

    def _json_text(self) -> Any:
        texts = [block.text for block in self.content if block.kind == "text"]
        if len(texts) != 1:
            return None
        try:
            return json.loads(texts[0])
        except ValueError:
            return None

    @property
    def records(self) -> list[dict[str, Any]]:
        if self.structured is not None:
            rows = _records_of(self.structured)
            if rows is not None:
                return rows
        rows = _records_of(self._json_text())
        return rows or []

    @property
    def tabular(self) -> bool:
        """Whether the answer reads as a table (structured content, or JSON text of objects)."""
        if self.structured is not None and _records_of(self.structured) is not None:
            return True
        return _records_of(self._json_text()) is not None

    @property
    def columns(self) -> list[str]:
        return record_columns(self.records)

    def _caption(self) -> str:
        return f"Zapier MCP: {self.tool}"

    def _grid(self) -> tuple[list[str], list[list[str]]]:
        columns = self.columns
        return columns, [[cell_text(r.get(c)) for c in columns] for r in self.records]

    def _repr_html_(self) -> str:
        parts = [
            f'<div class="zapier-nb-mcp-result"><strong>{html.escape(self._caption())}</strong>'
        ]
        if self.tabular and not self.records:
            parts.append("<p>No records.</p>")
        elif self.tabular:
            headers, rows = self._grid()
            parts.append(html_grid(headers, rows, caption="results", noun="records"))
        for block in self.content:
            if block.kind == "text" and not self.tabular:
                shown, note = _cut(block.text)
                parts.append(f'<pre style="white-space:pre-wrap">{html.escape(shown)}</pre>')
                if note:
                    parts.append(f'<p class="zapier-nb-count">{html.escape(note)}</p>')
            elif block.kind == "image" and block.mime_type.startswith("image/"):
                mime = html.escape(block.mime_type, quote=True)
                data = html.escape(block.data, quote=True)
                parts.append(f'<img alt="image from {html.escape(self.tool, quote=True)}" '
                             f'src="data:{mime};base64,{data}">')  # fmt: skip
            elif block.kind == "link" and block.uri.startswith(("https://", "http://")):
                uri = html.escape(block.uri, quote=True)
                label = html.escape(block.text or block.uri)
                parts.append(f'<p><a href="{uri}" target="_blank" rel="noopener">{label}</a></p>')
            elif block.kind not in ("text",):
                parts.append(f"<p>{html.escape(_describe(block))}</p>")
        parts.append("</div>")
        return "".join(parts)

    def __repr__(self) -> str:
        lines = [self._caption()]
        if self.tabular and not self.records:
            lines.append("No records.")
        elif self.tabular:
            headers, rows = self._grid()
            lines.append(text_grid(headers, rows, caption="results", noun="records"))
        for block in self.content:
            if block.kind == "text" and not self.tabular:
                shown, note = _cut(block.text)
                lines += [shown, note] if note else [shown]
            elif block.kind != "text":
                lines.append(_describe(block))
        return "\n".join(lines)

    __str__ = __repr__

    def to_pandas(self) -> Any:
        """The records as a pandas DataFrame."""
        return to_frame("pandas", self.records, self.columns)

    def to_polars(self) -> Any:
        """The records as a polars DataFrame."""
        return to_frame("polars", self.records, self.columns)


def _describe(block: ContentBlock) -> str:
    if block.kind == "link":
        return f"[link: {block.text or block.uri} {block.uri}]"
    return f"[{block.kind}: {block.mime_type or 'unknown type'}, {block.size:,} bytes]"


# -- many calls ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolRunRow:
    """One input of `MCPSession.run_many` and what became of it.

    `status`: `success`, `error` (the tool reported an error, or the call was refused),
    `unknown` (the answer was lost after the call was sent: the tool may have run), or
    `not_run`.
    """

    index: int
    arguments: dict[str, Any]
    status: ToolRunStatus
    error: str | None = None
    result: ToolResult | None = None

    @property
    def records(self) -> list[dict[str, Any]]:
        return self.result.records if self.result is not None else []


_RUN_HEADERS = ("input", "arguments", "status", "error", "result")


def _result_cell(row: ToolRunRow) -> str:
    if row.result is None:
        return ""
    records = row.result.records
    if records:
        first = cell_text(records[0])
        return first if len(records) == 1 else f"{len(records)} records: {first}, …"
    return row.result.text


class ToolRunResult(RunOutcome[ToolRunRow]):
    """One row per input of MCP's `run_many`, in input order."""

    _headers = _RUN_HEADERS

    def __init__(
        self,
        rows: Sequence[ToolRunRow],
        *,
        tool: str,
        interrupted: bool = False,
        stopped_by: str | None = None,
        seconds: float = 0.0,
    ) -> None:
        super().__init__(rows, interrupted=interrupted, stopped_by=stopped_by, seconds=seconds)
        self.tool = tool

    def _grid(self) -> list[list[str]]:
        return [
            [str(r.index), cell_text(r.arguments), r.status, r.error or "", _result_cell(r)]
            for r in self.rows
        ]

    def _caption(self) -> str:
        return f"Zapier MCP: {self.tool}, called {len(self.rows)} times"

    def _frame_data(self, records: bool) -> tuple[list[dict[str, Any]], list[str]]:
        if records:
            rows = [{"input": r.index, **record} for r in self.rows for record in r.records]
            return rows, ["input", *[c for c in record_columns(rows) if c != "input"]]
        rows = [
            {
                "input": r.index,
                "arguments": r.arguments,
                "status": r.status,
                "error": r.error,
                "result": r.records
                if r.result is not None and r.result.tabular
                else (r.result.text if r.result is not None else None),
            }
            for r in self.rows
        ]
        return rows, list(_RUN_HEADERS)
