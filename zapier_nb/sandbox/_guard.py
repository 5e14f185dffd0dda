"""What the sandbox checks before any route runs: a Host it answers to, and a small body.

A page on another site can make the browser send requests to a loopback port, and a
name that an attacker points at 127.0.0.1 (DNS rebinding) even lets it read the
answers; refusing every Host but the sandbox's own stops both. Bodies are capped so
that one request cannot take the memory of the kernel the sandbox runs in.
"""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._state import SandboxState

MAX_BODY_BYTES = 64 * 1024


class RequestGuard:
    """ASGI middleware: 400 for an unknown Host, 413 for a body over `MAX_BODY_BYTES`."""

    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self._app = app
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "").strip().lower()
        if host not in self._state.allowed_hosts():
            allowed = ", ".join(sorted(self._state.allowed_hosts()))
            await _answer(send, 400, f"This sandbox answers only to the Host {allowed}.")
            return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY_BYTES):
            await _answer(send, 413, f"The body is over the sandbox's {MAX_BODY_BYTES} bytes.")
            return
        body, complete = await _read_capped(receive)
        if not complete:
            await _answer(send, 413, f"The body is over the sandbox's {MAX_BODY_BYTES} bytes.")
            return
        await self._app(scope, _replay(body, receive), send)


async def _read_capped(receive: Receive) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), True
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return b"", False
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _answer(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
