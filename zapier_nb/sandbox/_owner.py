"""Whether a request comes from whoever started this sandbox: the pages that show its
credentials (the API key, MCP connection tokens) answer only them."""

from __future__ import annotations

from starlette.requests import Request

from ._peer import same_user
from ._proof_middleware import OWNER_STATE_KEY
from ._routes import OWNER_COOKIE
from ._state import SandboxState

__all__ = ["from_owner"]


def from_owner(request: Request, state: SandboxState) -> bool:
    """Asked for through the owner's proxy, from a browser that opened the one-time link,
    or by a process of the owner's own Unix user (Linux)."""
    if request.scope.get("state", {}).get(OWNER_STATE_KEY):
        return True
    if state.is_owner_cookie(request.cookies.get(OWNER_COOKIE, "")):
        return True
    return same_user(request.scope.get("client"), request.scope.get("server"))
