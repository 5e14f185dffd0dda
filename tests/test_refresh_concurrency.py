"""N callers that meet an expired token cause exactly one refresh request."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers import log_in

from zapier_nb import Session
from zapier_nb.sandbox import Sandbox

CALLERS = 50
TTL = 4.0  # the refresh leeway is then min(60, TTL / 2) = 2 s


def wait_until_refresh_is_due(session: Session) -> None:
    info = session.token_info
    assert info is not None
    time.sleep(max(0.0, info.seconds_left() - TTL / 2) + 0.1)


def threaded_checks(session: Session, count: int) -> list[str]:
    barrier = threading.Barrier(count)

    def call(_: int) -> str:
        barrier.wait()
        return session.check().email

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(call, range(count)))


async def async_checks(session: Session, count: int) -> list[str]:
    results = await asyncio.gather(*(session.acheck() for _ in range(count)))
    await session.aclose()
    return [result.email for result in results]


@pytest.fixture
def short_lived(oauth_session: Session, sandbox: Sandbox) -> Session:
    sandbox.token_ttl = TTL
    log_in(oauth_session, sandbox)
    return oauth_session


def test_a_fresh_token_is_used_as_it_is(short_lived: Session, sandbox: Sandbox) -> None:
    assert threaded_checks(short_lived, 20) == ["ada@example.com"] * 20
    assert sandbox.count("token:refresh_token") == 0


def test_fifty_threads_after_expiry_cause_one_refresh(
    short_lived: Session, sandbox: Sandbox
) -> None:
    wait_until_refresh_is_due(short_lived)
    assert threaded_checks(short_lived, CALLERS) == ["ada@example.com"] * CALLERS
    assert sandbox.count("token:refresh_token") == 1
    assert sandbox.count("check") == CALLERS


def test_fifty_asyncio_tasks_after_expiry_cause_one_refresh(
    short_lived: Session, sandbox: Sandbox
) -> None:
    wait_until_refresh_is_due(short_lived)
    assert asyncio.run(async_checks(short_lived, CALLERS)) == ["ada@example.com"] * CALLERS
    assert sandbox.count("token:refresh_token") == 1
    assert sandbox.count("check") == CALLERS


def test_threads_and_tasks_together_cause_one_refresh(
    short_lived: Session, sandbox: Sandbox
) -> None:
    wait_until_refresh_is_due(short_lived)
    async_results: list[str] = []
    runner = threading.Thread(
        target=lambda: async_results.extend(asyncio.run(async_checks(short_lived, 25)))
    )
    runner.start()
    sync_results = threaded_checks(short_lived, 25)
    runner.join()
    assert sync_results + async_results == ["ada@example.com"] * 50
    assert sandbox.count("token:refresh_token") == 1


def test_fifty_threads_meeting_a_401_cause_one_refresh(
    short_lived: Session, sandbox: Sandbox
) -> None:
    sandbox.expire_access_tokens()
    assert threaded_checks(short_lived, CALLERS) == ["ada@example.com"] * CALLERS
    assert sandbox.count("token:refresh_token") == 1


def test_more_callers_than_the_pool_holds_meet_a_401_and_all_answer(
    sandbox: Sandbox,
) -> None:
    # The pool holds 100 connections: callers refused with 401 must give theirs back
    # before queueing for the refresh, or the refresh request waits for a connection.
    with Session(
        client_id=sandbox.client_id,
        redirect_uri=sandbox.redirect_uri,
        base_url=sandbox.base_url,
        timeout=3,
    ) as session:
        log_in(session, sandbox)
        sandbox.expire_access_tokens()
        assert asyncio.run(async_checks(session, 130)) == ["ada@example.com"] * 130
    assert sandbox.count("token:refresh_token") == 1
