"""Small things a newcomer sees: no glyph that common fonts lack, the callback page's answer
box tall enough for underscores, and tutorial 04 naming the HTTP library it uses."""

from __future__ import annotations

import json
import re
from pathlib import Path

from zapier_nb import Session
from zapier_nb._callback_page import PAGE
from zapier_nb.tutorial import Backend

REPO = Path(__file__).resolve().parent.parent


def test_the_tutorials_first_line_has_no_glyph_that_common_fonts_lack() -> None:
    base = "http://127.0.0.1:8765"
    session = Session(api_key="sbx_key_x", base_url=base)
    shown = Backend("sandbox", base, "already running", session)._repr_html_()
    assert "Using the local sandbox" in shown
    assert all(ord(character) < 0x2000 for character in shown), shown
    assert "&#9432;" not in shown


def test_the_callback_pages_answer_box_leaves_room_below_the_baseline() -> None:
    style = re.search(r"input\{([^}]*)\}", PAGE)
    assert style is not None
    line_height = re.search(r"font:\s*[\d.]+rem/([\d.]+)", style.group(1))
    assert line_height is not None, style.group(1)
    assert float(line_height.group(1)) >= 1.4, style.group(1)
    assert "box-sizing:border-box" in style.group(1)


def test_tutorial_04_names_httpx2() -> None:
    book = json.loads((REPO / "notebooks" / "04-calling-endpoints.ipynb").read_text())
    text = "\n".join("".join(cell["source"]) for cell in book["cells"])
    assert "httpx2" in text
    assert not re.search(r"`httpx(\.\w+)?`", text), "tutorial 04 says httpx for httpx2"
