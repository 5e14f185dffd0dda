"""Benchmarks of zapier_nb: import cost, per-call overhead, refresh under contention, AI Actions,
Zapier MCP.

    .venv/bin/python benchmarks/run.py [--quick] [--markdown PATH] [--json PATH]

Prints a table of medians against baselines measured in the same run. These are
measurements, not pass/fail tests: a missed target is reported, and the exit status
is 0 unless a benchmark could not run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bench_actions
import bench_calls
import bench_import
import bench_mcp
import bench_refresh
import httpx2
import pydantic
from report import Row, render_markdown, render_text

import zapier_nb

PARTS = ("import", "calls", "refresh", "actions", "mcp")


@dataclass
class Plan:
    import_runs: int
    call_rounds: int
    call_batch: int
    call_warmup: int
    refresh_repeats: int
    refresh_callers: tuple[int, ...]
    clock_ttl: float
    actions: bench_actions.Settings
    mcp: bench_mcp.Settings


FULL = Plan(
    import_runs=30,
    call_rounds=40,
    call_batch=25,
    call_warmup=50,
    refresh_repeats=5,
    refresh_callers=(10, 100, 1000),
    clock_ttl=6.0,
    actions=bench_actions.Settings(
        rounds=40,
        batch=25,
        warmup=50,
        table_actions=1000,
        table_repeats=10,
        many_inputs=1000,
        many_latency=0.05,
        many_concurrency=16,
        burst=50,
        expired_callers=100,
    ),
    mcp=bench_mcp.Settings(
        rounds=40,
        batch=25,
        warmup=50,
        tools=1000,
        table_repeats=10,
        many_inputs=1000,
        many_latency=0.05,
        many_concurrency=16,
    ),
)
QUICK = Plan(
    import_runs=5,
    call_rounds=6,
    call_batch=10,
    call_warmup=10,
    refresh_repeats=1,
    refresh_callers=(10, 50),
    clock_ttl=2.0,
    actions=bench_actions.Settings(
        rounds=6,
        batch=10,
        warmup=10,
        table_actions=300,
        table_repeats=2,
        many_inputs=32,
        many_latency=0.02,
        many_concurrency=16,
        burst=8,
        expired_callers=20,
    ),
    mcp=bench_mcp.Settings(
        rounds=6,
        batch=10,
        warmup=10,
        tools=300,
        table_repeats=2,
        many_inputs=32,
        many_latency=0.02,
        many_concurrency=16,
    ),
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Measure zapier_nb's import time, per-call overhead, refresh contention "
        "and AI Actions calls.",
    )
    parser.add_argument("--quick", action="store_true", help="a short run (fewer repetitions)")
    parser.add_argument(
        "--only", action="append", choices=PARTS, help="run only this part (may be repeated)"
    )
    parser.add_argument("--markdown", type=Path, metavar="PATH", help="also write the table here")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write every figure here")
    parser.add_argument(
        "--machine", default=f"{os.cpu_count()} cores", help="a note on the machine, for the header"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser


def _header(plan_name: str, machine: str) -> list[str]:
    return [
        f"zapier_nb {zapier_nb.__version__} benchmarks, {plan_name} run, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"machine: {machine}; {platform.system()} {platform.machine()}; "
        f"Python {platform.python_version()}; httpx2 {httpx2.__version__}; "
        f"pydantic {pydantic.VERSION}",
    ]


def _notes(parts: Sequence[str], plan: Plan, extra: Sequence[str]) -> list[str]:
    notes: list[str] = []
    if "import" in parts:
        notes.append(
            f"import: median of {plan.import_runs} fresh interpreters each, interleaved; only the "
            "statement is timed (interpreter start-up left out); %load_ext is timed in a shell "
            "already built (IPython imported), against importing httpx2 and pydantic there."
        )
    if "calls" in parts:
        notes.append(
            f"per call: sandbox in a child process on loopback; {plan.call_rounds} rounds of "
            f"{plan.call_batch} calls per contender, contenders alternating; connections kept "
            "alive; a bare client also checks the status and decodes the JSON."
        )
    if "refresh" in parts:
        notes.append(
            "refresh: one OAuth session shared by K threads (barrier start) or K asyncio tasks; "
            "'401 path': the sandbox expires the access token server-side "
            "(expire_access_tokens): callers that send the old token are refused once and retry "
            "after the one refresh; "
            f"'clock path': token_ttl={plan.clock_ttl:g} s, the session refreshes before sending. "
            f"Time from release to the last answer; refreshes listed per burst "
            f"({plan.refresh_repeats} burst(s) each). The session's pool allows 100 connections "
            "(20 kept alive): beyond 100 callers the rest queue."
        )
    if "actions" in parts:
        a = plan.actions
        notes.append(
            f"actions: run_action against a bare POST of the same body to the same execute "
            f"endpoint, {a.rounds} rounds of {a.batch}; the table: list_actions() and "
            f"_repr_html_() of {a.table_actions} actions, median of {a.table_repeats}; run_many: "
            f"{a.many_inputs} inputs, {a.many_latency * 1000:g} ms injected per call, the 429 "
            f"burst is {a.burst} answers with Retry-After 0.2 s; expired token: "
            f"{a.expired_callers} asyncio tasks after expire_access_tokens()."
        )
    if "mcp" in parts:
        notes.append(bench_mcp.note(plan.mcp))
    if "calls" in parts or "refresh" in parts or "actions" in parts or "mcp" in parts:
        notes.append("sandbox: served from a child process, so it does not share the GIL.")
    return notes + list(extra)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    plan = QUICK if args.quick else FULL
    parts = args.only or list(PARTS)

    def log(message: str) -> None:
        if not args.quiet:
            print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    rows: list[Row] = []
    extra_notes: list[str] = []
    if "import" in parts:
        log("import ...")
        rows += bench_import.rows(bench_import.measure(plan.import_runs, log))
    if "calls" in parts:
        log("per-call overhead ...")
        settings = bench_calls.Settings(plan.call_rounds, plan.call_batch, plan.call_warmup)
        groups = bench_calls.measure(settings, log)
        rows += bench_calls.rows(groups, settings)
        extra_notes += bench_calls.skipped_notes(groups)
    if "refresh" in parts:
        log("refresh under contention ...")
        refresh_settings = bench_refresh.Settings(
            plan.refresh_callers, plan.refresh_repeats, plan.clock_ttl
        )
        results = bench_refresh.measure(refresh_settings, log)
        rows += bench_refresh.rows(results, refresh_settings)
    if "actions" in parts:
        log("AI Actions ...")
        rows += bench_actions.measure(plan.actions, log)
    if "mcp" in parts:
        log("Zapier MCP ...")
        rows += bench_mcp.measure(plan.mcp, log)
    elapsed = time.perf_counter() - started

    plan_name = "quick" if args.quick else "full"
    header = _header(plan_name, args.machine)
    notes = _notes(parts, plan, extra_notes)
    print("\n".join(header))
    print()
    print(render_text(rows))
    print()
    print("\n".join(f"* {note}" for note in notes))
    print(f"(took {elapsed:.0f} s)")

    if args.markdown:
        command = ".venv/bin/python benchmarks/run.py" + (" --quick" if args.quick else "")
        text = "\n".join(
            [
                *(f"{line}  " for line in header),
                f"reproduce: `{command}`",
                "",
                render_markdown(rows),
                "",
                *(f"* {note}" for note in notes),
                "",
            ]
        )
        args.markdown.write_text(text, encoding="utf-8")
    if args.json:
        document: dict[str, Any] = {
            "header": header,
            "plan": plan_name,
            "parts": parts,
            "seconds": elapsed,
            "rows": [row.as_json() for row in rows],
            "notes": notes,
        }
        args.json.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
