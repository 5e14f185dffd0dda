"""OAuth 2.0 authorization code + PKCE for a public client, as pure functions (no I/O)."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from ._errors import (
    AuthorizationError,
    ConsentDeniedError,
    InvalidCodeError,
    LoginError,
    OAuthError,
    SessionExpiredError,
    StateMismatchError,
)
from ._models import AuthorizeParams, LoginLinkParams, OAuthErrorResponse
from ._redact import redact

__all__ = [
    "AUTHORIZE_PATH",
    "CHECK_PATH",
    "LOGIN_LINK_PATH",
    "TOKEN_PATH",
    "PastedAnswer",
    "authorize_url",
    "code_from_answer",
    "decode_jwt_claims",
    "login_link_url",
    "parse_pasted_answer",
    "token_error",
]

AUTHORIZE_PATH = "/oauth/authorize/"
TOKEN_PATH = "/oauth/token/"
CHECK_PATH = "/api/v2/auth/check/"
LOGIN_LINK_PATH = "/api/v2/auth/login-link/"

_STRIP = " \t\r\n\"'`<>"
_WHITESPACE = re.compile(r"\s+")
_BARE_CODE = re.compile(r"[A-Za-z0-9\-._~+/=%]+")


def authorize_url(base_url: str, params: AuthorizeParams) -> str:
    """The consent screen's URL, query in the documented order, spaces as %20."""
    return f"{base_url}{AUTHORIZE_PATH}?{urlencode(params.form(), quote_via=quote)}"


def login_link_url(base_url: str, params: LoginLinkParams) -> str:
    """The quick-account-creation request URL."""
    return f"{base_url}{LOGIN_LINK_PATH}?{urlencode(params.form(), quote_via=quote)}"


@dataclass(frozen=True, repr=False)
class PastedAnswer:
    """What a user pasted back: a code, and the state and error the redirect carried."""

    code: str | None
    state: str | None = None
    error: str | None = None
    error_description: str | None = None

    def __repr__(self) -> str:
        code = "***" if self.code else None
        return f"PastedAnswer(code={code!r}, state={self.state!r}, error={self.error!r})"


def parse_pasted_answer(text: str) -> PastedAnswer:
    """Read a bare code, `code=...`, or a whole redirected URL (query or fragment)."""
    cleaned = _WHITESPACE.sub("", text.strip(_STRIP)).strip(_STRIP)
    if not cleaned:
        raise LoginError(
            "Nothing was pasted. Paste the code, or the whole address of the page you landed on "
            "after approving."
        )
    if "=" not in cleaned and "://" not in cleaned:
        if not _BARE_CODE.fullmatch(cleaned):
            raise LoginError(
                "That does not look like an authorization code. Paste the code, or the whole "
                "address of the page you landed on after approving."
            )
        return PastedAnswer(code=cleaned)
    fields = _query_fields(cleaned)
    answer = PastedAnswer(
        code=fields.get("code"),
        state=fields.get("state"),
        error=fields.get("error"),
        error_description=fields.get("error_description"),
    )
    if answer.code is None and answer.error is None:
        raise LoginError(
            "The pasted text has no code in it. After approving, copy the whole address of the "
            "page you land on (it contains 'code='), and paste it again."
        )
    return answer


def _query_fields(text: str) -> dict[str, str]:
    if "://" in text:
        parts = urlsplit(text)
        raw = "&".join(p for p in (parts.query, parts.fragment) if p)
    else:
        raw = text.lstrip("?#")
    fields: dict[str, str] = {}
    for key, values in parse_qs(raw, keep_blank_values=False).items():
        fields.setdefault(key, values[0])
    return fields


def code_from_answer(answer: PastedAnswer, expected_state: str | None) -> str:
    """The code to exchange, after checking state and OAuth errors (RFC 6749 4.1.2)."""
    if answer.state is not None and expected_state is not None and answer.state != expected_state:
        raise StateMismatchError(
            "The pasted answer belongs to a different login attempt (its state does not match). "
            "Use the newest login link, approve, and paste the address you land on."
        )
    if answer.error is not None:
        raise _authorization_error(answer.error, answer.error_description)
    if answer.code is None:
        raise LoginError("The pasted text has no code in it. Paste the code or the whole address.")
    return answer.code


def _authorization_error(error: str, description: str | None) -> AuthorizationError:
    if error == "access_denied":
        return ConsentDeniedError(
            "Access was declined on the Zapier consent screen. To continue, open the login link "
            "again and choose to allow access.",
            error=error,
            error_description=description,
        )
    detail = f" ({description})" if description else ""
    return AuthorizationError(
        f"The consent screen answered with the error '{error}'{detail}. Check the client id, "
        "the redirect URI registered for the app, and that it is a Public Client; then log in "
        "again.",
        error=error,
        error_description=description,
    )


_TOKEN_HINTS = {
    "invalid_client": "Check the client id (ZAPIER_CLIENT_ID or --client-id) and the base URL.",
    "unauthorized_client": "In the OAuth app's settings, check 'Public Client'; AI Actions "
    "requires it for PKCE.",
    "invalid_scope": "The app is not allowed the requested scopes; check the app's settings.",
    "unsupported_grant_type": "The server does not accept this grant; check the base URL.",
    "invalid_request": "The server found the token request malformed; please report this.",
}


def token_error(status_code: int, body: Any, *, grant_type: str) -> OAuthError:
    """Map a token endpoint's error answer to the error a user can act on."""
    try:
        parsed = OAuthErrorResponse.model_validate(body)
        error, description = parsed.error, parsed.error_description
    except ValueError:
        error, description = "unknown_error", None
    detail = f": {description.rstrip('.')}" if description else ""
    fields: dict[str, Any] = {
        "status_code": status_code,
        "error": error,
        "error_description": description,
        "body": redact(body),
        "path": TOKEN_PATH,
    }
    if error == "invalid_grant" and grant_type == "refresh_token":
        return SessionExpiredError(
            f"Your Zapier login has ended: the refresh token was rejected{detail}. Log in again "
            "(session.login() or %zapier_login).",
            **fields,
        )
    if error == "invalid_grant":
        return InvalidCodeError(
            f"The authorization code was rejected{detail}. Codes work once and expire quickly: "
            "open the login link again, approve, and paste the new code.",
            **fields,
        )
    hint = _TOKEN_HINTS.get(error, "Try again; if it persists, log in again.")
    return OAuthError(f"The token request failed with '{error}'{detail}. {hint}", **fields)


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, NOT verified: for display only, never for trust decisions."""
    try:
        payload = token.split(".")[1]
        padded = payload + "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (IndexError, ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}
