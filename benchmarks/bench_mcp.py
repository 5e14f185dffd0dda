"""Part 5: Zapier MCP. What `MCPSession.call_tool()` adds to the MCP SDK's bare client calling
the same tool, how quick `list_tools()` is with 1,000 tools and how big its table, and what
`run_many` gains from concurrency, with the executions counted by the sandbox.

The sandbox runs in a child process. The bare client is the SDK's own (`streamable_http_client`
and `ClientSession`) on an event loop in this thread; `MCPSession` runs the same SDK on its
private loop thread, so the difference is what zapier_nb adds: the hand-over between threads,
the result objects, and the error bookkeeping. Two reference rows split it: the bare client on
a loop thread of its own, handed each call exactly as `MCPSession` hands its calls over
(`LoopThread.run`), costs the hand-over alone; `call_tool()` against that costs the rest.
`run_many` is set beside the bare client running the same calls in as many asyncio tasks,
which is what the SDK, the sandbox and the machine allow.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from report import Row, median
from sandbox_process import SandboxProcess

import zapier_nb
from zapier_nb._mcp_loop import LoopThread

CALL_TARGET = 1.05
SPEEDUP_TARGET = 12.0
ECHO = "bench_tool_0001"
EMAIL = "gmail_send_email"


@dataclass
class Settings:
    rounds: int
    batch: int
    warmup: int
    tools: int
    table_repeats: int
    many_inputs: int
    many_latency: float
    many_concurrency: int


@contextlib.asynccontextmanager
async def _sdk_session(url: str, token: str) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=60) as client,
        streamable_http_client(url, http_client=client) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        yield session


class BareClient:
    """The SDK's client, held open by a task on an event loop that this thread drives."""

    def __init__(self, url: str, token: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._url, self._token = url, token
        self._ready: asyncio.Future[ClientSession] = self.loop.create_future()
        self._done = asyncio.Event()
        self._holder = self.loop.create_task(self._hold())
        self.session = self.loop.run_until_complete(self._ready)

    async def _hold(self) -> None:
        async with _sdk_session(self._url, self._token) as session:
            self._ready.set_result(session)
            await self._done.wait()

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        self._done.set()
        with contextlib.suppress(Exception):
            self.loop.run_until_complete(self._holder)
        self.loop.close()


class ThreadedBareClient:
    """The SDK's client on a loop thread of its own (`LoopThread`, as `MCPSession` has),
    each call handed over by `LoopThread.run` as `MCPSession.call_tool` hands its own."""

    def __init__(self, url: str, token: str) -> None:
        self._thread = LoopThread("bench-bare-sdk")
        self._ready: concurrent.futures.Future[ClientSession] = concurrent.futures.Future()
        self._done: asyncio.Event | None = None
        self._holder = self._thread.submit(self._hold(url, token))
        self.session = self._ready.result(timeout=60)

    async def _hold(self, url: str, token: str) -> None:
        self._done = asyncio.Event()
        try:
            async with _sdk_session(url, token) as session:
                self._ready.set_result(session)
                await self._done.wait()
        except BaseException as exc:
            if not self._ready.done():
                self._ready.set_exception(exc)
            raise

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return self._thread.run(coro)

    def close(self) -> None:
        if self._done is not None:
            self._thread.call_soon(self._done.set)
        with contextlib.suppress(Exception):
            self._holder.result(timeout=10)
        self._thread.close()


@contextlib.contextmanager
def _bare(url: str, token: str) -> Any:
    client = BareClient(url, token)
    try:
        yield client
    finally:
        client.close()


def _interleave(
    contenders: dict[str, Callable[[int], None]], settings: Settings
) -> dict[str, list[float]]:
    """Each contender runs `batch` calls per round; rounds alternate which goes first."""
    names = list(contenders)
    for name in names:
        contenders[name](settings.warmup)
    per_call: dict[str, list[float]] = {name: [] for name in names}
    for round_index in range(settings.rounds):
        order = names if round_index % 2 == 0 else names[::-1]
        for name in order:
            gc.collect()
            started = time.perf_counter()
            contenders[name](settings.batch)
            per_call[name].append((time.perf_counter() - started) / settings.batch)
    return per_call


def _per_call(sandbox: SandboxProcess, url: str, token: str, settings: Settings) -> list[Row]:
    arguments = {"text": "hello"}
    threaded = ThreadedBareClient(url, token)
    with (
        contextlib.closing(threaded),
        zapier_nb.MCPSession(token=token, url=url) as mcp,
        _bare(url, token) as bare,
    ):

        def ours(count: int) -> None:
            for _ in range(count):
                mcp.call_tool(ECHO, arguments)

        def theirs(count: int) -> None:
            async def calls() -> None:
                for _ in range(count):
                    result = await bare.session.call_tool(ECHO, arguments)
                    assert not result.is_error

            bare.run(calls())

        def handed_over(count: int) -> None:
            for _ in range(count):
                result = threaded.run(threaded.session.call_tool(ECHO, arguments))
                assert not result.is_error

        def ours_async(count: int) -> None:
            async def calls() -> None:
                for _ in range(count):
                    await mcp.acall_tool(ECHO, arguments)

            bare.run(calls())  # awaited from a loop of this thread, as in a notebook cell

        sync = _interleave(
            {"mcp.call_tool()": ours, "bare": theirs, "threaded": handed_over}, settings
        )
        asynchronous = _interleave({"await mcp.acall_tool()": ours_async, "bare": theirs}, settings)
    rows = []
    for measurement, per_call, contender in (
        ("call_tool, connection token, sync", sync, "mcp.call_tool()"),
        ("call_tool, connection token, async", asynchronous, "await mcp.acall_tool()"),
    ):
        values, base = per_call[contender], per_call["bare"]
        ratio = median(values) / median(base)
        rows.append(
            Row(
                section="mcp",
                measurement=measurement,
                contender=contender,
                median_s=median(values),
                baseline="the SDK's ClientSession.call_tool() on the same tool",
                baseline_median_s=median(base),
                target=f"<= {CALL_TARGET:.2f}x",
                met=ratio <= CALL_TARGET,
                detail={"kind": "per_call", "rounds": settings.rounds, "batch": settings.batch},
            )
        )
    threaded_s, bare_s, ours_s = (
        median(sync[name]) for name in ("threaded", "bare", "mcp.call_tool()")
    )
    rows += [
        Row(
            section="mcp",
            measurement="call_tool, the thread hand-over alone (for reference)",
            contender="the SDK's ClientSession.call_tool() on a loop thread, via LoopThread.run",
            median_s=threaded_s,
            baseline="the SDK's ClientSession.call_tool() on the same tool",
            baseline_median_s=bare_s,
            target="-",
            met=None,
            detail={"kind": "hand_over", "rounds": settings.rounds, "batch": settings.batch},
        ),
        Row(
            section="mcp",
            measurement="call_tool, what zapier_nb adds past the hand-over (for reference)",
            contender="mcp.call_tool()",
            median_s=ours_s,
            baseline="the SDK's ClientSession on a loop thread, via LoopThread.run",
            baseline_median_s=threaded_s,
            target="-",
            met=None,
            detail={"kind": "past_hand_over", "rounds": settings.rounds, "batch": settings.batch},
        ),
    ]
    return rows


def _tools(sandbox: SandboxProcess, url: str, token: str, settings: Settings) -> list[Row]:
    sandbox.mcp("add_tools", settings.tools - 3)
    fetch, build, bare_fetch = [], [], []
    html, tools = "", None
    with zapier_nb.MCPSession(token=token, url=url) as mcp, _bare(url, token) as bare:
        mcp.list_tools()
        for _ in range(settings.table_repeats):
            started = time.perf_counter()
            bare.run(bare.session.list_tools())
            bare_fetch.append(time.perf_counter() - started)
            started = time.perf_counter()
            tools = mcp.list_tools()
            fetch.append(time.perf_counter() - started)
            started = time.perf_counter()
            html = tools._repr_html_()
            build.append(time.perf_counter() - started)
    assert tools is not None
    shown = html.count("<tr>") - 1
    detail = {
        "kind": "tools",
        "tools": len(tools),
        "rows_shown": shown,
        "html_bytes": len(html.encode()),
        "count_line": "Showing" in html,
    }
    size = f"{len(html.encode()) / 1024:.0f} KiB, {shown} of {len(tools)} rows shown"
    return [
        Row(
            section="mcp",
            measurement=f"list_tools(), {len(tools)} tools",
            contender="mcp.list_tools()",
            median_s=median(fetch),
            baseline="the SDK's ClientSession.list_tools()",
            baseline_median_s=median(bare_fetch),
            target="-",
            met=None,
            detail=detail,
        ),
        Row(
            section="mcp",
            measurement=f"%zapier_tools, {len(tools)} tools: HTML table",
            contender=f"_repr_html_() ({size})",
            median_s=median(build),
            baseline="",
            baseline_median_s=None,
            target="capped, with a count line",
            met=shown < len(tools) and detail["count_line"] is True,
            detail=detail,
        ),
    ]


def _run_many(
    sandbox: SandboxProcess, url: str, token: str, settings: Settings, log: Callable[[str], None]
) -> list[Row]:
    n, k = settings.many_inputs, settings.many_concurrency
    outcomes: dict[str, dict[str, Any]] = {}
    rows_in = [{"to": f"person{i}@example.com"} for i in range(n)]
    with zapier_nb.MCPSession(token=token, url=url) as mcp:
        mcp.list_tools()
        for name, concurrency in (("sequential", 1), (f"concurrency {k}", k)):
            log(f"  MCP run_many: {name}")
            sandbox.reset()
            sandbox.mcp("latency", settings.many_latency)
            started = time.perf_counter()
            result = mcp.run_many(EMAIL, rows_in, concurrency=concurrency, progress=False)
            seconds = time.perf_counter() - started
            sent = sandbox.mcp("sent_emails")
            outcomes[name] = {
                "seconds": seconds,
                "executions": sandbox.mcp("execution_count"),
                "duplicates": len(sent) - len({message["to"] for message in sent}),
                "statuses": dict(result.counts),
                "inputs": n,
            }
    log(f"  MCP run_many: the SDK alone, {k} tasks")
    sdk = _sdk_many(sandbox, url, token, rows_in, settings)
    sandbox.reset()
    sequential = outcomes["sequential"]["seconds"]
    rows = []
    for name, outcome in outcomes.items():
        speedup = sequential / outcome["seconds"]
        exact = outcome["executions"] == n and outcome["duplicates"] == 0
        fast = name == "sequential" or speedup >= SPEEDUP_TARGET
        rows.append(
            Row(
                section="mcp",
                measurement=f"MCP run_many, {n} calls, {settings.many_latency * 1000:g} ms each",
                contender=f"{name} ({speedup:.1f}x as fast; executions: {outcome['executions']}, "
                f"duplicates: {outcome['duplicates']})",
                median_s=outcome["seconds"],
                median_text=f"{outcome['seconds']:.2f} s",
                baseline="sequential" if name != "sequential" else "",
                baseline_median_s=sequential if name != "sequential" else None,
                target=f"exactly {n} executions"
                + ("" if name == "sequential" else f", >= {SPEEDUP_TARGET:g}x"),
                met=exact and fast,
                detail={
                    "kind": "run_many",
                    "name": name,
                    "concurrency": k,
                    **outcome,
                    "speedup": speedup,
                },
            )
        )
    speedup = sequential / sdk["seconds"]
    rows.append(
        Row(
            section="mcp",
            measurement=f"MCP run_many, {n} calls, {settings.many_latency * 1000:g} ms each",
            contender=f"the SDK alone, {k} asyncio tasks, for reference ({speedup:.1f}x as fast; "
            f"executions: {sdk['executions']}, duplicates: {sdk['duplicates']})",
            median_s=sdk["seconds"],
            median_text=f"{sdk['seconds']:.2f} s",
            baseline="run_many sequential",
            baseline_median_s=sequential,
            target="-",
            met=None,
            detail={"kind": "run_many_sdk", "concurrency": k, **sdk, "speedup": speedup},
        )
    )
    return rows


def _sdk_many(
    sandbox: SandboxProcess,
    url: str,
    token: str,
    rows_in: list[dict[str, Any]],
    settings: Settings,
) -> dict[str, Any]:
    """The same calls through the bare client, `many_concurrency` asyncio tasks at a time."""
    sandbox.reset()
    sandbox.mcp("latency", settings.many_latency)
    with _bare(url, token) as bare:

        async def calls() -> list[bool]:
            slots = asyncio.Semaphore(settings.many_concurrency)

            async def one(arguments: dict[str, Any]) -> bool:
                async with slots:
                    return bool((await bare.session.call_tool(EMAIL, arguments)).is_error)

            return await asyncio.gather(*(one(arguments) for arguments in rows_in))

        started = time.perf_counter()
        errors = bare.run(calls())
        seconds = time.perf_counter() - started
    sent = sandbox.mcp("sent_emails")
    return {
        "seconds": seconds,
        "executions": sandbox.mcp("execution_count"),
        "duplicates": len(sent) - len({message["to"] for message in sent}),
        "errors": sum(errors),
        "inputs": len(rows_in),
    }


def measure(settings: Settings, log: Callable[[str], None]) -> list[Row]:
    with SandboxProcess() as sandbox:
        served = sandbox.mcp("settings")
        url, token = served["ZAPIER_MCP_URL"], served["ZAPIER_MCP_TOKEN"]
        sandbox.mcp("add_tools", 1)
        log("  MCP call_tool ...")
        rows = _per_call(sandbox, url, token, settings)
        log("  MCP list_tools ...")
        rows += _tools(sandbox, url, token, settings)
        rows += _run_many(sandbox, url, token, settings, log)
    return rows


def note(settings: Settings) -> str:
    return (
        f"mcp: call_tool against the MCP SDK's own ClientSession calling the same echo tool over "
        f"the same sandbox, {settings.rounds} rounds of {settings.batch}, alternating; "
        f"list_tools() and _repr_html_() of {settings.tools} tools, median of "
        f"{settings.table_repeats}; run_many: {settings.many_inputs} calls of gmail_send_email, "
        f"{settings.many_latency * 1000:g} ms injected per call, executions counted by the "
        "sandbox; the sandbox's MCP server is the SDK's, in the child process. Reference rows: "
        "the bare client on a loop thread, handed each call by zapier_nb's LoopThread.run (the "
        "hand-over alone, in the same rounds as the sync row), and the bare client making the "
        f"run_many calls in {settings.many_concurrency} asyncio tasks."
    )
