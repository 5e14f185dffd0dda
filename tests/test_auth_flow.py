"""The bearer auth flow stepped by hand, as a client would drive it, with a clock the test sets.

No network and no sleeps: each test feeds the flow the answers a server would give and
checks what it sends next. Both drivers (sync and async) run the same steps, so every
case runs through both. The sandbox tests are the evidence over real sockets; these pin
down the protocol: when a refresh is sent, and when it is not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from pydantic import SecretStr

from zapier_nb import SessionExpiredError
from zapier_nb._auth import SessionAuth
from zapier_nb._http import httpx
from zapier_nb._keeper import TokenKeeper
from zapier_nb._models import Token
from zapier_nb._store import TokenStore

BASE = "https://api.test"
NOW = 1_000_000.0
LIFETIME = 3600.0


class Clock:
    """A clock the test moves; `on_read` runs at a chosen reading, as another caller would."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.readings = 0
        self.on_read: dict[int, Callable[[], None]] = {}

    def __call__(self) -> float:
        self.readings += 1
        action = self.on_read.pop(self.readings, None)
        if action is not None:
            action()
        return self.now


def token(access: str, *, expires_at: float, refresh: str | None = "rt-1") -> Token:
    return Token(
        access_token=SecretStr(access),
        refresh_token=SecretStr(refresh) if refresh else None,
        id_token=None,
        scope="openid",
        lifetime=LIFETIME,
        expires_at=expires_at,
    )


def keeper_with(access: str, clock: Clock, *, expires_at: float) -> TokenKeeper:
    keeper = TokenKeeper(base_url=BASE, client_id="cid", leeway=60, clock=clock)
    keeper.set(token(access, expires_at=expires_at))
    return keeper


def token_answer(request: httpx.Request, access: str, refresh: str = "rt-2") -> httpx.Response:
    body = {"access_token": access, "refresh_token": refresh, "expires_in": 3600}
    return httpx.Response(200, json={**body, "token_type": "Bearer"}, request=request)


class Driver:
    """Steps one flow: `first()` is what it sends first, `answer(r)` what it sends next
    (None once it is done)."""

    def __init__(self, auth: SessionAuth, request: httpx.Request) -> None:
        self.flow = auth.sync_auth_flow(request)

    def first(self) -> httpx.Request:
        return next(self.flow)

    def answer(self, response: httpx.Response) -> httpx.Request | None:
        try:
            return self.flow.send(response)
        except StopIteration:
            return None

    def close(self) -> None:
        self.flow.close()


class AsyncDriver(Driver):
    """The same steps through the async driver, on an event loop of its own."""

    def __init__(self, auth: SessionAuth, request: httpx.Request) -> None:
        self.aflow = auth.async_auth_flow(request)
        self.loop = asyncio.new_event_loop()

    def first(self) -> httpx.Request:
        return self.loop.run_until_complete(self.aflow.__anext__())

    def answer(self, response: httpx.Response) -> httpx.Request | None:
        try:
            return self.loop.run_until_complete(self.aflow.asend(response))
        except StopAsyncIteration:
            return None

    def close(self) -> None:
        self.loop.run_until_complete(self.aflow.aclose())
        self.loop.close()


@pytest.fixture(params=["sync", "async"])
def drive(request: pytest.FixtureRequest) -> Any:
    drivers: list[Driver] = []

    def start(auth: SessionAuth, sent: httpx.Request) -> Driver:
        driver = (Driver if request.param == "sync" else AsyncDriver)(auth, sent)
        drivers.append(driver)
        return driver

    yield start
    for driver in drivers:
        driver.close()


def api_request() -> httpx.Request:
    return httpx.Request("GET", f"{BASE}/api/v2/auth/check/")


def bearer(request: httpx.Request) -> str:
    return request.headers["Authorization"].removeprefix("Bearer ")


def form(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(request.content.decode()).items()}


def test_before_expiry_the_request_goes_out_once_with_the_token(drive: Any) -> None:
    clock = Clock(NOW)
    keeper = keeper_with("at-1", clock, expires_at=NOW + LIFETIME)
    request = api_request()
    flow = drive(SessionAuth(keeper), request)
    sent = flow.first()
    assert sent is request
    assert bearer(sent) == "at-1"
    assert flow.answer(httpx.Response(200, request=sent)) is None
    assert not keeper.lock.locked()


def test_at_expiry_the_refresh_goes_first_then_the_request_with_the_new_token(
    drive: Any,
) -> None:
    clock = Clock(NOW)
    keeper = keeper_with("at-1", clock, expires_at=NOW + 30)  # inside the 60 s leeway
    flow = drive(SessionAuth(keeper), api_request())
    refresh = flow.first()
    assert (refresh.method, str(refresh.url)) == ("POST", f"{BASE}/oauth/token/")
    assert form(refresh) == {
        "client_id": "cid",
        "grant_type": "refresh_token",
        "refresh_token": "rt-1",
    }
    assert "Authorization" not in refresh.headers
    sent = flow.answer(token_answer(refresh, "at-2"))
    assert sent is not None
    assert bearer(sent) == "at-2"
    assert flow.answer(httpx.Response(200, request=sent)) is None
    current = keeper.current()
    assert current.access_token.get_secret_value() == "at-2"
    assert current.refresh_token is not None
    assert current.refresh_token.get_secret_value() == "rt-2"
    assert current.expires_at == NOW + 3600
    assert not keeper.lock.locked()


