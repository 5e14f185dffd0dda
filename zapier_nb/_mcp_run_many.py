"""`MCPSession.run_many`: one tool call per input, a bounded number at a time.

The rules are those of AI Actions' `run_many` (`_run_many`), whose stop flag, rate-limit
gate, concurrency check and fatal errors this reuses: a failed input does not stop the
others; credentials that stop working stop the run; a 429 with a long or unstated wait
holds every worker back, then the input is sent again (the server did not act on it).
A first interrupt stops new calls and waits for those already sent; a second gives up on
them, and their rows say the tool may have run.

The calls run as tasks on the session's private loop; the caller's thread (or loop)
waits, shows the progress and passes interrupts on (`drive` and `adrive`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._errors import (
    APIConnectionError,
    ConfigurationError,
    RateLimitError,
    ToolError,
    ZapierError,
)
from ._interactive import Progress, progress_bar
from ._mcp_loop import LoopThread
from ._mcp_results import ToolResult, ToolRunResult, ToolRunRow
from ._run_many import (
    FATAL_ERRORS,
    NOT_SENT,
    Run,
    check_concurrency,
    is_missing,
    rows_of,
    run_ending,
)

__all__ = ["Job", "RunEngine", "adrive", "check_concurrency", "drive", "jobs_from", "new_bar"]

_TICK = 0.1
_LOST = "interrupted while its call was in flight: the tool may have run"
Call = Callable[[dict[str, Any]], Awaitable[ToolResult]]


@dataclass(frozen=True)
class Job:
    index: int
    arguments: dict[str, Any]


def jobs_from(inputs: Any, shared: Mapping[str, Any] | None) -> list[Job]:
    """Each input is the tool's arguments: a mapping, or a DataFrame row (empty cells left
    out). `shared` arguments apply to every input, under the input's own."""
    if isinstance(inputs, str | bytes | Mapping):
        raise ConfigurationError(
            "run_many takes many inputs (a list of argument dicts, or a DataFrame), not one; "
            "use call_tool for a single call."
        )
    jobs = []
    for index, item in enumerate(rows_of(inputs)):
        if not isinstance(item, Mapping):
            raise ConfigurationError(
                f"Input {index} is a {type(item).__name__}; give each input as the tool's "
                "arguments (a dict, or a DataFrame row)."
            )
        arguments = dict(shared or {})
        arguments.update({str(k): v for k, v in item.items() if not is_missing(v)})
        jobs.append(Job(index, arguments))
    return jobs


