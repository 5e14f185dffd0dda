"""`run_many`: one action run per input, a bounded number at a time, with progress.

Rules:

* At most `concurrency` requests are in flight. An input is sent again only when the
  server said it did not run it: the transport waits out a `Retry-After` of a few seconds
  on a 429 or 503 by itself; a longer or unstated wait on a 429 is taken here, by every
  worker together, before sending again.
* A failed input does not stop the others; its row says why. Credentials that stop
  working (401 after the refresh, 403, a login that ended) stop the run instead.
* An interrupt (Ctrl+C, the notebook's stop button, cancelling the task) stops new
  requests. Requests already sent are waited for, because the server may act on them;
  a second interrupt stops waiting. What finished is returned, and the result says how
  many inputs did not run.
* Every input ends as a row with a result or an error, whatever went wrong.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, Protocol

from . import _actions
from ._action_models import AiAction, ParamConstraint, constraints_from
from ._config import DEFAULT_CONCURRENCY
from ._errors import (
    APIConnectionError,
    AuthenticationError,
    ConfigurationError,
    LoginRequiredError,
    PermissionDeniedError,
    RateLimitError,
    ZapierError,
)
from ._interactive import Progress, progress_bar
from ._results import ActionResult, RunManyResult, RunRow
from ._tables import cell_text

__all__ = [
    "DEFAULT_CONCURRENCY",
    "FATAL_ERRORS",
    "NOT_SENT",
    "ActionSession",
    "Outcome",
    "Run",
    "arun_many",
    "check_concurrency",
    "is_missing",
    "rows_of",
    "run_ending",
    "run_many",
]

logger = logging.getLogger("zapier_nb")

MAX_CONCURRENCY = 100  # the session's connection pool
DEFAULT_RATE_LIMIT_WAIT = 1.0
MAX_RATE_LIMIT_WAIT = 60.0
_TICK = 0.1

FATAL_ERRORS = (AuthenticationError, PermissionDeniedError, LoginRequiredError)


class ActionSession(Protocol):
    """What `run_many` uses of a session: its public AI Actions methods."""

    def find_action(self, query: str) -> AiAction: ...

    async def afind_action(self, query: str) -> AiAction: ...

    def run_action(
        self,
        action: str | AiAction,
        instructions: str,
        *,
        params: Mapping[str, Any] | None = None,
        preview: bool = False,
    ) -> ActionResult: ...

    async def arun_action(
        self,
        action: str | AiAction,
        instructions: str,
        *,
        params: Mapping[str, Any] | None = None,
        preview: bool = False,
    ) -> ActionResult: ...


@dataclass(frozen=True)
class _Job:
    index: int
    instructions: str
    params: dict[str, ParamConstraint] | None
    given: str  # the input as the table shows it


# -- inputs ---------------------------------------------------------------------------------


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def rows_of(inputs: Any) -> Iterable[Any]:
    if isinstance(inputs, str | bytes):
        raise ConfigurationError(
            "run_many takes many inputs (a list of instructions, or rows), not one string; "
            "use run_action for a single run."
        )
    if hasattr(inputs, "to_dicts"):  # a polars DataFrame
        rows: Iterable[Any] = inputs.to_dicts()
        return rows
    if hasattr(inputs, "to_dict") and hasattr(inputs, "columns"):  # a pandas DataFrame
        rows = inputs.to_dict("records")
        return rows
    if not isinstance(inputs, Iterable):
        raise ConfigurationError(
            f"run_many needs a list of instructions or rows, not a {type(inputs).__name__}."
        )
    return inputs


def jobs_from(inputs: Any, shared: Mapping[str, Any] | None) -> list[_Job]:
    """Every input checked before anything is sent: instructions, and params per row.

    A string is the instructions. A row (a mapping, or a DataFrame row) has an
    `instructions` column; a `params` column holds a mapping of params, and every other
    column is the value of the param it names (empty cells are left out). `shared`
    params apply to every row, under the row's own.
    """
    jobs: list[_Job] = []
    for index, item in enumerate(rows_of(inputs)):
        params: dict[str, Any] = dict(shared or {})
        own: dict[str, Any] = {}
        instructions: Any
        if isinstance(item, str):
            instructions = item
        elif isinstance(item, Mapping):
            instructions = item.get("instructions")
            for key, value in item.items():
                if key not in ("instructions", "params") and not is_missing(value):
                    own[str(key)] = value
            extra = item.get("params")
            if isinstance(extra, Mapping):
                own.update(extra)
            elif not is_missing(extra):
                raise ConfigurationError(f"Input {index}: its params must be a mapping.")
        else:
            raise ConfigurationError(
                f"Input {index} is a {type(item).__name__}; give instructions (a string) or a "
                "row with an 'instructions' column."
            )
        if not isinstance(instructions, str) or not instructions.strip():
            raise ConfigurationError(
                f"Input {index} has no instructions. Each row needs an 'instructions' column "
                "(for a DataFrame: df.assign(instructions=...))."
            )
        params.update(own)
        try:
            constraints = constraints_from(params) if params else None
        except ConfigurationError as exc:
            raise ConfigurationError(f"Input {index}: {exc.message}") from None
        jobs.append(_Job(index, instructions, constraints, _given(instructions, own)))
    return jobs


def _given(instructions: str, own: Mapping[str, Any]) -> str:
    """An input as the table shows it: a row's own values, or the instructions alone."""
    if not own:
        return instructions
    return ", ".join(f"{key}: {cell_text(value)}" for key, value in own.items())


