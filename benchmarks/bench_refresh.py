"""Part 3: K concurrent callers meet an expired OAuth token.

One OAuth session, logged in to the sandbox (in a child process), is shared by K
threads (a `ThreadPoolExecutor` of K workers released together by a barrier) or by
K asyncio tasks (`asyncio.gather`, one event loop for the whole part). Each burst
counts the refresh requests the sandbox received (target: exactly one) and times
from the release until the last caller has its answer.

Two ways for the token to expire:

* ``401``: `expire_access_tokens()` on the sandbox. The session still believes its
  token is good, so the callers that send before the refresh are refused once and
  retry after the one refresh. Baseline: a single caller doing the same (401,
  refresh, call).
* ``clock``: a short `token_ttl`. The session refreshes before sending because the
  token is within half its lifetime of expiry. Baseline: a single caller doing the
  same (refresh, call). Each burst first waits out half a token lifetime, then a
  few requests that touch no token warm things up after the idle wait.

``fresh`` bursts (a token nowhere near expiry, no refresh expected) give the scale
of K calls on their own. The session keeps httpx's default pool (at most 100
connections, 20 kept alive), so beyond 100 callers the rest queue for a connection.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import httpx2
from report import Row, format_seconds, median
from sandbox_process import SandboxProcess

import zapier_nb

REFRESH_KEY = "token:refresh_token"
CHECK_KEY = "check"
KINDS = ("threads", "tasks")
MODES = ("401", "clock", "fresh")
_MARGIN = 0.05
_STUCK_TIMEOUT = 300.0
_WAKE_PATH = "/benchmark-wake-up/"


@dataclass
class Settings:
    callers: Sequence[int]
    repeats: int
    clock_ttl: float
    burst_timeout: float = 20.0


@dataclass
class Outcome:
    """Every burst of one scenario (mode, kind, callers)."""

    seconds: list[float] = field(default_factory=list)
    refreshes: list[int] = field(default_factory=list)
    checks: list[int] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    unfinished: int = 0


Results = dict[tuple[str, str, int], Outcome]


@dataclass
class Burst:
    """One burst: seconds until the last answer (None: not all answered in time)."""

    seconds: float | None
    failures: Counter[str]


class _Counts:
    def __init__(self, sandbox: SandboxProcess) -> None:
        self._sandbox = sandbox
        self._refreshes = sandbox.count(REFRESH_KEY)
        self._checks = sandbox.count(CHECK_KEY)

    def delta(self) -> tuple[int, int]:
        refreshes = self._sandbox.count(REFRESH_KEY) - self._refreshes
        checks = self._sandbox.count(CHECK_KEY) - self._checks
        return refreshes, checks


def _failure_name(exc: BaseException) -> str:
    return type(exc).__name__


class ThreadCallers:
    """K threads, kept between bursts, released together by a barrier."""

    def __init__(self, session: zapier_nb.Session, callers: Sequence[int], timeout: float) -> None:
        self._session = session
        self._timeout = timeout
        self._pools = {
            k: ThreadPoolExecutor(max_workers=k, thread_name_prefix=f"caller{k}") for k in callers
        }

    def burst(self, callers: int) -> Burst:
        released = [0.0]

        def release() -> None:
            released[0] = time.perf_counter()

        barrier = threading.Barrier(callers, action=release)

        def call() -> float:
            barrier.wait(timeout=self._timeout)
            self._session.check()
            return time.perf_counter()

        pool = self._pools[callers]
        futures = [pool.submit(call) for _ in range(callers)]
        done, pending = wait(futures, timeout=self._timeout)
        failures: Counter[str] = Counter()
        if pending:
            failures[f"unanswered after {self._timeout:g} s"] = len(pending)
            _, still = wait(pending, timeout=_STUCK_TIMEOUT)
            if still:
                raise RuntimeError(f"{len(still)} caller threads are stuck; giving up")
            for future in pending:  # how the late ones ended
                exc = future.exception()
                if exc is not None:
                    failures[f"{_failure_name(exc)} (late)"] += 1
        finished: list[float] = []
        for future in done:
            exc = future.exception()
            if exc is None:
                finished.append(future.result())
            else:
                failures[_failure_name(exc)] += 1
        seconds = max(finished) - released[0] if finished and not pending else None
        return Burst(seconds, failures)

    def close(self) -> None:
        self._session.close()
        for pool in self._pools.values():
            pool.shutdown()


class TaskCallers:
    """K asyncio tasks gathered on one event loop, which runs for the whole part."""

    def __init__(self, session: zapier_nb.Session, timeout: float) -> None:
        self._session = session
        self._timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tasks", daemon=True)
        self._thread.start()

    async def _gather_all(
        self, callers: int, finished: list[float], failures: Counter[str]
    ) -> None:
        async def call() -> None:
            try:
                await self._session.acheck()
            except Exception as exc:
                failures[_failure_name(exc)] += 1
            else:
                finished.append(time.perf_counter())

        await asyncio.gather(*(call() for _ in range(callers)))

    def burst(self, callers: int) -> Burst:
        finished: list[float] = []
        failures: Counter[str] = Counter()
        started = time.perf_counter()
        future = asyncio.run_coroutine_threadsafe(
            self._gather_all(callers, finished, failures), self._loop
        )
        try:
            future.result(timeout=self._timeout)
        except TimeoutError:
            future.cancel()
            asyncio.run_coroutine_threadsafe(asyncio.sleep(0.1), self._loop).result()
            unanswered = callers - len(finished) - sum(failures.values())
            failures[f"unanswered after {self._timeout:g} s"] = unanswered
            return Burst(None, failures)
        seconds = max(finished) - started if finished else None
        return Burst(seconds, failures)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._session.aclose(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def _login(sandbox: SandboxProcess) -> zapier_nb.Session:
    session = zapier_nb.Session(
        client_id=sandbox.client_id, redirect_uri=sandbox.redirect_uri, base_url=sandbox.base_url
    )
    session.complete_login(sandbox.approve(session.begin_login()))
    return session


def _scenario_callers(settings: Settings) -> list[int]:
    return [1, *(k for k in settings.callers if k != 1)]


def _until_refresh_due(session: zapier_nb.Session, ttl: float) -> float:
    """Seconds until the session's token is within half its lifetime of expiry."""
    info = session.token_info
    if info is None:
        raise RuntimeError("the benchmark session lost its token")
    return max(0.0, info.seconds_left() - ttl / 2) + _MARGIN


