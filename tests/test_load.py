"""Threads and asyncio tasks calling check() for several token lifetimes: one refresh per expiry.

The sandbox issues two-second tokens; with the default leeway (60 s, capped at half
the lifetime) each token is due for refresh one second after it was received. Every
token the session held is known from `token_info.expires_at`, read after each call,
so the expected number of refreshes follows from the issue times: one for each
token that fell due before the last call started (a token falling due during the
very last call may or may not be refreshed, so those count as a range). Each refresh
must also have happened promptly after its token fell due, never before.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from helpers import log_in

from zapier_nb import Session
from zapier_nb.sandbox import Sandbox

TTL = 2  # seconds; the sandbox answers expires_in=2
DUE_AFTER = TTL / 2  # the leeway is min(60, lifetime / 2)
DURATION = 8.0
THREADS = 4
TASKS = 4
# A refresh is made by the first call after the token falls due; calls follow each
# other within milliseconds, so anything slower than this means a missed expiry.
PROMPT = 0.5


pytestmark = pytest.mark.usefixtures("secret_audit")


class Run:
    """What the callers saw: every token's expiry, every error, when the last call ran."""

    def __init__(self, session: Session, deadline: float) -> None:
        self.session = session
        self.deadline = deadline
        self.lock = threading.Lock()
        self.expiries: set[float] = set()
        self.errors: list[str] = []
        self.calls = 0
        self.last_start = 0.0
        self.last_end = 0.0

    def running(self) -> bool:
        now = time.time()
        if now >= self.deadline:
            return False
        with self.lock:
            self.last_start = max(self.last_start, now)
        return True

    def saw(self, error: Exception | None = None) -> None:
        info = self.session.token_info
        now = time.time()
        with self.lock:
            self.last_end = max(self.last_end, now)
            self.calls += 1
            if info is not None:
                self.expiries.add(info.expires_at.timestamp())
            if error is not None:
                self.errors.append(f"{type(error).__name__}: {error}")

    def thread(self) -> None:
        while self.running():
            try:
                self.session.check()
                self.saw()
            except Exception as exc:
                self.saw(exc)

    async def task(self) -> None:
        while self.running():
            try:
                await self.session.acheck()
                self.saw()
            except Exception as exc:
                self.saw(exc)

    def event_loop(self) -> None:
        async def main() -> None:
            await asyncio.gather(*(self.task() for _ in range(TASKS)))
            # Only the async client: Session.aclose() would also close the sync one,
            # which other threads may still be using.
            await self.session.async_client.aclose()

        asyncio.run(main())


def test_threads_and_tasks_for_four_lifetimes_refresh_once_per_expiry(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    sandbox.token_ttl = TTL
    session = Session(
        client_id=sandbox.client_id,
        redirect_uri=sandbox.redirect_uri,
        base_url=sandbox.base_url,
        token_cache=tmp_path / "cache",
        timeout=5,
    )
    log_in(session, sandbox)
    first = session.token_info
    assert first is not None
    run = Run(session, time.time() + DURATION)
    run.expiries.add(first.expires_at.timestamp())
    callers = [threading.Thread(target=run.thread) for _ in range(THREADS)]
    callers.append(threading.Thread(target=run.event_loop))
    started = time.monotonic()
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    elapsed = time.monotonic() - started

    refreshes = sandbox.count("token:refresh_token")
    expiries = sorted(run.expiries)
    issued = [expiry - TTL for expiry in expiries]  # when the client received each token
    due = [expiry - TTL + DUE_AFTER for expiry in expiries]
    surely = sum(1 for when in due if when <= run.last_start)
    at_most = sum(1 for when in due if when <= run.last_end)
    lateness = [issued[k + 1] - due[k] for k in range(len(expiries) - 1)]
    summary = {
        "threads": THREADS,
        "tasks": TASKS,
        "seconds": round(elapsed, 2),
        "calls": run.calls,
        "checks_at_server": sandbox.count("check"),
        "refreshes_at_server": refreshes,
        "expiries_in_run": surely if surely == at_most else [surely, at_most],
        "errors": len(run.errors),
        "max_refresh_delay_after_due": round(max(lateness, default=0.0), 3),
    }
    print("load:", json.dumps(summary))

    assert run.errors == []
    assert refreshes == len(expiries) - 1  # each refresh produced the next token seen
    assert surely <= refreshes <= at_most
    assert all(0 <= late < PROMPT for late in lateness), lateness
    # Each cycle lasts DUE_AFTER plus one refresh round trip.
    assert int(DURATION / (DUE_AFTER + PROMPT)) <= refreshes <= int(DURATION / DUE_AFTER) + 1
    assert sandbox.count("check") == run.calls
    assert sandbox.count("token_error:invalid_grant") == 0
    last = session.token_info
    assert last is not None
    assert last.expires_at > datetime.now(UTC)
