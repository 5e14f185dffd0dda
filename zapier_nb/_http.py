"""The one module that imports the HTTP library; transport policy lives here.

Retries follow one rule: a request is sent again only when the first one cannot have
changed anything. GETs are retried after a 5xx, a 429 or any transport error. Anything
else (a token grant, executing an action) is retried only when it never reached the
server (the connection failed) or when the server said it did not act and when to come
back (429 or 503 with a `Retry-After` of a few seconds). Never after a timeout, a
dropped answer or another 5xx: a refresh the server did perform has rotated the
refresh token, and an action it did run must not run twice.

Every answer is read through a cap (`MAX_BODY_BYTES`, raw and decompressed), so a hostile
or broken server cannot fill the kernel's memory.
"""

from __future__ import annotations

import contextlib
import email.utils
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx2 as httpx
from httpx2._client import UseClientDefault

from ._errors import APIConnectionError, APITimeoutError, ResponseValidationError
from ._redact import scrub_answer

__all__ = [
    "MAX_BODY_BYTES",
    "AsyncRetryTransport",
    "Call",
    "RetryTransport",
    "SecretSource",
    "UseClientDefault",
    "backoff_delay",
    "httpx",
    "json_or_none",
    "new_async_client",
    "new_client",
    "read_json",
    "retry_after_seconds",
    "scrubbed_json",
    "translate_transport_errors",
    "with_client_defaults",
]

logger = logging.getLogger("zapier_nb")

_BACKOFF_BASE = 0.25
_BACKOFF_CAP = 4.0
# The longest Retry-After honoured by waiting; a longer one is the caller's to handle.
_RETRY_AFTER_CAP = 5.0
# The longest Retry-After believed at all: a day (anything longer is as good as "not now").
_RETRY_AFTER_MAX = 86_400.0
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS"})
_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)

MAX_BODY_BYTES = 10 * 1024 * 1024  # the most of an answer read, raw or decompressed

T = TypeVar("T")
SecretSource = Callable[[], Iterable[str | None]]


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header as seconds (0 to a day): a number, or an HTTP date.

    Anything else (NaN, garbage, an unreadable date) is None, as if the header were absent.
    """
    if not value:
        return None
    seconds: float | None
    try:
        seconds = float(value)
    except ValueError:
        seconds = _seconds_until(value)
    if seconds is None or math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), _RETRY_AFTER_MAX)


def _seconds_until(date: str) -> float | None:
    try:
        return email.utils.parsedate_to_datetime(date).timestamp() - time.time()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _retry_after(response: httpx.Response) -> float | None:
    return retry_after_seconds(response.headers.get("retry-after"))


def _may_resend_after(request: httpx.Request, response: httpx.Response) -> bool:
    seconds = _retry_after(response)
    if seconds is not None and seconds > _RETRY_AFTER_CAP:
        return False  # a long wait is the caller's to choose (RateLimitError.retry_after)
    if request.method in _IDEMPOTENT:
        return response.status_code >= 500 or response.status_code == 429
    return response.status_code in (429, 503) and seconds is not None


def _may_resend_on_error(request: httpx.Request, exc: Exception) -> bool:
    return request.method in _IDEMPOTENT or isinstance(exc, _CONNECT_ERRORS)


def backoff_delay(attempt: int, retry_after: float | None = None) -> float:
    """Exponential backoff with jitter; a server's Retry-After wins, up to its cap."""
    if retry_after is not None:
        return min(retry_after, _RETRY_AFTER_CAP)
    return min(_BACKOFF_BASE * 2.0**attempt, _BACKOFF_CAP) * random.uniform(0.5, 1.0)  # noqa: S311


