"""pytest fixtures for code that uses zapier_nb: a sandbox of the AI Actions API.

Installed with the package (a ``pytest11`` entry point), so a project's tests can ask
for them without any import. The server starts once per test session, on a free
loopback port; each test gets it reset::

    def test_my_notebook_code(zapier_sandbox):
        session = zapier_nb.Session(api_key=zapier_sandbox.api_key,
                                    base_url=zapier_sandbox.base_url)
        assert session.check().email == "ada@example.com"

The same sandbox serves Zapier MCP too (with the ``mcp`` extra): ``zapier_sandbox.mcp.url``
and ``zapier_sandbox.mcp.token`` connect an ``MCPSession``, and
``zapier_sandbox.mcp.execution_count()`` counts the tool calls that ran.

The sandbox needs the ``sandbox`` extra (Starlette and uvicorn); it is imported only
when a test asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .sandbox import Sandbox

__all__ = ["zapier_sandbox", "zapier_sandbox_server"]


@pytest.fixture(scope="session")
def zapier_sandbox_server() -> Iterator[Sandbox]:
    """The sandbox server of the whole test session, as the last test left it."""
    try:
        from .sandbox import Sandbox
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        pytest.skip(
            f"the zapier_nb sandbox needs its extra: pip install 'zapier_nb[sandbox]' ({exc})"
        )
    with Sandbox() as server:
        yield server


@pytest.fixture
def zapier_sandbox(zapier_sandbox_server: Sandbox) -> Sandbox:
    """The session's sandbox with its grants, tokens, counters, faults and settings reset."""
    zapier_sandbox_server.reset()
    return zapier_sandbox_server
