"""Every Python block of README.md and docs/*.md runs, in order, in a fresh kernel.

Each page gets its own kernel, whose environment points at a sandbox as a reader's would
point at Zapier (`ZAPIER_BASE_URL`, `ZAPIER_API_KEY`, `ZAPIER_CLIENT_ID`,
`ZAPIER_REDIRECT_URI`). A block that cannot run there (it needs a person in a browser, or
is a configuration file) is marked by the HTML comment `<!-- not-run: why -->` on the line
before it; it must still be valid IPython.
"""

from __future__ import annotations

import ast
import os
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from IPython.core.inputtransformer2 import TransformerManager
from kernel_driver import KernelDriver

from zapier_nb.sandbox import Sandbox

REPO = Path(__file__).resolve().parent.parent
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[ \t]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
    re.M | re.S,
)
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(?P<reason>\S.*?)\s*-->")
# What IPython prints for a ZapierError once `%load_ext zapier_nb` has shortened them.
SHORT_ERROR = re.compile(r"^(?:\x1b\[[0-9;]*m)?\w+Error(?:\x1b\[[0-9;]*m)?: ", re.M)


@dataclass
class Block:
    page: str
    line: int
    code: str
    skip_reason: str | None

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def python_blocks(page: Path) -> list[Block]:
    text = page.read_text()
    blocks = []
    for match in FENCE.finditer(text):
        if match.group("lang") != "python":
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = NOT_RUN.search(before)
        indent = len(match.group("indent"))
        code = "\n".join(line[indent:] for line in match.group("body").splitlines())
        line = text.count("\n", 0, match.start()) + 1
        name = str(page.relative_to(REPO)) if page.is_relative_to(REPO) else page.name
        blocks.append(Block(name, line, code, marker.group("reason") if marker else None))
    return blocks


def as_python(code: str) -> str:
    """The block as IPython runs it: magics become calls, top-level `await` is allowed."""
    python = TransformerManager().transform_cell(code)
    compile(python, "<block>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    return python


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sb:
        yield sb


def kernel_env(sandbox: Sandbox, home: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("ZAPIER_", "JUPYTER", "IPYTHON"))
    }
    env.update(
        HOME=str(home),
        ZAPIER_BASE_URL=sandbox.base_url,
        ZAPIER_API_KEY=sandbox.api_key,
        ZAPIER_CLIENT_ID=sandbox.client_id,
        ZAPIER_REDIRECT_URI=sandbox.redirect_uri,
        **sandbox.mcp.settings(),
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    )
    return env


def test_the_pages_have_python_blocks_and_every_skipped_one_says_why() -> None:
    blocks = [block for page in PAGES for block in python_blocks(page)]
    assert len([b for b in blocks if b.page == "README.md" and b.skip_reason is None]) >= 4
    for block in blocks:
        as_python(block.code)  # even a block that is not run is valid IPython
    assert all(b.skip_reason is None or len(b.skip_reason) > 10 for b in blocks), (
        "a not-run marker must say why"
    )


def test_a_skipped_block_is_found_by_its_marker(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "Text\n\n```python\nx = 1\n```\n\n<!-- not-run: a real Zapier URL -->\n"
        "```python\nraise SystemExit\n```\n\n- item\n\n  ```python\n  y = 2\n  ```\n"
    )
    blocks = python_blocks(page)
    assert [(b.code, b.skip_reason) for b in blocks] == [
        ("x = 1", None),
        ("raise SystemExit", "a real Zapier URL"),
        ("y = 2", None),
    ]


RUNNABLE = [page for page in PAGES if any(b.skip_reason is None for b in python_blocks(page))]


@pytest.mark.parametrize("page", RUNNABLE, ids=lambda p: str(p.relative_to(REPO)))
def test_every_python_block_of_the_page_runs_in_a_fresh_kernel(
    page: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    blocks = [block for block in python_blocks(page) if block.skip_reason is None]
    (tmp_path / "home").mkdir()
    kernel = KernelDriver(kernel_env(sandbox, tmp_path / "home"))
    try:
        for block in blocks:
            reply = kernel.run(block.code, timeout=120)
            errors = [f"{e['ename']}: {e['evalue']}" for e in reply.errors]
            assert not errors, f"{block} failed: {errors}\n{block.code}"
            streams = reply.stdout + reply.stderr
            assert not SHORT_ERROR.search(streams), f"{block} failed: {streams}\n{block.code}"
    finally:
        kernel.close()