class RetryTransport(httpx.BaseTransport):
    """Wraps a transport with bounded retries of requests that cannot have acted."""

    def __init__(self, inner: httpx.BaseTransport, *, max_retries: int) -> None:
        self._inner = inner
        self._max_retries = max_retries

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for attempt in range(self._max_retries + 1):
            last = attempt == self._max_retries
            try:
                response = self._inner.handle_request(request)
            except httpx.TransportError as exc:
                if last or not _may_resend_on_error(request, exc):
                    raise
                _log_retry(request, type(exc).__name__, attempt)
                time.sleep(backoff_delay(attempt))
                continue
            if last or not _may_resend_after(request, response):
                return capped(response, sync=True)
            response.close()
            _log_retry(request, f"HTTP {response.status_code}", attempt)
            time.sleep(backoff_delay(attempt, _retry_after(response)))
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self._inner.close()


class AsyncRetryTransport(httpx.AsyncBaseTransport):
    """The asynchronous twin of `RetryTransport`."""

    def __init__(self, inner: httpx.AsyncBaseTransport, *, max_retries: int) -> None:
        self._inner = inner
        self._max_retries = max_retries

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        import asyncio  # here, so that sync-only use never pays for importing asyncio

        for attempt in range(self._max_retries + 1):
            last = attempt == self._max_retries
            try:
                response = await self._inner.handle_async_request(request)
            except httpx.TransportError as exc:
                if last or not _may_resend_on_error(request, exc):
                    raise
                _log_retry(request, type(exc).__name__, attempt)
                await asyncio.sleep(backoff_delay(attempt))
                continue
            if last or not _may_resend_after(request, response):
                return capped(response, sync=False)
            await response.aclose()
            _log_retry(request, f"HTTP {response.status_code}", attempt)
            await asyncio.sleep(backoff_delay(attempt, _retry_after(response)))
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        await self._inner.aclose()


# -- reading answers with a cap ----------------------------------------------------------------


def _too_large() -> ResponseValidationError:
    return ResponseValidationError(
        f"The server's answer is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB (read or "
        "decompressed), so it was not read. Check that the base URL points at Zapier AI "
        "Actions; ask for less at a time if it does."
    )


def _undecodable() -> ResponseValidationError:
    return ResponseValidationError(
        "The server's answer could not be decompressed. Try again in a moment; if it "
        "persists, check that the base URL points at Zapier AI Actions."
    )


class _Counter:
    def __init__(self) -> None:
        self.total = 0

    def add(self, chunk: bytes) -> bytes:
        self.total += len(chunk)
        if self.total > MAX_BODY_BYTES:
            raise _too_large()
        return chunk


class _RawCap(httpx.SyncByteStream):
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __iter__(self) -> Iterator[bytes]:
        counter = _Counter()
        for chunk in self._inner:
            yield counter.add(chunk)

    def close(self) -> None:
        self._inner.close()


class _DecodedCap(httpx.SyncByteStream):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        counter = _Counter()
        try:
            for chunk in self._response.iter_bytes():
                yield counter.add(chunk)
        except httpx.DecodingError:
            raise _undecodable() from None

    def close(self) -> None:
        self._response.close()


class _AsyncRawCap(httpx.AsyncByteStream):
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def __aiter__(self) -> AsyncIterator[bytes]:
        counter = _Counter()
        async for chunk in self._inner:
            yield counter.add(chunk)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _AsyncDecodedCap(httpx.AsyncByteStream):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        counter = _Counter()
        try:
            async for chunk in self._response.aiter_bytes():
                yield counter.add(chunk)
        except httpx.DecodingError:
            raise _undecodable() from None

    async def aclose(self) -> None:
        await self._response.aclose()


