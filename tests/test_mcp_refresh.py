"""An MCP OAuth login shared through the token cache refreshes once, whoever needs it.

Kernels (here: processes) that share one cache, and the threads and tasks of one session,
take turns under the cache's file lock: the first refreshes, the others find its token in
the cache and use it with no request. The sandbox rotates refresh tokens and refuses a used
one, so a second refresh would fail and ask for a new consent. A kernel that only has the
cache takes up the login (and the client registration it belongs to) with no consent.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import assert_no_secrets
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from test_mcp_secrets import shown
from test_secret_hygiene import locals_shown

from zapier_nb import LoginRequiredError, MCPSession, ZapierError
from zapier_nb._mcp_oauth import MCP_CLIENT_KEY, MCPLogin
from zapier_nb._store import open_store
from zapier_nb.sandbox import Sandbox

EMAIL = "gmail_send_email"
REFRESHES = "mcp_oauth:token_request:refresh_token"

pytestmark = pytest.mark.usefixtures("secret_audit")

WORKER = r"""
import json, sys

from zapier_nb import MCPSession

args = json.loads(sys.argv[1])
report = {"errors": []}
session = MCPSession(url=args["url"], token_cache=args["cache"], timeout=10)
if not args.get("call"):
    try:
        report["tools"] = len(session.list_tools())
    except Exception as exc:
        report["errors"].append(f"{type(exc).__name__}: {exc}")
print("ready", flush=True)
sys.stdin.readline()
if args.get("call"):
    try:
        report["records"] = len(session.call_tool(args["call"], {"to": "ada@example.com"}).records)
    except Exception as exc:
        report["errors"].append(f"{type(exc).__name__}: {exc}")
report["client_id"] = session.client_id
session.close()
print(json.dumps(report), flush=True)
"""


@pytest.fixture
def audit_roots(tmp_path: Path) -> list[Path]:
    return [tmp_path, Path(os.environ["ZAPIER_NB_CACHE_DIR"])]


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def logged_in(sandbox: Sandbox, cache: Path) -> MCPSession:
    """A first kernel's session, logged in through the consent page, its login cached."""
    session = MCPSession(url=sandbox.mcp.url, token_cache=cache, timeout=10)
    session.complete_login(sandbox.mcp.approve(session.begin_login()))
    return session


@pytest.fixture
def first(sandbox: Sandbox, cache: Path) -> Iterator[MCPSession]:
    """The first kernel's session; its access tokens live two seconds."""
    sandbox.mcp.access_ttl = 2
    with logged_in(sandbox, cache) as session:
        yield session


@pytest.fixture
def lasting(sandbox: Sandbox, cache: Path) -> Iterator[MCPSession]:
    """The first kernel's session; its access token outlives the test."""
    with logged_in(sandbox, cache) as session:
        yield session


def run_workers(
    sandbox: Sandbox, cache: Path, count: int, *, call: str | None, before_go: float = 0.0
) -> list[dict[str, Any]]:
    """Start `count` processes on the cache; once each is ready, wait until `before_go`
    (a `time.time()`), then release them together and collect their reports."""
    args = json.dumps({"url": sandbox.mcp.url, "cache": str(cache), "call": call})
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            ready = process.stdout.readline().strip()
            assert ready == "ready", process.communicate(timeout=30)[1]
        time.sleep(max(before_go - time.time(), 0.0))
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        reports = []
        for process in processes:
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
            assert_no_secrets([out, err], sandbox)
            reports.append(json.loads(out.strip().splitlines()[-1]))
        return reports
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def test_two_kernels_calling_after_expiry_send_one_refresh_request(
    first: MCPSession, sandbox: Sandbox, cache: Path
) -> None:
    expired_at = time.time() + sandbox.mcp.access_ttl + 0.3
    sandbox.mcp.access_ttl = 3600  # the refreshed token lasts
    reports = run_workers(sandbox, cache, 2, call=EMAIL, before_go=expired_at)
    assert [report["errors"] for report in reports] == [[], []]
    assert [report["records"] for report in reports] == [1, 1]
    assert sandbox.mcp.execution_count(EMAIL) == 2
    assert sandbox.count(REFRESHES) == 1
    assert sandbox.count("mcp_oauth:token_error:invalid_grant") == 0
    # No consent was asked, and nobody registered again: the first kernel's client refreshed.
    assert sandbox.count("mcp_oauth:authorize") == 1
    assert sandbox.count("mcp_oauth:register") == 1
    assert {report["client_id"] for report in reports} == {first.client_id}
    # The first kernel takes up the token they refreshed, with no request of its own.
    assert len(first.list_tools()) == 3
    assert sandbox.count(REFRESHES) == 1


def test_a_second_kernel_with_only_the_cache_lists_the_tools(
    lasting: MCPSession, sandbox: Sandbox, cache: Path
) -> None:
    [report] = run_workers(sandbox, cache, 1, call=None)
    assert report["errors"] == []
    assert report["tools"] == 3
    assert report["client_id"] == lasting.client_id
    assert sandbox.count("mcp_oauth:authorize") == 1
    assert sandbox.count("mcp_oauth:register") == 1
    assert sandbox.count(REFRESHES) == 0


