"""The MCP magics in a real kernel: %zapier_mcp, %zapier_tools, %zapier_call, %%zapier_call,
the sync API under the kernel's running loop, run_many's progress bar, and no token in any
output."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from helpers import assert_no_secrets
from kernel_driver import KernelDriver, Reply

from zapier_nb.sandbox import Sandbox

Kernel = Callable[..., KernelDriver]
EMAIL = "gmail_send_email"


@pytest.fixture
def kernel(sandbox: Sandbox) -> Iterator[Kernel]:
    started: list[KernelDriver] = []

    def start(*, with_env: bool = True) -> KernelDriver:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPIER_")}
        if with_env:
            env.update(ZAPIER_MCP_URL=sandbox.mcp.url, ZAPIER_MCP_TOKEN=sandbox.mcp.token)
        driver = KernelDriver(env)
        started.append(driver)
        driver.run("%load_ext zapier_nb")
        return driver

    yield start
    for driver in started:
        driver.close()


def everything(*replies: Reply) -> list[str]:
    texts = []
    for reply in replies:
        texts += [reply.stdout, reply.stderr, reply.data("text/plain"), reply.data("text/html")]
    return texts


def test_tools_and_a_call_from_the_environment(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    tools = k.run("%zapier_tools")
    assert "required arguments" in tools.data("text/html")
    assert "google_sheets_lookup_spreadsheet_row" in tools.data("text/plain")
    only = k.run("%zapier_tools gmail")
    assert "1 tool." in only.data("text/plain")
    call = k.run('%zapier_call gmail_send_email to=grace@example.org subject="Hello there"')
    assert call.errors == []
    assert "Hello there" in call.data("text/html")
    cell = k.run(
        "%%zapier_call google_sheets_lookup_spreadsheet_row\n"
        '{"instructions": "find SO-1002 in orders"}'
    )
    assert "Compiler handbook" in cell.data("text/plain")
    assert sandbox.mcp.execution_count() == 2
    assert sandbox.mcp.sent_emails()[0]["subject"] == "Hello there"
    assert_no_secrets(everything(tools, only, call, cell), sandbox)


def test_zapier_mcp_connects_with_a_token_from_a_named_variable(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    k = kernel(with_env=False)
    missing = k.run(f"%zapier_mcp --url {sandbox.mcp.url} --token-env MY_MCP_TOKEN")
    assert "MY_MCP_TOKEN is not set" in missing.stderr
    k.run(f"import os; os.environ['MY_MCP_TOKEN'] = {sandbox.mcp.token!r}")
    connected = k.run(f"m = %zapier_mcp --url {sandbox.mcp.url} --token-env MY_MCP_TOKEN\nm")
    assert "MCPSession(auth='token'" in connected.data("text/plain")
    call = k.run("%zapier_call gmail_send_email to=ada@example.com")
    assert call.errors == []
    assert sandbox.mcp.execution_count(EMAIL) == 1
    assert_no_secrets(everything(missing, connected, call), sandbox)


def test_mistakes_are_one_line_usage_errors(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    cases = {
        "%zapier_call gmail_send_email to": "key=value",
        "%zapier_call gmail_send_email subject=hi": "Missing to",
        "%%zapier_call gmail_send_email\nnot json": "JSON object",
        '%%zapier_call gmail_send_email to=a@example.com\n{"to": "b@example.com"}': "not both",
        "%zapier_mcp --url http://example.com/mcp": "plain http",
    }
    for line, message in cases.items():
        reply = k.run(line)
        assert "UsageError" in reply.stderr, line
        assert message in reply.stderr, line
        assert "Traceback" not in reply.stderr, line
    sandbox.mcp.revoke(sandbox.mcp.token)
    refused = k.run("%zapier_tools")
    assert "HTTP 401" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert sandbox.mcp.execution_count(EMAIL) == 1  # only the call that lacked `to` ran


def test_the_sync_api_and_run_many_in_a_kernel(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    reply = k.run(
        "import asyncio, zapier_nb\n"
        "print(asyncio.get_event_loop().is_running())\n"
        "m = zapier_nb.MCPSession.from_env()\n"
        "rows = [{'to': f'p{i}@example.com'} for i in range(12)]\n"
        "result = m.run_many('gmail_send_email', rows, concurrency=4)\n"
        "print(result.summary())\n"
        "frame = result.to_pandas(records=True)\n"
        "print(len(frame))\n"
        "tools = await m.alist_tools()\n"
        "print(len(tools))"
    )
    assert reply.errors == [], reply.stderr
    lines = reply.stdout.split("\n")
    assert lines[0] == "True"
    assert "12 inputs in" in lines[1]
    assert "12 success" in lines[1]
    assert lines[2:4] == ["12", "3"]
    bar = k.find("zapier-nb-progress")
    assert k.widgets[bar] is not None
    assert sandbox.mcp.execution_count() == 12
    assert_no_secrets([*everything(reply), str(k.widgets)], sandbox)


def test_the_login_widgets_key_field_accepts_an_mcp_connection_token(
    sandbox: Sandbox,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPIER_")}
    env.update(ZAPIER_BASE_URL=sandbox.base_url, ZAPIER_MCP_URL=sandbox.mcp.url)
    k = KernelDriver(env)
    try:
        k.run("%load_ext zapier_nb")
        shown = k.run("%zapier_login")
        k.send_custom(k.find("zapier-nb-key"), {"event": "submit", "value": sandbox.mcp.token})
        key = k.state("zapier-nb-key")
        assert key["message_kind"] == "info"
        assert "Zapier MCP connection token" in key["message"]
        assert "(3 tools)" in key["message"]
        tools = k.run("%zapier_tools")
        assert "3 tools." in tools.data("text/plain")
        assert sandbox.count("check") == 1  # tried as an API key first, refused
        wrong = k.send_custom(k.find("zapier-nb-key"), {"event": "submit", "value": "nope-nope"})
        assert k.state("zapier-nb-key")["message_kind"] == "error"
        assert_no_secrets([*everything(shown, tools, wrong), str(k.widgets)], sandbox)
    finally:
        k.close()
