"""The one module that imports the HTTP library; transport policy lives here.

Retries: GETs are retried after a 5xx or any transport error. Token requests are
retried after a 5xx or a failure to connect, but not after the request may have
reached the server (a read timeout, a dropped answer): a refresh the server did
perform would have rotated the refresh token, and sending the old one again
would end the login.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Iterator
from typing import Any

import httpx2 as httpx

from ._errors import APIConnectionError, APITimeoutError, ResponseValidationError

__all__ = [
    "AsyncRetryTransport",
    "RetryTransport",
    "httpx",
    "json_or_none",
    "read_json",
    "translate_transport_errors",
]

logger = logging.getLogger("zapier_nb")

_BACKOFF_BASE = 0.25
_BACKOFF_CAP = 4.0
_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)


def _retryable_path(request: httpx.Request, token_path: str) -> bool:
    return request.method in ("GET", "HEAD") or request.url.path == token_path


def _may_retry_error(request: httpx.Request, exc: Exception) -> bool:
    return request.method in ("GET", "HEAD") or isinstance(exc, _CONNECT_ERRORS)


def backoff_delay(attempt: int, retry_after: str | None = None) -> float:
    """Exponential backoff with jitter; a server's Retry-After (seconds) wins, up to the cap."""
    if retry_after is not None:
        with contextlib.suppress(ValueError):
            return min(max(float(retry_after), 0.0), _BACKOFF_CAP)
    return min(_BACKOFF_BASE * 2.0**attempt, _BACKOFF_CAP) * random.uniform(0.5, 1.0)  # noqa: S311


class RetryTransport(httpx.BaseTransport):
    """Wraps a transport with bounded retries for idempotent and token requests."""

    def __init__(self, inner: httpx.BaseTransport, *, max_retries: int, token_path: str) -> None:
        self._inner = inner
        self._max_retries = max_retries
        self._token_path = token_path

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        retryable = _retryable_path(request, self._token_path)
        for attempt in range(self._max_retries + 1):
            last = attempt == self._max_retries or not retryable
            try:
                response = self._inner.handle_request(request)
            except httpx.TransportError as exc:
                if last or not _may_retry_error(request, exc):
                    raise
                _log_retry(request, type(exc).__name__, attempt)
                time.sleep(backoff_delay(attempt))
                continue
            if response.status_code < 500 or last:
                return response
            response.close()
            _log_retry(request, f"HTTP {response.status_code}", attempt)
            time.sleep(backoff_delay(attempt, response.headers.get("retry-after")))
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        self._inner.close()


class AsyncRetryTransport(httpx.AsyncBaseTransport):
    """The asynchronous twin of `RetryTransport`."""

    def __init__(
        self, inner: httpx.AsyncBaseTransport, *, max_retries: int, token_path: str
    ) -> None:
        self._inner = inner
        self._max_retries = max_retries
        self._token_path = token_path

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        retryable = _retryable_path(request, self._token_path)
        for attempt in range(self._max_retries + 1):
            last = attempt == self._max_retries or not retryable
            try:
                response = await self._inner.handle_async_request(request)
            except httpx.TransportError as exc:
                if last or not _may_retry_error(request, exc):
                    raise
                _log_retry(request, type(exc).__name__, attempt)
                await asyncio.sleep(backoff_delay(attempt))
                continue
            if response.status_code < 500 or last:
                return response
            await response.aclose()
            _log_retry(request, f"HTTP {response.status_code}", attempt)
            await asyncio.sleep(backoff_delay(attempt, response.headers.get("retry-after")))
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        await self._inner.aclose()


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
