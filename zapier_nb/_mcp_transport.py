"""The HTTP layer under the MCP SDK's client: the token, the resend rule, and what was seen.

Requests go through `_http.AsyncRetryTransport`, so MCP follows the AI Actions rule: a
request is sent again only when it cannot have acted (the connection failed before it
was sent, or a 429/503 with a short `Retry-After`). Above it, `RecordingTransport` notes
for the call in progress (a context variable, which the SDK carries into its sending
task) the HTTP status and error body, or the transport error. The SDK itself turns an
HTTP error into a generic JSON-RPC error, so this record is how a 401 becomes an
`AuthenticationError` and a lost answer an `APIConnectionError`. A transport error is
answered to the SDK as an empty 599, so that only the call fails, not the connection.
"""

from __future__ import annotations

import contextvars
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

from ._errors import ZapierError
from ._http import AsyncRetryTransport, httpx, json_or_none, retry_after_seconds
from ._redact import Secret

__all__ = [
    "LOST",
    "Exchange",
    "RecordingTransport",
    "TokenAuth",
    "current_exchange",
    "new_transport",
]

LOST = 599  # the status under which a transport error is handed to the SDK


@dataclass
class Exchange:
    """What happened on the wire for one MCP call (its last HTTP request)."""

    status: int | None = None
    body: Any = field(default=None, repr=False)  # may echo what was sent: never shown
    retry_after: float | None = None
    error: httpx.TransportError | None = field(default=None, repr=False)
    # A login the OAuth flow could not do (refused, ended): the SDK reports only that the
    # request failed, so the flow leaves the reason here.
    login_error: ZapierError | None = field(default=None, repr=False)


_current: contextvars.ContextVar[Exchange | None] = contextvars.ContextVar(
    "zapier_nb_mcp_exchange", default=None
)


def current_exchange() -> contextvars.ContextVar[Exchange | None]:
    return _current


class TokenAuth(httpx.Auth):
    """`Authorization: Bearer` with a connection token. The token shows in no repr."""

    def __init__(self, token: Secret) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token.reveal()}"
        yield request

    def __repr__(self) -> str:
        return "TokenAuth(token='***')"


class RecordingTransport(httpx.AsyncBaseTransport):
    """Notes each answer of a POST to the MCP endpoint made for a call (not the OAuth
    requests the call's auth flow makes); hands transport errors over as a 599."""

    def __init__(self, inner: httpx.AsyncBaseTransport, endpoint: str) -> None:
        self._inner = inner
        self._endpoint = httpx.URL(endpoint)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        exchange = _current.get()
        if exchange is None or request.method != "POST" or not self._for_endpoint(request):
            return await self._inner.handle_async_request(request)
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.TransportError as exc:
            exchange.status, exchange.error = None, exc
            return httpx.Response(LOST, request=request)
        exchange.status, exchange.error = response.status_code, None
        if response.status_code >= 400:
            await response.aread()
            exchange.body = json_or_none(response)
            exchange.retry_after = retry_after_seconds(response.headers.get("retry-after"))
        return response

    def _for_endpoint(self, request: httpx.Request) -> bool:
        url, endpoint = request.url, self._endpoint
        return (url.scheme, url.host, url.port, url.path) == (
            endpoint.scheme,
            endpoint.host,
            endpoint.port,
            endpoint.path,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


def new_transport(max_retries: int, endpoint: str) -> RecordingTransport:
    return RecordingTransport(
        AsyncRetryTransport(httpx.AsyncHTTPTransport(), max_retries=max_retries), endpoint
    )
