"""httpx auth flows: the API key header, and a bearer token that refreshes itself.

The bearer flow refreshes before expiry and once more on a 401, retrying the
request once. Refreshes are single-flight across threads and asyncio tasks: a
caller re-checks the token after taking the lock, so N callers that find it
expired cause one refresh request. Across processes the `TokenKeeper`'s cache
lock does the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator

from ._errors import LoginRequiredError
from ._http import httpx
from ._keeper import TokenKeeper
from ._models import Token

__all__ = ["ApiKeyAuth", "BearerAuth", "NoCredentialsAuth"]

logger = logging.getLogger("zapier_nb")

_LOCK_POLL_SECONDS = 0.002


class ApiKeyAuth(httpx.Auth):
    """Sends the key in the `x-api-key` header."""

    def __init__(self, api_key: str) -> None:
        self._api_key = api_key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["x-api-key"] = self._api_key
        yield request

    def __repr__(self) -> str:
        return "ApiKeyAuth(api_key='***')"


class NoCredentialsAuth(httpx.Auth):
    """Refuses to send: the session has not logged in."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise LoginRequiredError(
            "This session has no credentials yet. Log in first: session.login() or %zapier_login "
            "in a notebook, or Session(api_key=...)."
        )
        yield request  # pragma: no cover


class BearerAuth(httpx.Auth):
    """`Authorization: Bearer` with refresh before expiry and once on a 401."""

    requires_request_body = True

    def __init__(self, keeper: TokenKeeper) -> None:
        self._keeper = keeper
        self._async_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return "BearerAuth(access_token='***')"

    @staticmethod
    def _authorize(request: httpx.Request, token: Token) -> httpx.Request:
        request.headers["Authorization"] = f"Bearer {token.access_token.get_secret_value()}"
        return request

    def refresh_now(self, send: Callable[[httpx.Request], httpx.Response]) -> Token:
        """Refresh outside any request, through the same single-flight steps as the flow."""
        flow = self._sync_refresh(lambda token: True)
        try:
            request = next(flow)
            while True:
                request = flow.send(send(request))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]
        finally:
            flow.close()

    def _sync_refresh(
        self, needed: Callable[[Token], bool]
    ) -> Generator[httpx.Request, httpx.Response, Token]:
        keeper = self._keeper
        with keeper.lock:
            token = keeper.current()
            if not needed(token):
                return token
            with keeper.shared():
                token = keeper.reconcile()
                if needed(token):
                    response = yield keeper.refresh_request(token)
                    response.read()
                    token = keeper.adopt(response, token)
            return token

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        if self.requires_request_body:
            request.read()
        token = self._keeper.current()
        if self._keeper.refresh_due(token):
            token = yield from self._sync_refresh(self._keeper.refresh_due)
        response = yield self._authorize(request, token)
        if response.status_code != 401:
            return
        # Give the connection back before queueing for the lock: with a full pool the
        # refresh request would otherwise wait for connections its waiters hold.
        response.read()
        rejected = token
        token = yield from self._sync_refresh(lambda current: current is rejected)
        yield self._authorize(request, token)

    @contextlib.asynccontextmanager
    async def _async_guard(self) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        task_lock = self._async_locks.setdefault(loop, asyncio.Lock())
        async with task_lock:
            # The thread lock is polled, never awaited in a worker thread, so that a
            # cancelled task cannot leave it held.
            while not self._keeper.lock.acquire(blocking=False):
                await asyncio.sleep(_LOCK_POLL_SECONDS)
            try:
                yield
            finally:
                self._keeper.lock.release()

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self.requires_request_body:
            await request.aread()
        keeper = self._keeper
        token = keeper.current()
        if keeper.refresh_due(token):
            async with self._async_guard():
                token = keeper.current()
                if keeper.refresh_due(token):
                    async with keeper.ashared():
                        token = keeper.reconcile()
                        if keeper.refresh_due(token):
                            response = yield keeper.refresh_request(token)
                            await response.aread()
                            token = keeper.adopt(response, token)
        response = yield self._authorize(request, token)
        if response.status_code != 401:
            return
        await response.aread()
        async with self._async_guard():
            current = keeper.current()
            if current is token:
                async with keeper.ashared():
                    current = keeper.reconcile()
                    if current is token:
                        response = yield keeper.refresh_request(current)
                        await response.aread()
                        current = keeper.adopt(response, current)
        yield self._authorize(request, current)