def check_concurrency(concurrency: int) -> int:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ConfigurationError("concurrency must be a whole number of at least 1.")
    if concurrency > MAX_CONCURRENCY:
        raise ConfigurationError(
            f"concurrency may be at most {MAX_CONCURRENCY}, the session's connection pool."
        )
    return concurrency


def _describe(action: AiAction | str) -> str:
    return action.description if isinstance(action, AiAction) else action


# -- one input ------------------------------------------------------------------------------


class _Gate:
    """When the next request may go: pushed back by each 429's Retry-After, for every worker."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._not_before = 0.0

    def hold(self, seconds: float | None) -> None:
        wait_for = DEFAULT_RATE_LIMIT_WAIT if seconds is None else seconds
        until = time.monotonic() + min(max(wait_for, 0.0), MAX_RATE_LIMIT_WAIT)
        with self._lock:
            self._not_before = max(self._not_before, until)

    def delay(self) -> float:
        with self._lock:
            return max(self._not_before - time.monotonic(), 0.0)


def _row(job: _Job, result: ActionResult) -> RunRow:
    status = result.status if result.status in ("success", "error", "empty", "preview") else "error"
    error = result.error
    if status == "error" and not error:
        error = f"the action answered status {result.status!r}"
    return RunRow(job.index, job.instructions, status, error, result, job.given)  # type: ignore[arg-type]


def _failed(job: _Job, exc: ZapierError) -> RunRow:
    if isinstance(exc, APIConnectionError):
        return _unknown(
            job,
            f"{exc.message} The request may have reached the server: check before running it "
            "again.",
        )
    return RunRow(job.index, job.instructions, "error", exc.message, given=job.given)


def _unknown(job: _Job, error: str) -> RunRow:
    return RunRow(job.index, job.instructions, "unknown", error, given=job.given)


def _unexpected(job: _Job, exc: Exception) -> RunRow:
    logger.error("run_many: input %d failed unexpectedly (%s)", job.index, type(exc).__name__)
    return _unknown(
        job,
        f"It failed unexpectedly ({type(exc).__name__}); the request may have reached the "
        "server: check before running it again.",
    )


def _rate_limited(job: _Job, waits: int) -> RunRow:
    return RunRow(
        job.index,
        job.instructions,
        "error",
        f"Still rate limited (HTTP 429) after waiting {waits} times; it did not run.",
        given=job.given,
    )


class Run:
    """What the workers share: the stop flag, the 429 gate, the first fatal error."""

    def __init__(self, max_waits: int) -> None:
        self.stop = threading.Event()
        self.gate = _Gate()
        self.max_waits = max_waits
        self.fatal: str | None = None

    def fail(self, job: _Job, exc: ZapierError) -> RunRow:
        if isinstance(exc, FATAL_ERRORS):
            if self.fatal is None:
                self.fatal = exc.message
            self.stop.set()
        return _failed(job, exc)


def _attempts(
    run: Run, job: _Job, send: Callable[[], ActionResult], sleep: Callable[[float], bool]
) -> RunRow | None:
    for _ in range(run.max_waits + 1):
        while (pause := run.gate.delay()) > 0:
            if not sleep(pause):
                return None
        if run.stop.is_set():
            return None
        try:
            return _row(job, send())
        except RateLimitError as exc:
            run.gate.hold(exc.retry_after)
        except ZapierError as exc:
            return run.fail(job, exc)
        except Exception as exc:  # every input ends as a row, whatever happened
            return _unexpected(job, exc)
    return _rate_limited(job, run.max_waits)


async def _aattempts(
    run: Run, job: _Job, send: Callable[[], Awaitable[ActionResult]], in_flight: set[int]
) -> RunRow | None:
    for _ in range(run.max_waits + 1):
        while (pause := run.gate.delay()) > 0:
            await asyncio.sleep(pause)
        if run.stop.is_set():
            return None
        in_flight.add(job.index)
        try:
            return _row(job, await send())
        except RateLimitError as exc:
            run.gate.hold(exc.retry_after)
        except ZapierError as exc:
            return run.fail(job, exc)
        except Exception as exc:  # every input ends as a row, whatever happened
            return _unexpected(job, exc)
        finally:
            in_flight.discard(job.index)
    return _rate_limited(job, run.max_waits)


# -- the whole run --------------------------------------------------------------------------


class _Tally:
    def __init__(self, jobs: list[_Job], progress: Progress) -> None:
        self.jobs = jobs
        self.rows: dict[int, RunRow] = {}
        self.progress = progress
        self.failed = 0
        self.started = time.monotonic()

    def add(self, row: RunRow | None) -> None:
        if row is None or row.index in self.rows:
            return
        self.rows[row.index] = row
        if row.status in ("error", "unknown"):
            self.failed += 1
        self.progress.update(len(self.rows), self.failed)

    def result(self, action: str, *, interrupted: bool, run: Run, lost: set[int]) -> RunManyResult:
        rows = []
        for job in self.jobs:
            row = self.rows.get(job.index)
            if row is not None:
                rows.append(row)
            elif job.index in lost:
                rows.append(_unknown(job, _LOST))
            else:
                reason = "interrupted before it was sent" if interrupted else NOT_SENT
                rows.append(RunRow(job.index, job.instructions, "not_run", reason, given=job.given))
        outcome = RunManyResult(
            rows,
            action=action,
            interrupted=interrupted,
            stopped_by=run.fatal,
            seconds=time.monotonic() - self.started,
        )
        stopped = interrupted or run.fatal is not None
        ok = not stopped and self.failed == 0
        self.progress.close(run_ending(outcome, stopped), outcome.summary(), ok=ok)
        return outcome


class Outcome(Protocol):
    """What a finished run gives: its rows, each with a status, and how many did not run."""

    @property
    def not_run(self) -> int: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...


def run_ending(outcome: Outcome, stopped: bool) -> str:
    """What happened, in a few words: "Done: 5 ran, 1 failed" or "Stopped: 3 did not run"."""
    if stopped:
        return f"Stopped: {outcome.not_run} did not run"
    failed = sum(1 for row in outcome if row.status in ("error", "unknown"))
    return f"Done: {len(outcome) - failed} ran, {failed} failed"


_LOST = "interrupted while its request was in flight: the action may have run"
NOT_SENT = "not sent: the run stopped when the credentials stopped working"


def run_many(
    session: ActionSession,
    action: AiAction | str,
    inputs: Any,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    preview: bool = False,
    params: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    max_rate_limit_waits: int = 5,
) -> RunManyResult:
    concurrency = check_concurrency(concurrency)
    jobs = jobs_from(inputs, params)
    target = session.find_action(action) if _actions.needs_lookup(action) else action
    run = Run(max_rate_limit_waits)
    tally = _Tally(jobs, progress_bar(len(jobs), show=progress, description=_describe(target)))

    def work(job: _Job) -> RunRow | None:
        def send() -> ActionResult:
            return session.run_action(target, job.instructions, params=job.params, preview=preview)

        return _attempts(run, job, send, lambda pause: not run.stop.wait(pause))

    interrupted = False
    lost: set[int] = set()
    pool = ThreadPoolExecutor(max_workers=min(concurrency, max(len(jobs), 1)))
    futures: dict[Future[RunRow | None], _Job] = {}
    try:
        futures = {pool.submit(work, job): job for job in jobs}
        pending = set(futures)
        while pending and not (run.stop.is_set() and run.fatal):
            done, pending = wait(pending, timeout=_TICK, return_when=FIRST_COMPLETED)
            for future in done:
                tally.add(future.result())
        if run.fatal:
            lost = _drain_started(futures, tally)
    except KeyboardInterrupt:
        interrupted = True
        run.stop.set()
        lost = _drain_started(futures, tally)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return tally.result(_describe(target), interrupted=interrupted, run=run, lost=lost)


def _drain_started(futures: dict[Future[RunRow | None], _Job], tally: _Tally) -> set[int]:
    """Wait for the requests already sent; a second interrupt gives up on them."""
    for future in futures:
        future.cancel()
    started = {f for f in futures if not f.cancelled()}
    try:
        while started:
            done, started = wait(started, timeout=_TICK)
            for future in done:
                tally.add(future.result())
    except KeyboardInterrupt:
        pass
    for future in started:
        if future.done():
            tally.add(future.result())
    return {futures[f].index for f in started if not f.done()}


async def arun_many(
    session: ActionSession,
    action: AiAction | str,
    inputs: Any,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    preview: bool = False,
    params: Mapping[str, Any] | None = None,
    progress: bool | None = None,
    max_rate_limit_waits: int = 5,
) -> RunManyResult:
    concurrency = check_concurrency(concurrency)
    jobs = jobs_from(inputs, params)
    target = await session.afind_action(action) if _actions.needs_lookup(action) else action
    run = Run(max_rate_limit_waits)
    tally = _Tally(jobs, progress_bar(len(jobs), show=progress, description=_describe(target)))
    slots = asyncio.Semaphore(concurrency)
    in_flight: set[int] = set()

    async def work(job: _Job) -> RunRow | None:
        async with slots:

            def send() -> Awaitable[ActionResult]:
                return session.arun_action(
                    target, job.instructions, params=job.params, preview=preview
                )

            return await _aattempts(run, job, send, in_flight)

    tasks: dict[asyncio.Future[RunRow | None], _Job] = {
        asyncio.ensure_future(work(job)): job for job in jobs
    }
    interrupted = False
    lost: set[int] = set()
    try:
        for next_done in asyncio.as_completed(tasks):
            tally.add(await next_done)
            if run.fatal:
                break
    except (asyncio.CancelledError, KeyboardInterrupt) as exc:
        interrupted = True
        run.stop.set()
        current = asyncio.current_task()
        if isinstance(exc, asyncio.CancelledError) and current is not None:
            current.uncancel()
        lost = await _adrain(tasks, in_flight, tally)
    else:
        if run.fatal:
            run.stop.set()
            lost = await _adrain(tasks, in_flight, tally)
    return tally.result(_describe(target), interrupted=interrupted, run=run, lost=lost)


async def _adrain(
    tasks: dict[asyncio.Future[RunRow | None], _Job], in_flight: set[int], tally: _Tally
) -> set[int]:
    sent = [t for t, job in tasks.items() if job.index in in_flight and not t.done()]
    for task, job in tasks.items():
        if job.index not in in_flight:
            task.cancel()
    try:
        if sent:
            await asyncio.wait(sent)
    except (asyncio.CancelledError, KeyboardInterrupt):
        for task in sent:
            task.cancel()
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is None:
            tally.add(task.result())
    return {tasks[t].index for t in sent if not t.done() or t.cancelled()}
