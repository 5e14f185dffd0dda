"""ASGI middleware: answers its owner's proxy's challenges, and marks the owner's requests.

See `_ownership` for the protocol. A request carrying `x-zapier-nb-challenge` gets the
proof in its answer's headers; `PROOF_PATH` answers only that (and a one-time nonce for
the proxy to sign); a request whose `x-zapier-nb-owner` signs such a nonce is the owner's.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._ownership import (
    CHALLENGE_HEADER,
    MAX_NONCE_LENGTH,
    NONCE_HEADER,
    OWNER_HEADER,
    PROOF_HEADER,
    proof,
)
from ._routes import PROOF_PATH
from ._state import SandboxState

OWNER_STATE_KEY = "zapier_nb.sandbox.owner"


class ProofMiddleware:
    def __init__(self, app: ASGIApp, state: SandboxState) -> None:
        self._app = app
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        state = self._state
        owner = headers.get(OWNER_HEADER, "")
        scope.setdefault("state", {})[OWNER_STATE_KEY] = bool(owner) and (
            state.owner_nonces.take(state.proof_key, owner)
        )
        extra: list[tuple[bytes, bytes]] = []
        challenge = headers.get(CHALLENGE_HEADER, "")
        if challenge and len(challenge) <= MAX_NONCE_LENGTH:
            where = urlsplit(state.base_url)
            address, port = (where.hostname or ""), where.port or 0
            answer = proof(state.proof_key, address, port, challenge)
            extra.append((PROOF_HEADER.encode(), answer.encode()))
        if scope["path"] == PROOF_PATH:
            extra.append((NONCE_HEADER.encode(), state.owner_nonces.issue().encode()))
            extra.append((b"cache-control", b"no-store"))
            await send({"type": "http.response.start", "status": 204, "headers": extra})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_proof(message: Message) -> None:
            if message["type"] == "http.response.start" and extra:
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self._app(scope, receive, send_with_proof)
