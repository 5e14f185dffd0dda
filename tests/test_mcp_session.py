"""MCPSession against the sandbox's MCP server, over real sockets: login by connection token,
the tools, errors, the resend rule, run_many, and the async twins."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

import zapier_nb
from zapier_nb import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    LoginRequiredError,
    MCPSession,
    RateLimitError,
    ServerError,
    ToolError,
    ZapierError,
)
from zapier_nb.sandbox import Sandbox

LOOKUP = "google_sheets_lookup_spreadsheet_row"
EMAIL = "gmail_send_email"

pytestmark = pytest.mark.usefixtures("secret_audit")


@pytest.fixture
def mcp(sandbox: Sandbox) -> Iterator[MCPSession]:
    with MCPSession(token=sandbox.mcp.token, url=sandbox.mcp.url, timeout=5) as session:
        yield session


# -- logging in with a connection token --------------------------------------------------------


def test_a_connection_token_lists_the_demo_actions_as_tools(mcp: MCPSession) -> None:
    tools = mcp.list_tools()
    assert tools.names == [LOOKUP, EMAIL, "help_center_search_articles"]
    lookup = tools.get(LOOKUP)
    assert lookup is not None
    assert lookup.title == "Google Sheets: Lookup Spreadsheet Row"
    assert lookup.required == ["spreadsheet", "lookup_column", "lookup_value"]
    assert "instructions" in lookup.arguments
    text = repr(tools)
    assert "required arguments" in text
    assert "lookup_column" in text
    assert mcp.auth_method == "token"


def test_a_tool_call_answers_records(mcp: MCPSession, sandbox: Sandbox) -> None:
    result = mcp.call_tool(LOOKUP, {"instructions": "Find ada@example.com in the customers sheet"})
    assert result.records == [
        {"name": "Ada Lovelace", "email": "ada@example.com", "city": "London", "plan": "Pro"}
    ]
    assert sandbox.mcp.execution_count(LOOKUP) == 1


def test_a_wrong_token_is_an_authentication_error(
    sandbox: Sandbox, caught: list[BaseException]
) -> None:
    session = MCPSession(token="sbx_mcp_typed-by-hand-and-wrong", url=sandbox.mcp.url)
    with session, pytest.raises(AuthenticationError) as info:
        session.list_tools()
    caught.append(info.value)
    assert info.value.status_code == 401
    assert "connection token" in info.value.message
    assert "sbx_mcp_typed-by-hand-and-wrong" not in str(info.value)


def test_a_revoked_token_stops_working_on_the_next_call(
    mcp: MCPSession, sandbox: Sandbox, caught: list[BaseException]
) -> None:
    assert mcp.list_tools()
    assert sandbox.mcp.revoke(sandbox.mcp.token)
    with pytest.raises(AuthenticationError) as info:
        mcp.call_tool(EMAIL, {"to": "grace@example.org"})
    caught.append(info.value)
    assert sandbox.mcp.execution_count() == 0


def test_no_token_and_no_login_says_how_to_log_in_without_waiting(sandbox: Sandbox) -> None:
    with MCPSession(url=sandbox.mcp.url) as session, pytest.raises(LoginRequiredError) as info:
        session.list_tools()
    assert "ZAPIER_MCP_TOKEN" in info.value.message
    assert "begin_login()" in info.value.message
    assert sandbox.count("mcp") == 0


def test_from_env_reads_the_url_and_the_token(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZAPIER_MCP_URL", sandbox.mcp.url)
    monkeypatch.setenv("ZAPIER_MCP_TOKEN", sandbox.mcp.token)
    with MCPSession.from_env() as session:
        assert session.url == sandbox.mcp.url
        assert len(session.list_tools()) == 3


@pytest.mark.parametrize(
    "url",
    [
        "http://mcp.example.com/api/v1/connect",
        "ftp://127.0.0.1/x",
        "https://user:pw@mcp.zapier.com/api/v1/connect",
        "https://mcp.zapier.com/api/v1/connect?token=abc",
    ],
)
def test_an_unsafe_url_is_refused_before_anything_is_sent(url: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        MCPSession(token="t", url=url)
    assert "\n" not in info.value.message
    assert "abc" not in info.value.message
    assert "pw" not in info.value.message


def test_the_default_url_is_zapiers() -> None:
    assert MCPSession(token="t").url == "https://mcp.zapier.com/api/v1/connect"


# -- errors ------------------------------------------------------------------------------------


def test_a_tool_that_reports_an_error_raises_tool_error_with_its_text(
    mcp: MCPSession, caught: list[BaseException]
) -> None:
    with pytest.raises(ToolError) as info:
        mcp.call_tool(EMAIL, {"subject": "Hello"})
    caught.append(info.value)
    assert info.value.tool == EMAIL
    assert info.value.text == "Missing to: give it, or instructions that name it."
    assert "Missing to" in info.value.message
    assert isinstance(info.value, ZapierError)
    # the session stays usable
    assert mcp.call_tool(EMAIL, {"to": "grace@example.org"}).records[0]["status"] == "sent"


def test_bad_arguments_are_refused_before_sending(mcp: MCPSession, sandbox: Sandbox) -> None:
    with pytest.raises(ConfigurationError):
        mcp.call_tool(EMAIL, ["to", "x"])  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError):
        mcp.call_tool("  ")
    assert sandbox.count("mcp:tools/call") == 0


# -- the resend rule ---------------------------------------------------------------------------


def test_an_answer_lost_after_the_tool_ran_is_not_sent_again(
    mcp: MCPSession, sandbox: Sandbox, caught: list[BaseException]
) -> None:
    mcp.list_tools()
    sandbox.fail_next("mcp_call", status=502, act_first=True)
    with pytest.raises(ServerError) as info:
        mcp.call_tool(EMAIL, {"to": "grace@example.org"})
    caught.append(info.value)
    assert "may have run" in info.value.message
    assert sandbox.count("mcp:tools/call") == 1
    assert sandbox.mcp.execution_count(EMAIL) == 1
    assert len(sandbox.mcp.sent_emails()) == 1


def test_a_5xx_before_the_tool_ran_is_not_sent_again_either(
    mcp: MCPSession, sandbox: Sandbox
) -> None:
    mcp.list_tools()
    sandbox.fail_next("mcp_call", status=500)
    with pytest.raises(ServerError):
        mcp.call_tool(EMAIL, {"to": "grace@example.org"})
    assert sandbox.count("mcp:tools/call") == 1
    assert sandbox.mcp.execution_count() == 0


def test_a_dropped_connection_after_acting_is_not_sent_again(
    mcp: MCPSession, sandbox: Sandbox
) -> None:
    mcp.list_tools()
    sandbox.fail_next("mcp_call", drop=True, act_first=True)
    with pytest.raises(APIConnectionError) as info:
        mcp.call_tool(EMAIL, {"to": "grace@example.org"})
    assert "may have run" in info.value.message
    assert sandbox.mcp.execution_count() == 1
    assert mcp.call_tool(EMAIL, {"to": "ada@example.com"}).records
    assert sandbox.mcp.execution_count() == 2


def test_a_429_with_a_short_retry_after_waits_and_is_sent_again(
    mcp: MCPSession, sandbox: Sandbox
) -> None:
    mcp.list_tools()
    sandbox.fail_next("mcp_call", status=429, retry_after=1)
    started = time.monotonic()
    result = mcp.call_tool(EMAIL, {"to": "grace@example.org"})
    assert result.records[0]["to"] == "grace@example.org"
    assert time.monotonic() - started >= 0.9
    assert sandbox.count("mcp:tools/call") == 2
    assert sandbox.mcp.execution_count() == 1


def test_a_429_with_a_long_wait_is_a_rate_limit_error_that_says_how_long(
    mcp: MCPSession, sandbox: Sandbox
) -> None:
    mcp.list_tools()
    sandbox.fail_next("mcp_call", status=429, retry_after=30)
    with pytest.raises(RateLimitError) as info:
        mcp.call_tool(EMAIL, {"to": "grace@example.org"})
    assert info.value.retry_after == 30
    assert sandbox.mcp.execution_count() == 0


def test_a_slow_tool_times_out_and_is_not_sent_again(sandbox: Sandbox) -> None:
    with MCPSession(token=sandbox.mcp.token, url=sandbox.mcp.url, timeout=0.5) as session:
        session.list_tools()
        sandbox.mcp.latency = 1.5
        with pytest.raises(APITimeoutError) as info:
            session.call_tool(EMAIL, {"to": "grace@example.org"})
        assert "may have run" in info.value.message
        time.sleep(1.3)
        assert sandbox.mcp.execution_count() == 1
        sandbox.mcp.latency = 0
        assert session.call_tool(EMAIL, {"to": "ada@example.com"}).records


def test_a_session_the_server_forgot_reconnects(mcp: MCPSession, sandbox: Sandbox) -> None:
    mcp.list_tools()
    sandbox.fail_next("mcp_call", status=404)
    assert mcp.call_tool(EMAIL, {"to": "grace@example.org"}).records
    assert sandbox.mcp.execution_count() == 1


# -- many calls ----------------------------------------------------------------------------------


def test_run_many_calls_once_per_row_and_records_failures_per_row(
    mcp: MCPSession, sandbox: Sandbox
) -> None:
    rows = [{"to": "ada@example.com"}, {"subject": "no recipient"}, {"to": "grace@example.org"}]
    result = mcp.run_many(EMAIL, rows, concurrency=2, arguments={"subject": "Hi"})
    assert [row.status for row in result] == ["success", "error", "success"]
    assert result[1].error == "Missing to: give it, or instructions that name it."
    assert result[0].records[0]["subject"] == "Hi"
    assert result[1].arguments == {"subject": "no recipient"}
    assert sandbox.mcp.execution_count(EMAIL) == 3
    assert "3 inputs" in result.summary()
    frame = result.to_pandas(records=True)
    assert list(frame["to"]) == ["ada@example.com", "grace@example.org"]


def test_run_many_stops_when_the_token_stops_working(mcp: MCPSession, sandbox: Sandbox) -> None:
    mcp.list_tools()
    sandbox.mcp.revoke(sandbox.mcp.token)
    result = mcp.run_many(EMAIL, [{"to": f"p{i}@example.com"} for i in range(20)], concurrency=2)
    assert result.stopped_by is not None
    assert result.counts["not_run"] >= 10
    assert sandbox.mcp.execution_count() == 0


def test_run_many_waits_out_a_rate_limit_and_runs_every_row_once(
    mcp: MCPSession, sandbox: Sandbox
) -> None:
    mcp.list_tools()
    sandbox.fail_next("mcp_call", status=429, retry_after=8)  # longer than the transport waits
    result = mcp.run_many(EMAIL, [{"to": f"p{i}@example.com"} for i in range(6)], concurrency=3)
    assert result.counts["success"] == 6
    assert sandbox.mcp.execution_count() == 6


def test_run_many_takes_a_dataframe(mcp: MCPSession, sandbox: Sandbox) -> None:
    pandas = pytest.importorskip("pandas")
    frame = pandas.DataFrame(
        {"to": ["ada@example.com", None], "instructions": [None, "mail grace@example.org"]}
    )
    result = mcp.run_many(EMAIL, frame)
    assert [row.status for row in result] == ["success", "success"]
    assert result[1].arguments == {"instructions": "mail grace@example.org"}


# -- async, and a running loop ---------------------------------------------------------------


def test_the_async_twins(sandbox: Sandbox) -> None:
    async def main() -> tuple[int, list[str]]:
        async with MCPSession(token=sandbox.mcp.token, url=sandbox.mcp.url) as session:
            tools = await session.alist_tools()
            results = await asyncio.gather(
                *(session.acall_tool(EMAIL, {"to": f"p{i}@example.com"}) for i in range(5))
            )
            many = await session.arun_many(EMAIL, [{"to": "x@example.com"}] * 3)
            return len(tools), [r.records[0]["to"] for r in results] + [str(len(many))]

    count, seen = asyncio.run(main())
    assert count == 3
    assert seen == [f"p{i}@example.com" for i in range(5)] + ["3"]
    assert sandbox.mcp.execution_count() == 8


def test_the_sync_api_works_while_an_event_loop_runs_on_this_thread(mcp: MCPSession) -> None:
    async def inside_a_running_loop() -> int:
        return len(mcp.list_tools())  # as a Jupyter cell does: sync call, loop running

    assert asyncio.run(inside_a_running_loop()) == 3


def test_cancelling_an_awaited_call_stops_waiting_and_the_session_stays_usable(
    sandbox: Sandbox,
) -> None:
    async def main() -> tuple[float, str]:
        async with MCPSession(token=sandbox.mcp.token, url=sandbox.mcp.url) as session:
            await session.alist_tools()
            sandbox.mcp.latency = 2.0
            call = asyncio.create_task(session.acall_tool(EMAIL, {"to": "slow@example.com"}))
            await asyncio.sleep(0.3)
            started = time.monotonic()
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            waited = time.monotonic() - started
            sandbox.mcp.latency = 0
            again = await session.acall_tool(EMAIL, {"to": "ada@example.com"})
            return waited, again.records[0]["to"]

    waited, to = asyncio.run(main())
    assert waited < 1.0
    assert to == "ada@example.com"


def test_ctrl_c_during_a_call_stops_waiting_and_the_session_stays_usable(
    mcp: MCPSession, sandbox: Sandbox
) -> None:
    mcp.list_tools()
    sandbox.mcp.latency = 2.0
    main = threading.main_thread().ident
    assert main is not None
    assert threading.current_thread().ident == main
    timer = threading.Timer(0.3, signal.pthread_kill, (main, signal.SIGINT))
    started = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        mcp.call_tool(EMAIL, {"to": "slow@example.com"})
    assert time.monotonic() - started < 1.5
    sandbox.mcp.latency = 0
    assert mcp.call_tool(EMAIL, {"to": "ada@example.com"}).records[0]["to"] == "ada@example.com"


# -- without the SDK ---------------------------------------------------------------------------


def test_without_the_sdk_every_mcp_path_says_which_extra_to_install(tmp_path: object) -> None:
    code = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "mcp" or name.startswith("mcp.") or name.startswith("mcp_types"):
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Block())
import zapier_nb
for attempt in (lambda: zapier_nb.MCPSession(token="t"), lambda: zapier_nb.MCPSession.from_env()):
    try:
        attempt()
    except zapier_nb.ZapierError as exc:
        print(exc.message)
"""
    env = {**os.environ, "ZAPIER_MCP_TOKEN": "t"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2, out.stderr
    assert all("pip install 'zapier_nb[mcp]'" in line for line in lines)


def test_import_stays_without_the_sdk() -> None:
    code = "import sys, zapier_nb; zapier_nb.ToolError; print('mcp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert issubclass(zapier_nb.ToolError, ZapierError)