def capped(response: httpx.Response, *, sync: bool) -> httpx.Response:
    """The transport's answer, decompressed here in bounded pieces and cut off (with an
    error that says so) past `MAX_BODY_BYTES` read or decompressed.

    A plain answer of a declared length within the cap is left as it is: the HTTP parser
    reads no more than that length.
    """
    length = response.headers.get("content-length", "")
    plain = "content-encoding" not in response.headers
    if plain and length.isdigit() and int(length) <= MAX_BODY_BYTES:
        return response
    response.stream = _RawCap(response.stream) if sync else _AsyncRawCap(response.stream)
    headers = response.headers.copy()
    if headers.pop("content-encoding", None) is not None:
        headers.pop("content-length", None)
    return httpx.Response(
        response.status_code,
        headers=headers,
        stream=_DecodedCap(response) if sync else _AsyncDecodedCap(response),
        extensions=response.extensions,
    )


def new_client(*, max_retries: int, **options: Any) -> httpx.Client:
    """An `httpx.Client` whose transport retries what cannot have acted."""
    transport = RetryTransport(httpx.HTTPTransport(), max_retries=max_retries)
    return httpx.Client(transport=transport, **options)


def new_async_client(*, max_retries: int, **options: Any) -> httpx.AsyncClient:
    """The asynchronous `new_client`."""
    transport = AsyncRetryTransport(httpx.AsyncHTTPTransport(), max_retries=max_retries)
    return httpx.AsyncClient(transport=transport, **options)


def _log_retry(request: httpx.Request, reason: str, attempt: int) -> None:
    logger.info(
        "retrying %s %s after %s (attempt %d)",
        request.method,
        request.url.path,
        reason,
        attempt + 2,
    )


@contextlib.contextmanager
def translate_transport_errors(method: str, path: str, base_url: str) -> Iterator[None]:
    """Turn the HTTP library's transport errors into the toolkit's, without URLs or secrets."""
    try:
        yield
    except httpx.TimeoutException:
        raise APITimeoutError(
            f"{method} {path} timed out: {base_url} did not answer in time. Check your network "
            "and try again; a larger timeout= may help on a slow connection."
        ) from None
    except httpx.TransportError as exc:
        raise APIConnectionError(
            f"{method} {path} could not reach {base_url} ({type(exc).__name__}). Check the base "
            "URL and your network, then try again."
        ) from None


def with_client_defaults(request: httpx.Request, client: httpx.Client | httpx.AsyncClient) -> None:
    """Give a request built on its own the client's headers and timeout, as
    `client.build_request` would have."""
    for name, value in client.headers.multi_items():
        if name not in request.headers:
            request.headers[name] = value
    request.extensions.setdefault("timeout", client.timeout.as_dict())


@dataclass(frozen=True)
class Call(Generic[T]):
    """One request, and how its answer is read: `read(response, secrets)` gives the result
    or raises the error a user can act on, with the secrets masked in what it keeps."""

    request: httpx.Request
    read: Callable[[httpx.Response, SecretSource], T]


def scrubbed_json(response: httpx.Response, secrets: SecretSource, *, what: str) -> Any:
    """A successful answer's JSON, with every secret the server echoed masked."""
    return scrub_answer(read_json(response, what=what), response.content, secrets())


def read_json(response: httpx.Response, *, what: str) -> Any:
    """The decoded JSON body; anything else is a clear error that keeps no raw text."""
    content_type = response.headers.get("content-type", "")
    summary = f"<{len(response.content)} bytes of {content_type or 'unknown type'}>"
    if "json" not in content_type.lower():
        raise ResponseValidationError(
            f"The server's answer to {what} was not JSON (HTTP {response.status_code}, "
            f"{content_type or 'no content type'}). Check that the base URL points at Zapier "
            "AI Actions, then try again.",
            body=summary,
        )
    try:
        return response.json()
    except ValueError:
        raise ResponseValidationError(
            f"The server's answer to {what} was malformed JSON (HTTP {response.status_code}). "
            "Try again in a moment; if it persists, the service may be having trouble.",
            body=summary,
        ) from None


def json_or_none(response: httpx.Response) -> Any:
    """The decoded JSON body of an error answer, or None when it has none."""
    try:
        return read_json(response, what="the request")
    except ResponseValidationError:
        return None
