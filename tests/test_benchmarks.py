"""The benchmark script runs in its quick mode and counts what it should.

Timings are not checked here (they depend on the machine); the counts are: one refresh
request per burst of callers that meet an expired token, none when the token is
fresh, every caller answered, and `import zapier_nb` leaving IPython and ipywidgets
unimported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "run.py"
RUN_TIMEOUT = 300  # a quick run takes about 35 s on two idle cores


@dataclass
class QuickRun:
    stdout: str
    markdown: str
    document: dict[str, Any]

    def rows(self, section: str) -> list[dict[str, Any]]:
        return [row for row in self.document["rows"] if row["section"] == section]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> QuickRun:
    folder = tmp_path_factory.mktemp("benchmarks")
    json_path, markdown_path = folder / "results.json", folder / "results.md"
    completed = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--quick",
            "--quiet",
            "--json",
            str(json_path),
            "--markdown",
            str(markdown_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return QuickRun(
        stdout=completed.stdout,
        markdown=markdown_path.read_text(encoding="utf-8"),
        document=json.loads(json_path.read_text(encoding="utf-8")),
    )


def test_quick_run_prints_the_table_and_writes_markdown(quick_run: QuickRun) -> None:
    assert quick_run.document["plan"] == "quick"
    header = quick_run.stdout.splitlines()[3]
    for column in ("measurement", "contender", "median", "baseline median", "ratio", "target"):
        assert column in header
    assert "met?" in header
    assert "| measurement | contender | median | baseline median |" in quick_run.markdown
    for section in ("import", "calls", "refresh", "actions"):
        assert quick_run.rows(section), f"no {section} rows"
        for row in quick_run.rows(section):
            assert row["measurement"] in quick_run.stdout
            assert row["measurement"] in quick_run.markdown


def test_import_pulls_in_neither_ipython_nor_ipywidgets(quick_run: QuickRun) -> None:
    modules = quick_run.rows("import")[0]["detail"]["modules_after_import"]
    assert modules["IPython"] is False
    assert modules["ipywidgets"] is False
    load_ext = [row for row in quick_run.rows("import") if "%load_ext" in row["measurement"]]
    assert load_ext
    assert load_ext[0]["median_s"] > 0


def test_every_per_call_contender_has_a_median_and_a_baseline(quick_run: QuickRun) -> None:
    measured = {
        row["measurement"] for row in quick_run.rows("calls") if "(peer)" not in row["contender"]
    }
    assert measured == {
        "per call, API key, sync",
        "per call, API key, async",
        "per call, OAuth, sync",
        "per call, OAuth, async",
    }
    for row in quick_run.rows("calls"):
        assert row["median_s"] > 0
        assert row["baseline_median_s"] > 0
        assert row["ratio"] > 0


def test_each_contention_scenario_makes_exactly_one_refresh(quick_run: QuickRun) -> None:
    scenarios = [row["detail"] for row in quick_run.rows("refresh")]
    expired = [s for s in scenarios if s["mode"] in ("401", "clock")]
    assert {(s["mode"], s["kind"]) for s in expired} == {
        (mode, kind) for mode in ("401", "clock") for kind in ("threads", "tasks")
    }
    for scenario in expired:
        where = f"{scenario['mode']}, {scenario['callers']} {scenario['kind']}"
        assert scenario["refresh_requests"], where
        assert set(scenario["refresh_requests"]) == {1}, where
        assert set(scenario["baseline_refresh_requests"]) == {1}, where
        assert scenario["failures"] == {}, where
        assert scenario["unfinished_bursts"] == 0, where


def test_a_fresh_token_is_never_refreshed_and_every_caller_is_counted(
    quick_run: QuickRun,
) -> None:
    for scenario in (row["detail"] for row in quick_run.rows("refresh")):
        where = f"{scenario['mode']}, {scenario['callers']} {scenario['kind']}"
        if scenario["mode"] == "fresh":
            assert set(scenario["refresh_requests"]) == {0}, where
        # Each caller's check reached the sandbox: once, or twice when refused with a 401.
        callers = scenario["callers"]
        for checks in scenario["check_requests"]:
            if scenario["mode"] == "401":
                assert callers < checks <= 2 * callers, where
            else:
                assert checks == callers, where


def _actions(quick_run: QuickRun, kind: str) -> list[dict[str, Any]]:
    return [row["detail"] for row in quick_run.rows("actions") if row["detail"]["kind"] == kind]


def test_run_action_is_measured_sync_and_async_against_a_bare_post(quick_run: QuickRun) -> None:
    rows = [r for r in quick_run.rows("actions") if r["detail"]["kind"] == "per_call"]
    assert {r["measurement"] for r in rows} == {
        "run_action, API key, sync",
        "run_action, API key, async",
    }
    for row in rows:
        assert row["median_s"] > 0
        assert row["baseline_median_s"] > 0


def test_run_many_executes_each_input_exactly_once(quick_run: QuickRun) -> None:
    runs = _actions(quick_run, "run_many")
    assert [r["name"] for r in runs] == [
        "sequential",
        "concurrency 16",
        "concurrency 16, 429 burst",
    ]
    for run in runs:
        assert run["executions"] == run["inputs"], run["name"]
        assert run["duplicates"] == 0, run["name"]
        assert set(run["statuses"]) == {"success"}, run["name"]
    assert runs[2]["rate_limited"] > 0


def test_an_expired_token_costs_one_refresh_and_no_duplicate(quick_run: QuickRun) -> None:
    [expired] = _actions(quick_run, "expired")
    assert expired["refreshes"] == 1
    assert expired["executions"] == expired["callers"]
    assert expired["duplicates"] == 0
    assert expired["failures"] == 0
    assert expired["execute_requests"] > expired["callers"]  # some were refused with 401


def test_the_actions_table_is_capped_with_a_count_line(quick_run: QuickRun) -> None:
    table = _actions(quick_run, "table")[0]
    assert table["listed"] == table["actions"]
    assert 0 < table["rows_shown"] < table["listed"]
    assert table["count_line"] is True


def test_mcp_is_measured_and_every_call_runs_exactly_once(quick_run: QuickRun) -> None:
    rows = quick_run.rows("mcp")
    kinds = [row["detail"]["kind"] for row in rows]
    assert kinds.count("per_call") == 2
    for row in rows:
        if row["detail"]["kind"] == "per_call":
            assert row["median_s"] > 0
            assert row["baseline_median_s"] > 0
    [tools] = [row["detail"] for row in rows if row["detail"]["kind"] == "tools"][:1]
    assert tools["rows_shown"] < tools["tools"]
    assert tools["count_line"] is True
    runs = [row["detail"] for row in rows if row["detail"]["kind"] == "run_many"]
    assert [run["name"] for run in runs] == ["sequential", "concurrency 16"]
    for run in runs:
        assert run["executions"] == run["inputs"]
        assert run["duplicates"] == 0
        assert run["statuses"] == {"success": run["inputs"]}
    references = {row["detail"]["kind"]: row for row in rows}
    assert references["hand_over"]["median_s"] > 0
    assert references["past_hand_over"]["baseline_median_s"] > 0
    sdk = references["run_many_sdk"]["detail"]
    assert sdk["executions"] == sdk["inputs"] == runs[0]["inputs"]
    assert sdk["duplicates"] == 0
    assert sdk["errors"] == 0