def test_a_new_session_in_the_same_kernel_takes_up_the_cached_login(
    lasting: MCPSession, sandbox: Sandbox, cache: Path
) -> None:
    with MCPSession(url=sandbox.mcp.url, token_cache=cache, timeout=10) as second:
        info = second.token_info
        assert info is not None
        assert info.has_refresh_token
        assert second.call_tool(EMAIL, {"to": "ada@example.com"}).records
        assert second.client_id == lasting.client_id
    assert sandbox.count("mcp_oauth:authorize") == 1
    assert sandbox.count(REFRESHES) == 0


def test_reauth_ignores_the_cached_login(
    lasting: MCPSession, sandbox: Sandbox, cache: Path
) -> None:
    with MCPSession(
        url=sandbox.mcp.url, token_cache="reauth", token_cache_dir=cache, timeout=10
    ) as fresh:
        assert fresh.token_info is None
        with pytest.raises(LoginRequiredError):
            fresh.list_tools()


def test_threads_of_one_session_share_one_refresh_after_the_server_expired_the_token(
    first: MCPSession, sandbox: Sandbox
) -> None:
    assert len(first.list_tools()) == 3
    sandbox.mcp.expire_access_tokens()  # the server refuses it while the clock says it is good
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda n: first.call_tool(EMAIL, {"to": f"{n}@x.test"}), range(8)))
    assert all(result.records for result in results)
    assert sandbox.mcp.execution_count(EMAIL) == 8
    assert sandbox.count(REFRESHES) == 1
    assert sandbox.count("mcp_oauth:authorize") == 1


def test_threads_and_tasks_after_expiry_send_one_refresh_request(
    first: MCPSession, sandbox: Sandbox
) -> None:
    time.sleep(sandbox.mcp.access_ttl + 0.2)

    async def tasks() -> list[Any]:
        return await asyncio.gather(
            *(first.acall_tool(EMAIL, {"to": f"{n}@x.test"}) for n in range(4))
        )

    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        in_threads = [pool.submit(first.call_tool, EMAIL, {"to": "t@x.test"}) for _ in range(4)]
        in_tasks = pool.submit(asyncio.run, tasks())
        results = [future.result() for future in in_threads] + in_tasks.result()
    assert len(results) == 8
    assert sandbox.mcp.execution_count(EMAIL) == 8
    assert sandbox.count(REFRESHES) == 1


def test_the_cache_file_is_private_and_no_repr_or_error_shows_a_token(
    first: MCPSession, sandbox: Sandbox, cache: Path, caught: list[BaseException]
) -> None:
    [entry] = cache.glob("*.json")
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600
    saved = json.loads(entry.read_text())
    assert saved["client"]["client_id"] == first.client_id
    assert "client_secret" not in saved["client"]  # a public client: the server gave none
    access, refresh = saved["access_token"], saved["refresh_token"]
    texts = [*shown(first), repr(first.token_info)]
    sandbox.mcp.revoke_logins()
    sandbox.mcp.expire_access_tokens()
    with pytest.raises(ZapierError) as info:  # the refresh is refused: log in again
        first.list_tools()
    caught.append(info.value)
    assert sandbox.count(REFRESHES) == 1
    texts += [str(info.value), repr(info.value), locals_shown(info.value)]
    for text in texts:
        assert access not in text
        assert refresh not in text
    assert_no_secrets(texts, sandbox)


def test_a_client_secret_a_server_gives_is_kept_as_privately_as_the_tokens(
    tmp_path: Path,
) -> None:
    """The sandbox registers public clients; a server may give a secret all the same."""
    url = "https://mcp.example.test/api/v1/connect"
    store = open_store(
        tmp_path / "cache", base_url=url, client_id=MCP_CLIENT_KEY, timeout=5, max_retries=0
    )
    assert store is not None
    first = MCPLogin(url, redirect_uri="http://127.0.0.1:9/cb", store=store)
    client = OAuthClientInformationFull(
        client_id="client-1",
        client_secret="client-secret-value",
        redirect_uris=["http://127.0.0.1:9/cb"],  # type: ignore[list-item]
        token_endpoint_auth_method="client_secret_post",
    )
    tokens = OAuthToken(
        access_token="access-value",
        token_type="Bearer",
        expires_in=600,
        refresh_token="refresh-value",
    )
    asyncio.run(first.storage.set_client_info(client))
    asyncio.run(first.storage.set_tokens(tokens))
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert json.loads(store.path.read_text())["client"]["client_secret"] == "client-secret-value"

    second = MCPLogin(url, redirect_uri="http://127.0.0.1:9/cb", store=store)
    provider = second.provider()
    assert second.holds_login()
    assert second.client_id == "client-1"
    assert provider.context.current_tokens is None  # the SDK's state: filled at the first call
    assert second.storage.current() is not None
    assert provider._take_up()
    assert provider.context.client_info is not None
    assert provider.context.client_info.client_secret == "client-secret-value"
    assert provider.context.token_expiry_time is not None
    texts = [*shown(first), *shown(second), *shown(provider, depth=1), repr(provider.context)]
    for text in texts:
        for secret in ("client-secret-value", "access-value", "refresh-value"):
            assert secret not in text
    assert set(second.storage.secrets()) == {"client-secret-value", "access-value", "refresh-value"}
