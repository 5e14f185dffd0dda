"""The MCP authorization flow, offline: the sandbox's metadata, registration, consent page and
token endpoint, driven by the SDK's OAuthClientProvider through MCPSession, with the consent
approved over HTTP as a person's browser would."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest

from zapier_nb import ConsentDeniedError, LoginRequiredError, MCPSession, StateMismatchError
from zapier_nb.sandbox import Sandbox

EMAIL = "gmail_send_email"

pytestmark = pytest.mark.usefixtures("secret_audit")


@pytest.fixture
def mcp(sandbox: Sandbox) -> Iterator[MCPSession]:
    with MCPSession(url=sandbox.mcp.url, timeout=10) as session:
        yield session


def test_the_sandbox_serves_the_discovery_documents(sandbox: Sandbox) -> None:
    refused = httpx2.post(sandbox.mcp.url, json={})
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert "/.well-known/oauth-protected-resource/api/v1/connect" in challenge
    resource = httpx2.get(sandbox.base_url + "/.well-known/oauth-protected-resource/api/v1/connect")
    assert resource.json()["resource"] == sandbox.mcp.url
    assert resource.json()["authorization_servers"] == [sandbox.base_url]
    server = httpx2.get(sandbox.base_url + "/.well-known/oauth-authorization-server").json()
    assert server["registration_endpoint"] == sandbox.base_url + "/register"
    assert server["code_challenge_methods_supported"] == ["S256"]


def test_an_oauth_login_approved_on_the_consent_page_lists_the_tools(
    mcp: MCPSession, sandbox: Sandbox
) -> None:
    with pytest.raises(LoginRequiredError):
        mcp.list_tools()  # not logged in yet: no call waits for a person
    consent_url = mcp.begin_login()
    assert consent_url is not None
    query = parse_qs(urlsplit(consent_url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["resource"] == [sandbox.mcp.url]
    redirected = sandbox.mcp.approve(consent_url)
    mcp.complete_login(redirected)
    assert len(mcp.list_tools()) == 3
    assert mcp.auth_method == "oauth"
    assert mcp.pending_login_url is None
    assert mcp.call_tool(EMAIL, {"to": "ada@example.com"}).records
    assert sandbox.count("mcp_oauth:register") == 1
    assert sandbox.count("mcp_oauth:token:authorization_code") == 1


def test_an_expired_access_token_is_refreshed_once_and_the_call_goes_through(
    mcp: MCPSession, sandbox: Sandbox
) -> None:
    sandbox.mcp.access_ttl = 1
    consent = mcp.begin_login()
    assert consent is not None
    mcp.complete_login(sandbox.mcp.approve(consent))
    time.sleep(1.2)
    assert mcp.call_tool(EMAIL, {"to": "ada@example.com"}).records
    assert sandbox.count("mcp_oauth:token:refresh_token") == 1
    assert sandbox.mcp.execution_count() == 1


def test_a_denied_consent_ends_the_login_in_one_line(mcp: MCPSession, sandbox: Sandbox) -> None:
    consent = mcp.begin_login()
    assert consent is not None
    with pytest.raises(ConsentDeniedError) as info:
        mcp.complete_login(sandbox.mcp.approve(consent, deny=True))
    assert "\n" not in info.value.message
    with pytest.raises(LoginRequiredError):
        mcp.list_tools()


def test_an_answer_with_another_state_is_refused_and_the_login_goes_on(
    mcp: MCPSession, sandbox: Sandbox
) -> None:
    consent = mcp.begin_login()
    assert consent is not None
    redirected = sandbox.mcp.approve(consent)
    forged = redirected.replace("state=", "state=x")
    with pytest.raises(StateMismatchError):
        mcp.complete_login(forged)
    mcp.complete_login(redirected)
    assert len(mcp.list_tools()) == 3


def test_a_login_the_server_ended_says_to_log_in_again_without_waiting(
    mcp: MCPSession, sandbox: Sandbox
) -> None:
    consent = mcp.begin_login()
    assert consent is not None
    mcp.complete_login(sandbox.mcp.approve(consent))
    sandbox.mcp.revoke_logins()
    mcp.close()  # a new connection presents the revoked token
    with pytest.raises(LoginRequiredError) as info:
        mcp.list_tools()
    assert info.value.ended
    assert "Log in again" in info.value.message
    consent = mcp.begin_login()
    assert consent is not None
    mcp.complete_login(sandbox.mcp.approve(consent))
    assert len(mcp.list_tools()) == 3


def test_a_login_ended_under_an_open_connection_says_so_on_every_call(
    mcp: MCPSession, sandbox: Sandbox
) -> None:
    mcp.complete_login(sandbox.mcp.approve(mcp.begin_login()))
    assert len(mcp.list_tools()) == 3  # the connection is open
    sandbox.mcp.revoke_logins()
    for _ in range(3):
        with pytest.raises(LoginRequiredError, match="asks for a new login") as info:
            mcp.call_tool(EMAIL, {"to": "ada@example.com"})
        assert info.value.ended
    assert sandbox.mcp.execution_count(EMAIL) == 0


def test_an_oauth_sessions_calls_run_side_by_side(mcp: MCPSession, sandbox: Sandbox) -> None:
    """The SDK's provider holds one lock across each exchange; a logged-in session's calls
    must not wait for each other behind it."""
    mcp.complete_login(sandbox.mcp.approve(mcp.begin_login()))
    sandbox.mcp.latency = 0.3
    rows = [{"to": f"person{i}@example.com"} for i in range(6)]
    ran = mcp.run_many(EMAIL, rows, concurrency=6, progress=False)
    assert ran.counts["success"] == 6
    assert sandbox.mcp.most_concurrent_calls > 1
    assert sandbox.mcp.execution_count(EMAIL) == 6
