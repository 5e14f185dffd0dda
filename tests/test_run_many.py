"""run_many and arun_many against the sandbox: bounded concurrency, 429s waited out,
failures kept to their row, rows from DataFrames, progress, and a real Ctrl+C."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

import pexpect
import pytest

from zapier_nb import ConfigurationError, RunManyResult, Session
from zapier_nb._run_many import run_many as run_many_with
from zapier_nb.sandbox import Sandbox

pytestmark = pytest.mark.usefixtures("secret_audit")

SCRIPT = Path(__file__).parent / "scripts" / "run_many_until_interrupted.py"
EMAILS = ["ada@example.com", "grace@example.org", "alan@example.org", "don@example.org"]


def peak_overlap(sandbox: Sandbox) -> int:
    """The most executions the sandbox was handling at one moment."""
    events = []
    for log in sandbox.execution_logs():
        events += [(log.started_at, 1), (log.finished_at, -1)]
    level = peak = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):
        level += step
        peak = max(peak, level)
    return peak


def both(session: Session, flow: str, *args: Any, **kwargs: Any) -> RunManyResult:
    if flow == "sync":
        return session.run_many(*args, **kwargs)

    async def main() -> RunManyResult:
        try:
            return await session.arun_many(*args, **kwargs)
        finally:
            await session.aclose()

    return asyncio.run(main())


@pytest.mark.parametrize("flow", ["sync", "async"])
def test_bounded_concurrency_one_row_per_input(
    key_session: Session, sandbox: Sandbox, flow: str
) -> None:
    sandbox.latency = 0.15
    inputs = [f"Find {email}" for email in EMAILS * 2] + ["Find nobody@example.com"]
    result = both(key_session, flow, "lookup row", inputs, concurrency=3)
    assert [row.index for row in result] == list(range(9))
    assert [row.instructions for row in result] == inputs
    assert [row.status for row in result] == ["success"] * 8 + ["empty"]
    assert result[1].results[0]["name"] == "Grace Hopper"
    assert sandbox.execution_count() == 9
    assert sandbox.count("execute") == 9
    assert peak_overlap(sandbox) == 3
    assert result.interrupted is False
    assert "9 inputs" in result.summary()
    assert "Grace Hopper" in result._repr_html_()


@pytest.mark.parametrize("flow", ["sync", "async"])
def test_429_is_waited_out_and_nothing_runs_twice(
    key_session: Session, sandbox: Sandbox, flow: str
) -> None:
    action = key_session.find_action("lookup row")
    sandbox.fail_next("execute", status=429, retry_after=0.4, times=3)
    started = time.monotonic()
    result = both(key_session, flow, action, [f"Find {e}" for e in EMAILS], concurrency=2)
    assert time.monotonic() - started >= 0.4
    assert [row.status for row in result] == ["success"] * 4
    assert sandbox.count("execute") == 4 + 3
    assert sandbox.execution_count() == 4
    assert sorted(log.instructions for log in sandbox.execution_logs()) == sorted(
        f"Find {e}" for e in EMAILS
    )


def test_a_row_still_rate_limited_after_its_waits_says_so(
    key_session: Session, sandbox: Sandbox
) -> None:
    sandbox.fail_next("execute", status=429, retry_after=0.05, times=-1)
    result = run_many_with(
        key_session, "lookup row", ["Find ada@example.com"], max_rate_limit_waits=2
    )
    assert result[0].status == "error"
    assert "rate limited" in (result[0].error or "")
    # 3 attempts (2 waits), each sent up to 3 times: the transport waits out a short
    # Retry-After itself (max_retries=2), since a 429 means nothing ran.
    assert sandbox.count("execute") == 3 * 3
    assert sandbox.execution_count() == 0


@pytest.mark.parametrize("flow", ["sync", "async"])
def test_a_failed_row_does_not_stop_the_others(
    key_session: Session, sandbox: Sandbox, flow: str
) -> None:
    rows = [
        {"instructions": "Email ada@example.com 'Hi'"},
        {"instructions": "Say hi to nobody"},  # status error: no recipient
        {"instructions": "Email grace@example.org", "params": {"colour": "blue"}},  # 422
        {"instructions": "Email alan@example.org 'Hello'"},
    ]
    result = both(key_session, flow, "send email", rows, concurrency=2)
    assert [row.status for row in result] == ["success", "error", "error", "success"]
    assert "'to'" in (result[1].error or "")
    assert "unknown input 'colour'" in (result[2].error or "")
    assert [e.to for e in sorted(sandbox.sent_emails(), key=lambda e: e.to)] == [
        "ada@example.com",
        "alan@example.org",
    ]
    assert result.counts == {"success": 2, "error": 2}


def test_a_lost_answer_is_marked_unknown_not_resent(key_session: Session, sandbox: Sandbox) -> None:
    sandbox.fail_next("execute", act_first=True, drop=True)
    result = key_session.run_many("send email", ["Email ada@example.com"], concurrency=1)
    assert result[0].status == "unknown"
    assert "may have reached the server" in (result[0].error or "")
    assert sandbox.count("execute") == 1
    assert len(sandbox.sent_emails()) == 1


def test_credentials_that_stop_working_stop_the_run(sandbox: Sandbox) -> None:
    with Session(api_key="sbx_key_not-the-right-one", base_url=sandbox.base_url) as session:
        result = session.run_many("0" * 26, [f"Find {e}" for e in EMAILS * 5], concurrency=2)
    assert result.stopped_by is not None
    assert "credentials" in result.stopped_by or "API key" in result.stopped_by
    assert result.counts["not_run"] >= 20 - 2
    assert sandbox.count("execute") <= 2
    assert "did not run" in result.summary()


@pytest.mark.parametrize("library", ["pandas", "polars"])
def test_dataframe_rows_columns_become_params(
    key_session: Session, sandbox: Sandbox, library: str
) -> None:
    frames = pytest.importorskip(library)
    data = {
        "instructions": ["Find the order", "Find the order", "Find the order"],
        "lookup_value": ["SO-1001", "SO-1004", "SO-9999"],
    }
    frame = frames.DataFrame(data)
    result = key_session.run_many(
        "lookup row", frame, params={"spreadsheet": "Orders", "lookup_column": "order_id"}
    )
    assert [row.status for row in result] == ["success", "success", "empty"]
    assert result[1].results[0]["item"] == "Apollo guidance poster"
    table = result.to_pandas(records=True)
    assert list(table["input"]) == [0, 1]
    assert list(table["order_id"]) == ["SO-1001", "SO-1004"]
    per_input = result.to_polars()
    assert per_input["status"].to_list() == ["success", "success", "empty"]


def test_bad_inputs_are_refused_before_anything_is_sent(
    key_session: Session, sandbox: Sandbox
) -> None:
    action = key_session.find_action("lookup row")
    with pytest.raises(ConfigurationError, match="not one string"):
        key_session.run_many(action, "Find ada@example.com")
    with pytest.raises(ConfigurationError, match="Input 1 has no instructions"):
        key_session.run_many(action, ["Find ada@example.com", {"lookup_value": "x"}])
    with pytest.raises(ConfigurationError, match="Input 0: "):
        key_session.run_many(action, [{"instructions": "x", "params": {"a": {"mode": "no"}}}])
    with pytest.raises(ConfigurationError, match="concurrency"):
        key_session.run_many(action, ["x"], concurrency=0)
    assert sandbox.count("execute") == 0


def test_the_terminal_shows_a_progress_line(sandbox: Sandbox) -> None:
    child = _spawn(sandbox, "sync")
    child.expect(r"RESULT (\{.*\})", timeout=120)
    body = json.loads(child.match.group(1))
    assert body["counts"] == {"success": 30}
    transcript = child.before
    assert "Google Sheets: Lookup Spreadsheet Row: " in transcript
    assert re.search(r"\d+/30 done", transcript)
    child.close()


@pytest.mark.parametrize("flow", ["sync", "async"])
def test_ctrl_c_stops_new_requests_and_returns_what_finished(sandbox: Sandbox, flow: str) -> None:
    sandbox.latency = 0.25
    child = _spawn(sandbox, flow)
    child.expect(r"([3-9]|1\d)/30 done", timeout=60)
    child.sendintr()
    child.expect(r"RESULT (\{.*\})", timeout=60)
    body = json.loads(child.match.group(1))
    child.expect(pexpect.EOF, timeout=30)
    child.close()
    counts = body["counts"]
    assert body["interrupted"] is True
    assert counts["not_run"] > 0
    assert set(counts) == {"success", "not_run"}  # in-flight requests were waited for
    assert counts["success"] + counts["not_run"] == 30
    assert f"Interrupted: {counts['not_run']} did not run." in body["summary"]
    # the requests sent are exactly the rows that finished, each run once
    assert sandbox.count("execute") == counts["success"]
    assert sandbox.execution_count() == counts["success"]
    assert child.exitstatus == 0


def _spawn(sandbox: Sandbox, flow: str) -> pexpect.spawn:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPIER_")}
    env.update(ZAPIER_BASE_URL=sandbox.base_url, ZAPIER_API_KEY=sandbox.api_key)
    return pexpect.spawn(sys.executable, [str(SCRIPT), flow], env=env, encoding="utf-8", timeout=60)


def test_a_server_echoing_the_key_puts_it_in_no_row(key_session: Session, sandbox: Sandbox) -> None:
    echo = json.dumps({"error": f"The key {sandbox.api_key} may not do this."})
    sandbox.fail_next("execute", status=400, body=echo, times=-1)
    result = key_session.run_many("lookup row", ["Find ada@example.com", "Find grace"])
    assert [row.status for row in result] == ["error", "error"]
    assert all("may not do this" in (row.error or "") for row in result)
    shown = [result._repr_html_(), repr(result), *(repr(row) for row in result)]
    assert not any(sandbox.api_key in text for text in shown)