class RunEngine:
    """The run itself, on the private loop; `interrupt()` may be called from any thread."""

    def __init__(self, call: Call, tool: str, jobs: list[Job], *, concurrency: int, max_waits: int):
        self._call = call
        self._tool = tool
        self._jobs = jobs
        self._concurrency = concurrency
        self._run = Run(max_waits)
        self._lock = threading.Lock()
        self._rows: dict[int, ToolRunRow] = {}
        self._failed = 0
        self._in_flight: set[int] = set()
        self._lost: set[int] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self.interrupted = False

    def progress(self) -> tuple[int, int]:
        with self._lock:
            return len(self._rows), self._failed

    def interrupt(self) -> None:
        """Stop sending; the calls already sent are waited for."""
        self.interrupted = True
        self._run.stop.set()

    def abandon(self) -> None:
        """Stop waiting for the calls already sent (on the loop's thread)."""
        self._lost |= self._in_flight
        for task in self._tasks:
            task.cancel()

    def _add(self, row: ToolRunRow) -> None:
        with self._lock:
            self._rows[row.index] = row
            if row.status in ("error", "unknown"):
                self._failed += 1

    def _failure(self, job: Job, exc: ZapierError) -> ToolRunRow:
        if isinstance(exc, FATAL_ERRORS):
            if self._run.fatal is None:
                self._run.fatal = exc.message
            self._run.stop.set()
        if isinstance(exc, APIConnectionError):
            return ToolRunRow(job.index, job.arguments, "unknown", exc.message)
        return ToolRunRow(job.index, job.arguments, "error", exc.message)

    async def _work(self, job: Job, slots: asyncio.Semaphore) -> None:
        run = self._run
        async with slots:
            for _ in range(run.max_waits + 1):
                while (pause := run.gate.delay()) > 0 and not run.stop.is_set():
                    await asyncio.sleep(min(pause, _TICK))
                if run.stop.is_set():
                    return
                self._in_flight.add(job.index)
                try:
                    result = await self._call(job.arguments)
                except ToolError as exc:
                    self._add(
                        ToolRunRow(job.index, job.arguments, "error", exc.text or exc.message)
                    )
                except RateLimitError as exc:
                    run.gate.hold(exc.retry_after)
                    continue
                except ZapierError as exc:
                    self._add(self._failure(job, exc))
                else:
                    self._add(ToolRunRow(job.index, job.arguments, "success", None, result))
                finally:
                    self._in_flight.discard(job.index)
                return
            waits = run.max_waits
            self._add(
                ToolRunRow(
                    job.index,
                    job.arguments,
                    "error",
                    f"Still rate limited (HTTP 429) after waiting {waits} times; it did not run.",
                )
            )

    async def execute(self) -> ToolRunResult:
        started = time.monotonic()
        slots = asyncio.Semaphore(self._concurrency)
        self._tasks = [asyncio.ensure_future(self._work(job, slots)) for job in self._jobs]
        if self._tasks:
            await asyncio.wait(self._tasks)
        rows = []
        for job in self._jobs:
            row = self._rows.get(job.index)
            if row is None and job.index in self._lost:
                row = ToolRunRow(job.index, job.arguments, "unknown", _LOST)
            elif row is None:
                reason = "interrupted before it was sent" if self.interrupted else NOT_SENT
                row = ToolRunRow(job.index, job.arguments, "not_run", reason)
            rows.append(row)
        return ToolRunResult(
            rows,
            tool=self._tool,
            interrupted=self.interrupted,
            stopped_by=self._run.fatal,
            seconds=time.monotonic() - started,
        )


def _finish(bar: Progress, result: ToolRunResult) -> ToolRunResult:
    ok = (
        not result.interrupted
        and result.stopped_by is None
        and not (result.counts["error"] or result.counts["unknown"])
    )
    stopped = result.interrupted or result.stopped_by is not None
    bar.close(run_ending(result, stopped), result.summary(), ok=ok)
    return result


def drive(loop: LoopThread, engine: RunEngine, bar: Progress) -> ToolRunResult:
    """Wait in the caller's thread: progress every tick; interrupts stop, then abandon."""
    future = loop.submit(engine.execute())
    interrupts = 0
    while True:
        try:
            result = future.result(timeout=_TICK)
        except concurrent.futures.TimeoutError:
            bar.update(*engine.progress())
            continue
        except KeyboardInterrupt:
            interrupts += 1
            if interrupts == 1:
                engine.interrupt()
            else:
                loop.call_soon(engine.abandon)
            continue
        return _finish(bar, result)


async def adrive(loop: LoopThread, engine: RunEngine, bar: Progress) -> ToolRunResult:
    """The same from the caller's event loop: cancelling the caller stops, then abandons."""
    waiting = asyncio.wrap_future(loop.submit(engine.execute()))
    interrupts = 0
    while True:
        try:
            done, _ = await asyncio.wait({waiting}, timeout=_TICK)
        except (asyncio.CancelledError, KeyboardInterrupt) as exc:
            current = asyncio.current_task()
            if isinstance(exc, asyncio.CancelledError) and current is not None:
                current.uncancel()
            interrupts += 1
            if interrupts == 1:
                engine.interrupt()
            else:
                loop.call_soon(engine.abandon)
            continue
        if done:
            return _finish(bar, waiting.result())
        bar.update(*engine.progress())


def new_bar(total: int, *, show: bool | None, tool: str) -> Progress:
    return progress_bar(total, show=show, description=tool)
