"""What an MCP call shows in a notebook: text as text, JSON text as a table, structured
content as rows, images as images, long outputs capped with a count line."""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections.abc import Iterator

import pytest

from zapier_nb import MCPSession
from zapier_nb.sandbox import Sandbox

pytestmark = pytest.mark.usefixtures("secret_audit")


def tiny_png() -> bytes:
    """A 2x1 PNG, built by hand."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 2, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x4f\x00\x20\x15\x15")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.fixture
def mcp(sandbox: Sandbox) -> Iterator[MCPSession]:
    sandbox.mcp.add_tool("chart", description="A chart.", run=lambda args: tiny_png())
    sandbox.mcp.add_tool(
        "poem",
        description="Some text.",
        run=lambda args: "Roses are red,\n<b>violets</b> are blue.",
    )
    sandbox.mcp.add_tool("long_text", run=lambda args: "x" * 25_000)
    sandbox.mcp.add_tool(
        "orders",
        run=lambda args: [{"order_id": f"SO-{n}", "total": n * 1.5} for n in range(250)],
    )
    sandbox.mcp.add_tool("json_text", run=lambda args: json.dumps([{"a": 1, "b": "<i>2</i>"}]))
    with MCPSession(token=sandbox.mcp.token, url=sandbox.mcp.url) as session:
        yield session


def test_structured_content_becomes_rows_and_a_capped_table(mcp: MCPSession) -> None:
    result = mcp.call_tool("orders")
    assert len(result.records) == 250
    assert result.columns == ["order_id", "total"]
    page = result._repr_html_()
    assert page.count("<tr>") == 1 + 200  # the header and the capped rows
    assert "Showing 200 of 250 records; the object holds them all." in page
    text = repr(result)
    assert "Showing 30 of 250 records" in text
    frame = result.to_pandas()
    assert frame.shape == (250, 2)
    assert result.to_polars().shape == (250, 2)


def test_json_text_reads_as_a_table_with_its_values_escaped(mcp: MCPSession) -> None:
    result = mcp.call_tool("json_text")
    assert result.records == [{"a": 1, "b": "<i>2</i>"}]
    page = result._repr_html_()
    assert "&lt;i&gt;2&lt;/i&gt;" in page
    assert "<i>2</i>" not in page


def test_text_reads_as_text_escaped(mcp: MCPSession) -> None:
    result = mcp.call_tool("poem")
    assert result.records == []
    assert result.text == "Roses are red,\n<b>violets</b> are blue."
    assert "&lt;b&gt;violets" in result._repr_html_()
    assert repr(result).endswith("Roses are red,\n<b>violets</b> are blue.")


def test_long_text_is_cut_with_a_count_line_and_kept_whole(mcp: MCPSession) -> None:
    result = mcp.call_tool("long_text")
    assert len(result.text) == 25_000
    assert "Showing 10,000 of 25,000 characters" in result._repr_html_()
    assert "Showing 10,000 of 25,000 characters" in repr(result)
    assert len(repr(result)) < 10_200


def test_an_image_is_shown_as_an_image(mcp: MCPSession) -> None:
    result = mcp.call_tool("chart")
    [image] = result.images
    assert base64.b64decode(image.data) == tiny_png()
    assert '<img alt="image from chart" src="data:image/png;base64,' in result._repr_html_()
    assert f"[image: image/png, {len(tiny_png())} bytes]" in repr(result)


def test_the_tool_table_shows_name_title_description_and_required_arguments(
    mcp: MCPSession,
) -> None:
    tools = mcp.list_tools()
    page = tools._repr_html_()
    for header in ("name", "title", "description", "required arguments"):
        assert f">{header}</th>" in page
    assert "spreadsheet, lookup_column, lookup_value" in page
    frame = tools.to_pandas()
    assert list(frame.columns) == ["name", "title", "description", "required arguments"]
    assert len(frame) == 8


def test_a_run_many_table_shows_each_input_and_its_result(mcp: MCPSession) -> None:
    result = mcp.run_many("gmail_send_email", [{"to": "ada@example.com"}, {}])
    page = result._repr_html_()
    assert "2 inputs in" in page
    assert "Missing to" in page
    assert list(result.to_pandas()["status"]) == ["success", "error"]
