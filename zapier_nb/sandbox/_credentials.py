"""Who a request to the sandbox's API speaks for: an API key or a Bearer token, as the
AI Actions API reads them, with its 401 and 403 answers."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ._models import SandboxUser
from ._state import SandboxState

__all__ = ["authenticate", "detail"]


def authenticate(
    state: SandboxState, request: Request, *, scope: str | None = None
) -> SandboxUser | Response:
    """The user behind the `x-api-key` header (or `?api_key=`) or the Bearer token, or the
    answer refusing the request. With `scope`, a token must have been granted it."""
    api_key = request.headers.get("x-api-key") or request.query_params.get("api_key", "")
    if api_key:
        user = state.user_by_api_key(api_key)
        return user if user is not None else detail(401, "Invalid API key.")
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return detail(
            401,
            "Authentication credentials were not provided.",
            {"WWW-Authenticate": 'Bearer realm="api"'},
        )
    token = credentials.strip()
    user, reason = state.bearer_user(token) if token else (None, "Invalid token.")
    if user is None:
        challenge = f'Bearer realm="api", error="invalid_token", error_description="{reason}"'
        return detail(401, reason, {"WWW-Authenticate": challenge})
    if scope is not None and scope not in state.bearer_scope(token).split():
        challenge = f'Bearer realm="api", error="insufficient_scope", scope="{scope}"'
        return detail(403, f"This token lacks the scope {scope}.", {"WWW-Authenticate": challenge})
    return user


def detail(status: int, text: str, headers: dict[str, str] | None = None) -> Response:
    """An error in the API's `{"detail": ...}` shape."""
    return JSONResponse({"detail": text}, status_code=status, headers=headers)