def _wake(waker: httpx2.Client) -> None:
    """Warm up the sandbox and the network stack after the wait before a clock-path burst.

    After seconds idle the first requests are several times slower; a few that touch no
    token (a path the sandbox does not serve) take that cost before the baseline's burst
    and the K callers' alike.
    """
    for _ in range(3):
        waker.get(_WAKE_PATH)


def _run_kind(
    kind: str,
    sandbox: SandboxProcess,
    settings: Settings,
    results: Results,
    log: Callable[[str], None],
) -> None:
    callers = _scenario_callers(settings)
    session = _login(sandbox)
    waker = httpx2.Client(base_url=sandbox.base_url)
    runner: ThreadCallers | TaskCallers
    if kind == "threads":
        runner = ThreadCallers(session, callers, settings.burst_timeout)
    else:
        runner = TaskCallers(session, settings.burst_timeout)
    try:
        for k in callers:  # warm-up: threads started, the async client made, connections open
            runner.burst(k)
        for mode in MODES:
            if mode == "clock":
                sandbox.set_token_ttl(settings.clock_ttl)
                session.refresh()  # a token with the short lifetime
            for repeat in range(settings.repeats):
                for k in callers:
                    outcome = results[(mode, kind, k)]
                    if outcome.unfinished:
                        continue  # it stalled once already; the report says so
                    if mode == "401":
                        sandbox.expire_access_tokens()
                    elif mode == "clock":
                        time.sleep(_until_refresh_due(session, settings.clock_ttl))
                        _wake(waker)
                    counts = _Counts(sandbox)
                    burst = runner.burst(k)
                    refreshes, checks = counts.delta()
                    outcome.refreshes.append(refreshes)
                    outcome.checks.append(checks)
                    outcome.failures.update(burst.failures)
                    if burst.seconds is None:
                        outcome.unfinished += 1
                    else:
                        outcome.seconds.append(burst.seconds)
                log(f"  refresh, {kind}, {mode}: round {repeat + 1}/{settings.repeats}")
            if mode == "clock":
                sandbox.set_token_ttl(3600)
                session.refresh()
    finally:
        runner.close()
        waker.close()


def measure(settings: Settings, log: Callable[[str], None]) -> Results:
    results: Results = {
        (mode, kind, k): Outcome()
        for mode in MODES
        for kind in KINDS
        for k in _scenario_callers(settings)
    }
    with SandboxProcess() as sandbox:
        for kind in KINDS:
            _run_kind(kind, sandbox, settings, results, log)
    return results


_MEASUREMENT = {
    "401": "refresh under contention, 401 path",
    "clock": "refresh under contention, clock path",
    "fresh": "no expiry (for scale)",
}
_BASELINE = {
    "401": "1 caller: 401, refresh, call",
    "clock": "1 caller: refresh, call",
    "fresh": "1 caller: call",
}
_EXPECTED_REFRESHES = {"401": 1, "clock": 1, "fresh": 0}


def rows(results: Results, settings: Settings) -> list[Row]:
    out: list[Row] = []
    for mode in MODES:
        expected = _EXPECTED_REFRESHES[mode]
        for kind in KINDS:
            baseline = results[(mode, kind, 1)]
            for k in _scenario_callers(settings):
                if k == 1:
                    continue
                outcome = results[(mode, kind, k)]
                refreshes = ",".join(str(n) for n in outcome.refreshes)
                ok = (
                    all(n == expected for n in outcome.refreshes + baseline.refreshes)
                    and not outcome.failures
                    and not baseline.failures
                )
                contender = f"{k} {kind} (refreshes: {refreshes}"
                if outcome.failures:
                    contender += "; failed: " + ", ".join(
                        f"{name} x{count}" for name, count in sorted(outcome.failures.items())
                    )
                contender += ")"
                median_text = None
                if not outcome.seconds:
                    median_text = f"unfinished after {settings.burst_timeout:g} s"
                elif outcome.unfinished:
                    median_text = f"{format_seconds(median(outcome.seconds))} (+1 unfinished)"
                out.append(
                    Row(
                        section="refresh",
                        measurement=_MEASUREMENT[mode],
                        contender=contender,
                        median_s=median(outcome.seconds) if outcome.seconds else None,
                        median_text=median_text,
                        baseline=_BASELINE[mode],
                        baseline_median_s=median(baseline.seconds) if baseline.seconds else None,
                        target=f"{expected} refresh{'' if expected == 1 else 'es'}, all answer",
                        met=ok,
                        detail={
                            "mode": mode,
                            "kind": kind,
                            "callers": k,
                            "seconds": outcome.seconds,
                            "refresh_requests": outcome.refreshes,
                            "check_requests": outcome.checks,
                            "failures": dict(outcome.failures),
                            "unfinished_bursts": outcome.unfinished,
                            "baseline_seconds": baseline.seconds,
                            "baseline_refresh_requests": baseline.refreshes,
                            "clock_token_ttl": settings.clock_ttl if mode == "clock" else None,
                        },
                    )
                )
    return out
