"""An MCP login comes back through the same channels as an AI Actions one: the kernel's
loopback listener (at the prompt), a redirect URI picked where the login happens (a new
client registration for it), and a connection token set on a session that was logging in.
Over real sockets against the sandbox's MCP server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from zapier_nb import ConfigurationError, LoginError, MCPSession
from zapier_nb._terminal import prompt_oauth_login
from zapier_nb.sandbox import Sandbox

pytestmark = pytest.mark.usefixtures("secret_audit")


@pytest.fixture
def mcp(sandbox: Sandbox) -> Iterator[MCPSession]:
    with MCPSession(url=sandbox.mcp.url, timeout=10) as session:
        yield session


def _redirect_uri(consent_url: str) -> str:
    return parse_qs(urlsplit(consent_url).query)["redirect_uri"][0]


def test_at_the_prompt_the_loopback_listener_brings_the_answer_back_by_itself(
    mcp: MCPSession, sandbox: Sandbox
) -> None:
    said: list[str] = []
    asked = threading.Event()

    def approve_in_the_browser(prompt: str) -> str:
        # What a person does: open the printed address, approve; the browser then lands on
        # the listener. The prompt is interrupted once the listener has the answer.
        asked.set()
        consent = mcp.pending_login_url
        assert consent is not None
        landed = sandbox.mcp.approve(consent)
        assert urlsplit(landed).port not in (None, 80), "the listener's own port"
        page = httpx2.get(landed, timeout=10)
        assert page.status_code == 200
        code = parse_qs(urlsplit(landed).query)["code"][0]
        assert code not in page.text, "the listener's page never shows the code"
        time.sleep(10)  # a person still at the prompt
        raise AssertionError("the prompt was not closed by the listener")

    prompt_oauth_login(mcp, ask=approve_in_the_browser, say=said.append)
    assert asked.is_set()
    assert mcp.auth_method == "oauth"
    assert len(mcp.list_tools()) == 3
    assert "completes by itself" in said[0]
    assert sandbox.count("mcp_oauth:token:authorization_code") == 1


def test_another_redirect_uri_registers_anew_and_ends_the_earlier_attempt(
    mcp: MCPSession, sandbox: Sandbox
) -> None:
    first = mcp.begin_login()
    assert _redirect_uri(first) == mcp.redirect_uri
    chosen = "http://127.0.0.1:8888/zapier-nb/callback"
    second = mcp.begin_login(redirect_uri=chosen)
    assert _redirect_uri(second) == chosen
    assert mcp.redirect_uri == chosen
    assert sandbox.count("mcp_oauth:register") == 2
    stale = sandbox.mcp.approve(first)
    with pytest.raises(LoginError):
        mcp.complete_login(stale)
    mcp.complete_login(sandbox.mcp.approve(second))
    assert mcp.auth_method == "oauth"
    assert len(mcp.list_tools()) == 3


def test_a_connection_token_takes_over_from_a_login_in_progress(
    mcp: MCPSession, sandbox: Sandbox
) -> None:
    assert mcp.auth_method is None
    mcp.begin_login()
    assert mcp.pending_login_url is not None
    mcp.use_token(sandbox.mcp.token)
    assert mcp.auth_method == "token"
    assert mcp.pending_login_url is None
    assert len(mcp.list_tools()) == 3
    with pytest.raises(LoginError, match="connection token"):
        mcp.begin_login()


def test_an_empty_connection_token_is_refused_and_changes_nothing(mcp: MCPSession) -> None:
    with pytest.raises(ConfigurationError, match="empty"):
        mcp.use_token("   ")
    assert mcp.auth_method is None


def test_a_cached_login_from_another_redirect_uri_is_replaced_by_a_new_registration(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    with MCPSession(url=sandbox.mcp.url, token_cache=cache, timeout=10) as first:
        first.complete_login(sandbox.mcp.approve(first.begin_login()))
    sandbox.mcp.revoke_logins()  # the saved login stops working
    chosen = "http://127.0.0.1:8888/zapier-nb/callback"
    with MCPSession(url=sandbox.mcp.url, token_cache=cache, timeout=10) as second:
        consent = second.begin_login(redirect_uri=chosen)
        assert _redirect_uri(consent) == chosen
        assert sandbox.count("mcp_oauth:register") == 2
        second.complete_login(sandbox.mcp.approve(consent))
        assert len(second.list_tools()) == 3
    with MCPSession(url=sandbox.mcp.url, token_cache=cache, timeout=10) as third:
        assert third.auth_method == "oauth", "the new login is the one saved"
        assert len(third.list_tools()) == 3
