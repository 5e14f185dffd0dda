"""One MCP connection over Streamable HTTP, through the SDK's client, on the private loop.

The SDK's transport and `ClientSession` live in task groups that must be entered and left
by one task, so a holder task owns them for the connection's life. Calls run in their
own tasks and share the session (the SDK matches answers to requests). A connection the
server forgot (HTTP 404 for its session id) is opened again and the call resent once: the
server did not act on it. Nothing else is resent here (see `_mcp_transport`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import mcp_types as types
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from ._errors import APIConnectionError, ZapierError
from ._http import httpx
from ._mcp_errors import call_failed
from ._mcp_transport import LOST, Exchange, current_exchange, new_transport
from ._version import __version__

__all__ = ["Connection"]

_CONNECT_TIMEOUT = 10.0
_CLIENT_INFO = types.Implementation(name="zapier_nb", version=__version__)


class Connection:
    """Opens on first use; `aclose()` ends it. Every method runs on the private loop."""

    def __init__(self, url: str, auth: httpx.Auth, *, timeout: float, max_retries: int) -> None:
        self.url = url
        self._auth = auth
        self._timeout = timeout
        self._max_retries = max_retries
        self._lock: asyncio.Lock | None = None
        self._session: ClientSession | None = None
        self._holder: asyncio.Task[None] | None = None
        self._closing: asyncio.Event | None = None
        self._crash: ZapierError | None = None

    def __repr__(self) -> str:
        return f"<Connection {self.url} {'open' if self._session is not None else 'closed'}>"

    async def _open(self) -> ClientSession:
        session, holder = self._session, self._holder
        if session is not None and holder is not None and not holder.done():
            return session  # the common case, without the lock
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self._session is not None and self._holder is not None and not self._holder.done():
                return self._session
            self._crash = None
            ready: asyncio.Future[ClientSession] = asyncio.get_running_loop().create_future()
            self._closing = asyncio.Event()
            self._holder = asyncio.create_task(self._hold(ready, self._closing))
            self._session = await ready
            return self._session

    async def _hold(self, ready: asyncio.Future[ClientSession], closing: asyncio.Event) -> None:
        exchange = Exchange()
        timeout = httpx.Timeout(self._timeout, connect=_CONNECT_TIMEOUT)
        client = httpx.AsyncClient(
            auth=self._auth, transport=new_transport(self._max_retries, self.url), timeout=timeout
        )
        try:
            async with (
                client,
                streamable_http_client(self.url, http_client=client) as (read, write),
                ClientSession(read, write, client_info=_CLIENT_INFO) as session,
            ):
                marker = current_exchange().set(exchange)
                try:
                    await session.initialize()
                except MCPError as exc:
                    ready.set_exception(
                        exchange.login_error
                        or call_failed("Connecting to the MCP server", self.url, exchange, exc)
                    )
                    return
                except ZapierError as exc:  # a login the auth flow could not complete
                    ready.set_exception(exc)
                    return
                finally:
                    current_exchange().reset(marker)
                ready.set_result(session)
                await closing.wait()
        except Exception as exc:
            # A login that ended, raised in the auth flow of a request, ends the connection too.
            self._crash = _zapier_error_in(exc)
            if not ready.done() and self._crash is not None:
                ready.set_exception(self._crash)
            elif not ready.done():
                ready.set_exception(
                    APIConnectionError(
                        f"Connecting to {self.url} failed ({type(exc).__name__}). Check the MCP "
                        "URL and your network, then try again."
                    )
                )
        finally:
            self._session = None
            if not ready.done():
                ready.set_exception(
                    APIConnectionError(f"The MCP connection to {self.url} closed. Try again.")
                )

    async def open(self) -> None:
        """Connect now (an OAuth login happens here), rather than at the first call."""
        await self._open()

    async def _request(self, what: str, send: Any) -> Any:
        """Run `send(session)` with this call's exchange recorded; map what goes wrong."""
        for attempt in range(2):
            session = await self._open()
            exchange = Exchange()
            marker = current_exchange().set(exchange)
            try:
                return await send(session)
            except MCPError as exc:
                if exchange.login_error is not None:
                    raise exchange.login_error from None
                crash = await self._crashed() if exc.code == types.CONNECTION_CLOSED else None
                if crash is not None:  # the login ended during another call: say so here too
                    raise crash from None
                if exchange.status == 404 and attempt == 0:
                    await self._drop()  # the server forgot the session; it did not act
                    continue
                raise call_failed(what, self.url, exchange, exc) from None
            except (ZapierError, asyncio.CancelledError):
                raise
            except Exception as exc:
                await asyncio.sleep(0)  # let a crashed holder record why
                if self._crash is not None:
                    raise self._crash from None
                if exchange.error is not None or exchange.status == LOST:
                    raise call_failed(what, self.url, exchange) from None
                raise APIConnectionError(
                    f"{what}: the MCP connection to {self.url} closed ({type(exc).__name__}). "
                    "Try again; it reconnects."
                ) from None
            finally:
                current_exchange().reset(marker)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _crashed(self) -> ZapierError | None:
        """Why the connection ended, once its holder has finished (at most a second)."""
        holder = self._holder
        if holder is not None and not holder.done():
            await asyncio.wait({holder}, timeout=1.0)
        return self._crash

    async def list_tools(self) -> list[types.Tool]:
        async def send(session: ClientSession) -> list[types.Tool]:
            tools: list[types.Tool] = []
            cursor: str | None = None
            while True:
                params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
                page = await session.list_tools(params=params)
                tools += page.tools
                cursor = page.next_cursor
                if not cursor:
                    return tools

        result: list[types.Tool] = await self._request("tools/list", send)
        return result

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        async def send(session: ClientSession) -> types.CallToolResult:
            answer = await session.call_tool(name, arguments)
            assert isinstance(answer, types.CallToolResult)
            return answer

        result: types.CallToolResult = await self._request(f"tools/call {name!r}", send)
        return result

    async def _drop(self) -> None:
        holder, closing = self._holder, self._closing
        self._session = None
        self._holder = None
        if closing is not None:
            closing.set()
        if holder is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(holder, 5)

    async def aclose(self) -> None:
        await self._drop()


def _zapier_error_in(exc: BaseException) -> ZapierError | None:
    """The toolkit's own error at the root of what ended a connection (task groups wrap it)."""
    if isinstance(exc, ZapierError):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _zapier_error_in(inner)
            if found is not None:
                return found
    return None
