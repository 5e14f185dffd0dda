"""The error tree: every error the toolkit raises derives from `ZapierError`.

    ZapierError
    ├── ConfigurationError ············ also a ValueError
    │   └── TokenCacheError
    ├── ActionLookupError ············· also a LookupError
    ├── LoginRequiredError
    ├── LoginError
    │   ├── StateMismatchError
    │   ├── AuthorizationError
    │   │   └── ConsentDeniedError
    │   └── InvalidCodeError ·········· also an OAuthError
    ├── APIStatusError
    │   ├── OAuthError
    │   │   ├── InvalidCodeError ······ (the same class as above)
    │   │   └── SessionExpiredError ··· also an AuthenticationError
    │   ├── AuthenticationError (401)
    │   │   └── SessionExpiredError ··· (the same class as above)
    │   ├── PermissionDeniedError (403)
    │   ├── ActionRequestError (400, 412, 422 from AI Actions)
    │   ├── RateLimitError (429)
    │   └── ServerError (5xx)
    ├── ToolError ····················· an MCP tool answered isError
    ├── ResponseValidationError
    └── APIConnectionError
        └── APITimeoutError

The joins (dotted) let one except clause catch an error by what it means: a bad setting
is a ValueError; an action that cannot be found is a LookupError; a rejected code is a
failed login and an OAuth answer; a rejected refresh token is an OAuth answer and lost
authentication.

Each message says what failed and what to do next. No message, repr or attribute holds
a secret: server bodies are kept only after redaction.
"""

from __future__ import annotations

from typing import Any

from ._redact import printable, redact, scrub, scrub_value

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "ActionLookupError",
    "ActionRequestError",
    "AuthenticationError",
    "AuthorizationError",
    "ConfigurationError",
    "ConsentDeniedError",
    "InvalidCodeError",
    "LoginError",
    "LoginRequiredError",
    "OAuthError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResponseValidationError",
    "ServerError",
    "SessionExpiredError",
    "StateMismatchError",
    "TokenCacheError",
    "ToolError",
    "ZapierError",
]


class ZapierError(Exception):
    """Base class of every error raised by zapier_nb."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"

    def scrub_secrets(self, secrets: list[str | None]) -> None:
        """Mask these values wherever this error holds text: message, body, description."""
        cleaned = scrub(self.message, secrets)
        if cleaned != self.message:
            self.message = cleaned
            self.args = (cleaned,)
        for attribute in ("body", "error_description"):
            if getattr(self, attribute, None) is not None:
                setattr(self, attribute, scrub_value(getattr(self, attribute), secrets))


class ConfigurationError(ZapierError, ValueError):
    """The session was given settings it cannot use (a missing client id, a plain-http URL)."""


class TokenCacheError(ConfigurationError):
    """The on-disk token cache cannot be used safely (its folder or lock is not private)."""


class LoginRequiredError(ZapierError):
    """A call needs credentials and the session has none: never had (`ended` False), or its
    login was ended (elsewhere, by a logout or a server that forgot it)."""

    def __init__(self, message: str, *, ended: bool = False) -> None:
        super().__init__(message)
        self.ended = ended


class LoginError(ZapierError):
    """The OAuth login could not be completed from what was pasted or returned."""


class StateMismatchError(LoginError):
    """The pasted answer carries a `state` that is not the one this login sent."""


class AuthorizationError(LoginError):
    """The consent screen redirected back with an OAuth error instead of a code."""

    def __init__(self, message: str, *, error: str, error_description: str | None = None) -> None:
        super().__init__(message)
        self.error = error
        self.error_description = error_description


class ConsentDeniedError(AuthorizationError):
    """The user chose Deny on the consent screen."""


class APIStatusError(ZapierError):
    """The server answered with an error status. `body` is its answer, secret fields masked."""

    def __init__(
        self, message: str, *, status_code: int, body: Any = None, method: str = "", path: str = ""
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = redact(body)
        self.method = method
        self.path = path


class OAuthError(APIStatusError):
    """The token endpoint refused a request with an OAuth error (`error`, `error_description`)."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error: str,
        error_description: str | None = None,
        body: Any = None,
        method: str = "POST",
        path: str = "",
    ) -> None:
        super().__init__(message, status_code=status_code, body=body, method=method, path=path)
        self.error = error
        self.error_description = error_description


