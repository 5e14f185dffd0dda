"""Two real Jupyter kernels share one MCP OAuth login through the token cache: after the
access token expires, both call a tool at once, and the sandbox counts one refresh."""

from __future__ import annotations

import concurrent.futures
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import assert_no_secrets
from kernel_driver import KernelDriver

from zapier_nb import MCPSession
from zapier_nb.sandbox import Sandbox

EMAIL = "gmail_send_email"
REFRESHES = "mcp_oauth:token_request:refresh_token"
LIFETIME = 12.0  # seconds the first access token lives: long enough for both to take it up


@pytest.fixture
def kernels(sandbox: Sandbox, tmp_path: Path) -> Iterator[list[KernelDriver]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPIER_")}
    env.update(ZAPIER_MCP_URL=sandbox.mcp.url, ZAPIER_NB_CACHE_DIR=str(tmp_path / "cache"))
    started = [KernelDriver(env) for _ in range(2)]
    yield started
    for kernel in started:
        kernel.close()
        assert_no_secrets([kernel.transcript(), json.dumps(kernel.widgets)], sandbox)


def test_two_kernels_calling_after_expiry_send_one_refresh_request(
    kernels: list[KernelDriver], sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.mcp.access_ttl = LIFETIME
    cache = tmp_path / "cache"
    with MCPSession(url=sandbox.mcp.url, token_cache=cache, timeout=10) as person:
        person.complete_login(sandbox.mcp.approve(person.begin_login()))
    expires = time.time() + LIFETIME
    sandbox.mcp.access_ttl = 3600  # the refreshed token lasts
    setup = (
        "import zapier_nb\n"
        f"mcp = zapier_nb.MCPSession.from_env(token_cache={str(cache)!r}, timeout=10)\n"
        "print(mcp.auth_method)"
    )
    for kernel in kernels:  # each takes the login up from the cache, no consent
        assert kernel.run(setup).stdout.strip() == "oauth"
    assert time.time() < expires, "the kernels took longer to start than the token lives"
    time.sleep(max(expires - time.time(), 0) + 0.3)
    call = f"print(len(mcp.call_tool({EMAIL!r}, {{'to': 'ada@example.com'}}).records))"
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        replies = list(pool.map(lambda kernel: kernel.run(call), kernels))
    assert [reply.stdout.strip() for reply in replies] == ["1", "1"]
    assert [reply.errors for reply in replies] == [[], []]
    assert sandbox.count(REFRESHES) == 1
    assert sandbox.count("mcp_oauth:authorize") == 1, "no new consent"
    assert sandbox.count("mcp_oauth:register") == 1
    assert sandbox.mcp.execution_count(EMAIL) == 2
