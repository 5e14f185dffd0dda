"""The MCP connection token gets every protection the API key has: no repr, vars(), log,
error, traceback local or file shows it, and the token cache never receives it."""

from __future__ import annotations

import json
import os
import pprint
from pathlib import Path

import pytest
from helpers import assert_no_secrets
from test_secret_hygiene import locals_shown

from zapier_nb import (
    AuthenticationError,
    MCPSession,
    PermissionDeniedError,
    ServerError,
    ToolError,
    ZapierError,
)
from zapier_nb.sandbox import Sandbox

EMAIL = "gmail_send_email"

pytestmark = pytest.mark.usefixtures("secret_audit")


@pytest.fixture
def audit_roots(tmp_path: Path) -> list[Path]:
    return [tmp_path, Path(os.environ["ZAPIER_NB_CACHE_DIR"])]


def shown(value: object, depth: int = 2) -> list[str]:
    """What pprint of vars() shows, down `depth` levels of attributes."""
    texts = [repr(value), str(value)]
    if depth and hasattr(value, "__dict__"):
        texts.append(pprint.pformat(vars(value)))
        for inner in vars(value).values():
            texts += shown(inner, depth - 1)
    return texts


def test_no_output_repr_error_or_local_shows_the_token(
    sandbox: Sandbox, caught: list[BaseException]
) -> None:
    token = sandbox.mcp.token
    texts: list[str] = []
    with MCPSession(token=token, url=sandbox.mcp.url, timeout=1) as session:
        tools = session.list_tools()
        result = session.call_tool(EMAIL, {"to": "ada@example.com"})
        many = session.run_many(EMAIL, [{"to": "ada@example.com"}, {}], progress=False)
        texts += [repr(tools), tools._repr_html_(), repr(result), result._repr_html_()]
        texts += [repr(many), many._repr_html_()]
        texts += shown(session)
        failures: list[ZapierError] = []
        for fault in (
            {"status": 500},
            {"status": 502, "act_first": True},
            {"status": 403, "body": json.dumps({"detail": f"token {token} is disabled"})},
            {"delay": 1.5, "status": 0},
        ):
            sandbox.fail_next("mcp_call", **fault)  # type: ignore[arg-type]
            with pytest.raises(ZapierError) as info:
                session.call_tool(EMAIL, {"to": "ada@example.com"})
            failures.append(info.value)
        with pytest.raises(ToolError) as tool_error:
            session.call_tool(EMAIL, {})
        failures.append(tool_error.value)
        sandbox.mcp.revoke(token)
        with pytest.raises(AuthenticationError) as refused:
            session.call_tool(EMAIL, {"to": "ada@example.com"})
        failures.append(refused.value)
    assert [type(f).__name__ for f in failures] == [
        "ServerError",
        "ServerError",
        "PermissionDeniedError",
        "APITimeoutError",
        "ToolError",
        "AuthenticationError",
    ]
    echoed = failures[2]
    assert isinstance(echoed, PermissionDeniedError)
    assert "is disabled" in echoed.message
    for error in failures:
        texts += [str(error), repr(error), repr(error.args), locals_shown(error)]
        texts.append(repr(getattr(error, "body", None)))
    caught.extend(failures)
    leaks = [text for text in texts if token in text]
    assert not leaks, [
        line.replace(token, "<TOKEN>")
        for leak in leaks
        for line in leak.splitlines()
        if token in line
    ]
    assert_no_secrets(texts, sandbox)


def test_a_wrong_token_shows_in_no_traceback_local(sandbox: Sandbox) -> None:
    wrong = "sbx_mcp_a-wrong-token-typed-by-hand"
    with pytest.raises(AuthenticationError) as info:
        MCPSession(token=wrong, url=sandbox.mcp.url).list_tools()
    assert wrong not in locals_shown(info.value)
    assert wrong not in str(info.value)


def test_a_refused_url_shows_no_token_in_the_constructor_locals(sandbox: Sandbox) -> None:
    with pytest.raises(ZapierError) as info:
        MCPSession(token=sandbox.mcp.token, url="http://example.com/api/v1/connect")
    assert sandbox.mcp.token not in locals_shown(info.value)


def test_the_token_cache_never_receives_the_token(sandbox: Sandbox) -> None:
    cache = Path(os.environ["ZAPIER_NB_CACHE_DIR"])
    with MCPSession(token=sandbox.mcp.token, url=sandbox.mcp.url) as session:
        session.call_tool(EMAIL, {"to": "ada@example.com"})
    for path in cache.rglob("*"):
        if path.is_file():
            assert sandbox.mcp.token not in path.read_text(errors="replace")


def test_a_server_error_keeps_no_token_it_echoed(sandbox: Sandbox) -> None:
    token = sandbox.mcp.token
    with MCPSession(token=token, url=sandbox.mcp.url) as session:
        session.list_tools()
        sandbox.fail_next(
            "mcp_call", status=500, body=json.dumps({"detail": f"{token} broke", "token": token})
        )
        with pytest.raises(ServerError) as info:
            session.call_tool(EMAIL, {"to": "ada@example.com"})
    assert "broke" in info.value.message
    assert token not in repr(info.value.body)
    assert token not in info.value.message