class InvalidCodeError(OAuthError, LoginError):
    """The authorization code was rejected: expired, already used, or wrong verifier."""


class AuthenticationError(APIStatusError):
    """The server did not accept the credentials (HTTP 401)."""


class SessionExpiredError(AuthenticationError, OAuthError):
    """The refresh token was rejected: the login has ended and must be done again."""


class PermissionDeniedError(APIStatusError):
    """The credentials are valid but not allowed to do this (HTTP 403)."""


class RateLimitError(APIStatusError):
    """Too many requests (HTTP 429)."""

    retry_after: float | None = None  # seconds the server asked to wait, when it said


class ServerError(APIStatusError):
    """The server failed (HTTP 5xx) on every attempt."""


class ToolError(ZapierError):
    """An MCP tool ran and reported an error (`isError`). `text` is what the tool said."""

    def __init__(self, message: str, *, tool: str, text: str) -> None:
        super().__init__(message)
        self.tool = tool
        self.text = text

    def scrub_secrets(self, secrets: list[str | None]) -> None:
        super().scrub_secrets(secrets)
        self.text = scrub(self.text, secrets)


class ResponseValidationError(ZapierError):
    """The server's answer was not the JSON the API documents."""

    def __init__(self, message: str, *, body: Any = None) -> None:
        super().__init__(message)
        self.body = redact(body)


class APIConnectionError(ZapierError):
    """The server could not be reached, or the connection broke."""


class APITimeoutError(APIConnectionError):
    """The server did not answer in time."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    401: AuthenticationError,
    403: PermissionDeniedError,
    429: RateLimitError,
}

_STATUS_HINTS: dict[int, str] = {
    401: "Check the credentials: log in again, or use a valid API key.",
    403: "These credentials are valid but not allowed to do this; check the account's access.",
    404: "Check the base URL and the endpoint path.",
    429: "Wait a little, then try again.",
}


def error_for_status(
    status_code: int, *, body: Any = None, method: str = "", path: str = "", hint: str = ""
) -> APIStatusError:
    """Build the error for an HTTP error status; the one place statuses map to classes."""
    cls = _STATUS_CLASSES.get(status_code, ServerError if status_code >= 500 else APIStatusError)
    detail = _server_detail(body)
    what = f"{method} {path} failed with HTTP {status_code}".strip()
    if detail:
        what += f": {detail}"
    if not hint:
        hint = _STATUS_HINTS.get(
            status_code,
            "The server failed; try again in a moment."
            if status_code >= 500
            else "Check the request.",
        )
    return cls(f"{what}. {hint}", status_code=status_code, body=body, method=method, path=path)


def _server_detail(body: Any) -> str:
    if isinstance(body, dict):
        for key in ("detail", "error_description", "error", "message"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return printable(value).rstrip(".")
    return ""


class ActionRequestError(APIStatusError):
    """An AI Actions call refused with HTTP 400, 412 or 422 and `{"error": ...}`.

    `error` is the server's message; the action did not run.
    """

    def __init__(
        self, message: str, *, error: str, status_code: int, body: Any, method: str, path: str
    ) -> None:
        super().__init__(message, status_code=status_code, body=body, method=method, path=path)
        self.error = error


class ActionLookupError(ZapierError, LookupError):
    """No AI Action, or more than one, matches what was asked for.

    `candidates` holds `(id, description)` of the actions that matched (none when nothing did).
    """

    def __init__(self, message: str, *, query: str, candidates: list[tuple[str, str]]) -> None:
        super().__init__(message)
        self.query = query
        self.candidates = candidates


# Tracebacks and reprs name the classes where users import them from.
for _name in __all__:
    globals()[_name].__module__ = "zapier_nb"
del _name