def test_a_refresh_made_by_another_caller_while_waiting_for_the_lock_is_used(
    drive: Any,
) -> None:
    """The check inside the lock: the token fell due, but by the time the lock is held
    another caller has refreshed it, so no second refresh is sent."""
    clock = Clock(NOW)
    keeper = keeper_with("at-1", clock, expires_at=NOW + 30)
    fresh = token("at-other", expires_at=NOW + LIFETIME)
    clock.on_read[1] = lambda: keeper.set(fresh)  # right after the check outside the lock
    flow = drive(SessionAuth(keeper), api_request())
    sent = flow.first()
    assert sent.method == "GET"
    assert bearer(sent) == "at-other"
    assert flow.answer(httpx.Response(200, request=sent)) is None


def test_a_401_with_the_same_token_refreshes_once_and_retries(drive: Any) -> None:
    clock = Clock(NOW)
    keeper = keeper_with("at-1", clock, expires_at=NOW + LIFETIME)
    request = api_request()
    flow = drive(SessionAuth(keeper), request)
    sent = flow.first()
    assert bearer(sent) == "at-1"
    refresh = flow.answer(httpx.Response(401, request=sent))
    assert refresh is not None
    assert form(refresh)["grant_type"] == "refresh_token"
    retried = flow.answer(token_answer(refresh, "at-2"))
    assert retried is request
    assert bearer(retried) == "at-2"
    assert flow.answer(httpx.Response(200, request=retried)) is None


def test_a_401_after_another_caller_refreshed_retries_with_their_token(drive: Any) -> None:
    clock = Clock(NOW)
    keeper = keeper_with("at-1", clock, expires_at=NOW + LIFETIME)
    flow = drive(SessionAuth(keeper), api_request())
    sent = flow.first()
    keeper.set(token("at-other", expires_at=NOW + LIFETIME))  # another caller's refresh
    retried = flow.answer(httpx.Response(401, request=sent))
    assert retried is not None
    assert retried.method == "GET"
    assert bearer(retried) == "at-other"
    assert flow.answer(httpx.Response(200, request=retried)) is None


def test_a_second_401_is_returned_not_refreshed_again(drive: Any) -> None:
    clock = Clock(NOW)
    keeper = keeper_with("at-1", clock, expires_at=NOW + LIFETIME)
    flow = drive(SessionAuth(keeper), api_request())
    sent = flow.first()
    refresh = flow.answer(httpx.Response(401, request=sent))
    assert refresh is not None
    retried = flow.answer(token_answer(refresh, "at-2"))
    assert retried is not None
    assert flow.answer(httpx.Response(401, request=retried)) is None


def test_a_rejected_refresh_token_ends_the_session_and_frees_the_lock(drive: Any) -> None:
    clock = Clock(NOW)
    keeper = keeper_with("at-1", clock, expires_at=NOW + 30)
    flow = drive(SessionAuth(keeper), api_request())
    refresh = flow.first()
    rejected = httpx.Response(
        400,
        json={"error": "invalid_grant", "error_description": "The refresh token is revoked."},
        request=refresh,
    )
    with pytest.raises(SessionExpiredError, match="Log in again"):
        flow.answer(rejected)
    assert keeper.token is None
    with pytest.raises(SessionExpiredError, match="refresh token was rejected"):
        keeper.current()
    assert not keeper.lock.locked()


def test_a_token_without_a_refresh_token_at_expiry_says_to_log_in_again(drive: Any) -> None:
    clock = Clock(NOW)
    keeper = TokenKeeper(base_url=BASE, client_id="cid", leeway=60, clock=clock)
    keeper.set(token("at-1", expires_at=NOW + 30, refresh=None))
    flow = drive(SessionAuth(keeper), api_request())
    with pytest.raises(SessionExpiredError, match="no refresh token"):
        flow.first()
    assert not keeper.lock.locked()


def test_a_token_another_process_refreshed_is_taken_from_the_cache_not_refreshed_again(
    drive: Any, tmp_path: Path
) -> None:
    """The check under the cache's lock: the cache holds a token another process wrote."""
    clock = Clock(NOW)
    store = TokenStore(tmp_path / "tokens", base_url=BASE, client_id="cid", lock_wait=5)
    store.save(token("at-1", expires_at=NOW + 30))
    keeper = TokenKeeper(base_url=BASE, client_id="cid", leeway=60, clock=clock, store=store)
    assert keeper.load_cached()
    store.save(token("at-other", expires_at=NOW + LIFETIME, refresh="rt-other"))
    flow = drive(SessionAuth(keeper), api_request())
    sent = flow.first()
    assert sent.method == "GET"
    assert bearer(sent) == "at-other"
    assert flow.answer(httpx.Response(200, request=sent)) is None
    assert store.load() == keeper.current()
