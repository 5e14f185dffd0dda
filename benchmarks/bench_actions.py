"""Part 4: AI Actions. What `run_action()` adds to a bare POST, how big and how quick the
`%zapier_actions` table of many actions is, what `run_many` gains from concurrency, and
what an expired token costs 100 concurrent runs.

The sandbox runs in a child process. Counts come from the sandbox: executions,
requests, refreshes, and how many times each instruction text ran (duplicates).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import bench_calls
import httpx2
from report import Row, format_seconds, median
from sandbox_process import SandboxProcess

import zapier_nb

CALL_TARGET = 1.05
INSTRUCTIONS = "Find the customer ada@example.com"
LOOKUP = "lookup row"


@dataclass
class Settings:
    rounds: int
    batch: int
    warmup: int
    table_actions: int
    table_repeats: int
    many_inputs: int
    many_latency: float
    many_concurrency: int
    burst: int
    expired_callers: int


def _per_call(sandbox: SandboxProcess, settings: Settings) -> list[Row]:
    calls = bench_calls.Settings(settings.rounds, settings.batch, settings.warmup)
    with zapier_nb.Session(api_key=sandbox.api_key, base_url=sandbox.base_url) as session:
        action_id = session.find_action(LOOKUP).id
        url = f"{sandbox.base_url}/api/v2/ai-actions/{action_id}/execute/"
        body = {"instructions": INSTRUCTIONS}
        with httpx2.Client(headers={"x-api-key": sandbox.api_key}) as bare:

            def post() -> object:
                response = bare.post(url, json=body)
                response.raise_for_status()
                return response.json()

            sync = bench_calls.interleave(
                {"session.run_action()": lambda: session.run_action(action_id, INSTRUCTIONS),
                 "bare": post},
                calls,
            )  # fmt: skip

        async def measure_async() -> dict[str, list[float]]:
            async with httpx2.AsyncClient(headers={"x-api-key": sandbox.api_key}) as abare:

                async def apost() -> object:
                    response = await abare.post(url, json=body)
                    response.raise_for_status()
                    return response.json()

                async def arun() -> object:
                    return await session.arun_action(action_id, INSTRUCTIONS)

                try:
                    return await bench_calls.ainterleave(
                        {"await session.arun_action()": arun, "bare": apost}, calls
                    )
                finally:
                    await session.aclose()

        asynchronous = asyncio.run(measure_async())
    rows = []
    for measurement, per_call, contender, bare_name in (
        ("run_action, API key, sync", sync, "session.run_action()", "httpx2.Client POST"),
        ("run_action, API key, async", asynchronous, "await session.arun_action()",
         "httpx2.AsyncClient POST"),
    ):  # fmt: skip
        values, base = per_call[contender], per_call["bare"]
        ratio = median(values) / median(base)
        rows.append(
            Row(
                section="actions",
                measurement=measurement,
                contender=contender,
                median_s=median(values),
                baseline=f"{bare_name} of the same body",
                baseline_median_s=median(base),
                target=f"<= {CALL_TARGET:.2f}x",
                met=ratio <= CALL_TARGET,
                detail={"kind": "per_call", "rounds": settings.rounds, "batch": settings.batch},
            )
        )
    return rows


def _table(sandbox: SandboxProcess, settings: Settings) -> list[Row]:
    total = sandbox.add_actions(settings.table_actions - 3)
    with zapier_nb.Session(api_key=sandbox.api_key, base_url=sandbox.base_url) as session:
        fetch, build, bare_fetch = [], [], []
        html = ""
        actions: Any = None
        with httpx2.Client(headers={"x-api-key": sandbox.api_key}) as bare:
            url = f"{sandbox.base_url}/api/v2/ai-actions/"
            for _ in range(settings.table_repeats):
                started = time.perf_counter()
                bare.get(url).json()
                bare_fetch.append(time.perf_counter() - started)
                started = time.perf_counter()
                actions = session.list_actions()
                fetch.append(time.perf_counter() - started)
                started = time.perf_counter()
                html = actions._repr_html_()
                build.append(time.perf_counter() - started)
    shown = html.count("<tr>") - 1
    detail = {
        "kind": "table",
        "actions": total,
        "listed": len(actions),
        "rows_shown": shown,
        "html_bytes": len(html.encode()),
        "count_line": "Showing" in html,
    }
    size = f"{len(html.encode()) / 1024:.0f} KiB, {shown} of {len(actions)} rows shown"
    return [
        Row(
            section="actions",
            measurement=f"%zapier_actions, {total} actions: list_actions()",
            contender="session.list_actions()",
            median_s=median(fetch),
            baseline="httpx2 GET + .json()",
            baseline_median_s=median(bare_fetch),
            target="-",
            met=None,
            detail=detail,
        ),
        Row(
            section="actions",
            measurement=f"%zapier_actions, {total} actions: HTML table",
            contender=f"_repr_html_() ({size})",
            median_s=median(build),
            baseline="",
            baseline_median_s=None,
            target="capped, with a count line",
            met=shown < len(actions) and detail["count_line"] is True,
            detail=detail,
        ),
    ]


def _run_many(sandbox: SandboxProcess, settings: Settings, log: Callable[[str], None]) -> list[Row]:
    n, k = settings.many_inputs, settings.many_concurrency
    sandbox.set_latency(settings.many_latency)
    outcomes: dict[str, dict[str, Any]] = {}
    with zapier_nb.Session(api_key=sandbox.api_key, base_url=sandbox.base_url) as session:
        action = session.find_action(LOOKUP)
        for name, concurrency, burst in (
            ("sequential", 1, 0),
            (f"concurrency {k}", k, 0),
            (f"concurrency {k}, 429 burst", k, settings.burst),
        ):
            log(f"  run_many: {name}")
            sandbox.reset()
            sandbox.set_latency(settings.many_latency)
            if burst:
                sandbox.fail_next("execute", status=429, retry_after=0.2, times=burst)
            inputs = [f"Find ada@example.com #{i}" for i in range(n)]
            started = time.perf_counter()
            result = session.run_many(action, inputs, concurrency=concurrency, progress=False)
            seconds = time.perf_counter() - started
            executed = sandbox.executed_instructions()
            outcomes[name] = {
                "seconds": seconds,
                "executions": sandbox.execution_count(),
                "duplicates": sum(c - 1 for c in executed.values() if c > 1),
                "statuses": dict(result.counts),
                "inputs": n,
                "rate_limited": burst,
            }
    sandbox.set_latency(0)
    sequential = outcomes["sequential"]["seconds"]
    rows = []
    for name, outcome in outcomes.items():
        exact = outcome["executions"] == n and outcome["duplicates"] == 0
        rows.append(
            Row(
                section="actions",
                measurement=f"run_many, {n} inputs, {settings.many_latency * 1000:g} ms per call",
                contender=f"{name} ({sequential / outcome['seconds']:.1f}x as fast; executions: "
                f"{outcome['executions']}, duplicates: {outcome['duplicates']})",
                median_s=outcome["seconds"],
                median_text=f"{outcome['seconds']:.2f} s",
                baseline="sequential" if name != "sequential" else "",
                baseline_median_s=sequential if name != "sequential" else None,
                target=f"exactly {n} executions" + ("" if name == "sequential" else f", <= {k}x"),
                met=exact,
                detail={
                    "kind": "run_many",
                    "name": name,
                    "concurrency": k,
                    **outcome,
                    "speedup": sequential / outcome["seconds"],
                },
            )
        )
    return rows


def _expired(sandbox: SandboxProcess, settings: Settings) -> list[Row]:
    sandbox.reset()
    callers = settings.expired_callers
    session = bench_calls.oauth_session(sandbox)
    action_id = session.find_action(LOOKUP).id
    refreshes_before = sandbox.count("token:refresh_token")
    executes_before = sandbox.count("execute")
    sandbox.expire_access_tokens()

    async def burst() -> tuple[float, int]:
        try:
            started = time.perf_counter()
            results = await asyncio.gather(
                *(session.arun_action(action_id, f"Find ada@example.com #{i}")
                  for i in range(callers)),
                return_exceptions=True,
            )  # fmt: skip
            seconds = time.perf_counter() - started
        finally:
            await session.aclose()
        return seconds, sum(1 for r in results if isinstance(r, BaseException))

    seconds, failures = asyncio.run(burst())
    session.close()
    refreshes = sandbox.count("token:refresh_token") - refreshes_before
    executed = sandbox.executed_instructions()
    duplicates = sum(c - 1 for c in executed.values() if c > 1)
    executions = sandbox.execution_count()
    detail = {
        "kind": "expired",
        "callers": callers,
        "refreshes": refreshes,
        "executions": executions,
        "duplicates": duplicates,
        "failures": failures,
        "execute_requests": sandbox.count("execute") - executes_before,
    }
    return [
        Row(
            section="actions",
            measurement="expired token, concurrent arun_action",
            contender=f"{callers} tasks (refreshes: {refreshes}, executions: {executions}, "
            f"duplicates: {duplicates})",
            median_s=seconds,
            baseline="",
            baseline_median_s=None,
            target=f"1 refresh, {callers} executions, 0 duplicates",
            met=refreshes == 1 and executions == callers and duplicates == 0 and not failures,
            median_text=format_seconds(seconds),
            detail=detail,
        )
    ]


def measure(settings: Settings, log: Callable[[str], None]) -> list[Row]:
    with SandboxProcess() as sandbox:
        log("  actions: per-call overhead")
        rows = _per_call(sandbox, settings)
        log("  actions: run_many")
        rows += _run_many(sandbox, settings, log)
        log("  actions: expired token")
        rows += _expired(sandbox, settings)
        log(f"  actions: table of {settings.table_actions} actions")
        sandbox.reset()
        rows += _table(sandbox, settings)
    return rows
