"""The session's one httpx auth: the API key header, or a bearer token that refreshes itself.

`SessionAuth` is installed on a session's clients when they are built and reads the
keeper at every request: logging in, out or switching to a key changes the keeper,
never the clients. With no credentials it first takes up a login another kernel saved
in the shared cache, then refuses to send. The bearer flow refreshes before expiry and
once more on a 401, retrying the request once. Its protocol is written once, as a
generator of steps (`SessionAuth._steps`): requests to send, and the points where a
lock is taken or let go. Two drivers run it, one with a thread lock and the cache's
file lock for `httpx.Client`, one with a task lock and the polled file lock for
`httpx.AsyncClient`, as httpx wraps one `auth_flow` in a sync and an async driver.
Under the lock the token is checked again, so N callers that find it expired cause one
refresh request.
"""

from __future__ import annotations

import contextlib
import enum
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator
from typing import TYPE_CHECKING

from ._http import httpx
from ._keeper import TokenKeeper
from ._redact import Secret

if TYPE_CHECKING:
    import asyncio

    from ._models import Token

__all__ = ["ApiKeyAuth", "Lock", "SessionAuth"]

_LOCK_POLL_SECONDS = 0.002


class ApiKeyAuth(httpx.Auth):
    """Sends the key in the `x-api-key` header. The key shows in no repr."""

    def __init__(self, api_key: Secret) -> None:
        self._api_key = api_key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["x-api-key"] = self._api_key.reveal()
        yield request

    def secret(self) -> str:
        return self._api_key.reveal()

    def __repr__(self) -> str:
        return "ApiKeyAuth(api_key='***')"


class Lock(enum.Enum):
    """What the bearer flow's steps ask of a driver besides sending a request."""

    ACQUIRE = "take the in-process lock"
    ACQUIRE_INTERPROCESS = "take the token cache's lock"
    RELEASE = "let go of every lock taken"


Step = httpx.Request | Lock
Steps = Generator[Step, httpx.Response, None]


class SessionAuth(httpx.Auth):
    """The keeper's credentials: `x-api-key`, or `Authorization: Bearer` with refresh before
    expiry and once on a 401."""

    requires_request_body = True

    def __init__(self, keeper: TokenKeeper) -> None:
        self._keeper = keeper
        self._task_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"SessionAuth(method={self._keeper.method!r})"

    # -- the protocol, once -----------------------------------------------------------

    def _steps(self, request: httpx.Request) -> Steps:
        keeper = self._keeper
        if not keeper.take_up_shared_login():
            keeper.current()  # raises why: never logged in, or the login ended
        api_key = keeper.api_key
        if api_key is not None:
            request.headers["x-api-key"] = api_key.reveal()
            yield request
            return
        token = keeper.current()
        if keeper.refresh_due(token):
            token = yield from self._refresh_steps(keeper.refresh_due)
        response = yield _authorized(request, token)
        if response.status_code != 401:
            return
        rejected = token
        token = yield from self._refresh_steps(lambda current: current is rejected)
        yield _authorized(request, token)

    def _refresh_steps(
        self, needed: Callable[[Token], bool]
    ) -> Generator[Step, httpx.Response, Token]:
        """Refresh if still `needed` once the locks are held; another caller may have."""
        keeper = self._keeper
        yield Lock.ACQUIRE
        token = keeper.current()
        if needed(token):
            yield Lock.ACQUIRE_INTERPROCESS
            token = keeper.take_up_cached_token()
            if needed(token):
                response = yield keeper.refresh_request(token)
                token = keeper.accept_refresh(response, token)
        yield Lock.RELEASE
        return token

    def _refresh_now_steps(self) -> Steps:
        yield from self._refresh_steps(lambda _token: True)

    # -- the drivers --------------------------------------------------------------------

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        if self.requires_request_body:
            request.read()
        yield from self._drive(self._steps(request), request)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self.requires_request_body:
            await request.aread()
        steps = self._steps(request)
        async with contextlib.AsyncExitStack() as held:
            try:
                step = next(steps)
                while True:
                    if isinstance(step, httpx.Request):
                        response = yield step
                        if step is not request or response.status_code == 401:
                            # Read, so the connection goes back to the pool before any wait.
                            await response.aread()
                        step = steps.send(response)
                        continue
                    if step is Lock.ACQUIRE:
                        await held.enter_async_context(self._task_lock())
                    elif step is Lock.ACQUIRE_INTERPROCESS:
                        await held.enter_async_context(self._keeper.ainterprocess_lock())
                    else:
                        await held.aclose()
                    step = next(steps)
            except StopIteration:
                return
            finally:
                steps.close()

    def _drive(
        self, steps: Steps, request: httpx.Request | None
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """The sync driver: thread lock and blocking file lock."""
        with contextlib.ExitStack() as held:
            try:
                step = next(steps)
                while True:
                    if isinstance(step, httpx.Request):
                        response = yield step
                        if step is not request or response.status_code == 401:
                            # Read, so the connection goes back to the pool before any wait.
                            response.read()
                        step = steps.send(response)
                        continue
                    if step is Lock.ACQUIRE:
                        held.enter_context(self._keeper.lock)
                    elif step is Lock.ACQUIRE_INTERPROCESS:
                        held.enter_context(self._keeper.interprocess_lock())
                    else:
                        held.close()
                    step = next(steps)
            except StopIteration:
                return
            finally:
                steps.close()

    def refresh_now(self, send: Callable[[httpx.Request], httpx.Response]) -> None:
        """Refresh outside any request, through the same steps and sync driver."""
        flow = self._drive(self._refresh_now_steps(), None)
        try:
            request = next(flow)
            while True:
                request = flow.send(send(request))
        except StopIteration:
            return
        finally:
            flow.close()

    @contextlib.asynccontextmanager
    async def _task_lock(self) -> AsyncIterator[None]:
        import asyncio  # here, so that sync-only use never pays for importing asyncio

        loop = asyncio.get_running_loop()
        task_lock = self._task_locks.setdefault(loop, asyncio.Lock())
        async with task_lock:
            # The thread lock is polled, never awaited in a worker thread, so that a
            # cancelled task cannot leave it held.
            while not self._keeper.lock.acquire(blocking=False):
                await asyncio.sleep(_LOCK_POLL_SECONDS)
            try:
                yield
            finally:
                self._keeper.lock.release()


def _authorized(request: httpx.Request, token: Token) -> httpx.Request:
    request.headers["Authorization"] = f"Bearer {token.access_token.get_secret_value()}"
    return request
