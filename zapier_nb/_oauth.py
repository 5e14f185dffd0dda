"""OAuth 2.0 protocol pieces as pure functions: the consent URL, the errors the consent
screen and the token endpoint answer with, and what may be shown about a token.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlencode

from ._errors import (
    AuthorizationError,
    ConsentDeniedError,
    InvalidCodeError,
    OAuthError,
    SessionExpiredError,
    ZapierError,
    error_for_status,
)
from ._paths import AUTHORIZE_PATH, TOKEN_PATH

if TYPE_CHECKING:
    from ._models import AuthorizeParams, Token, TokenInfo

__all__ = [
    "GrantType",
    "authorization_error",
    "authorize_url",
    "decode_jwt_claims",
    "token_error",
    "token_info",
]


def authorize_url(base_url: str, params: AuthorizeParams) -> str:
    """The consent screen's URL, query in the documented order, spaces as %20."""
    return f"{base_url}{AUTHORIZE_PATH}?{urlencode(params.form(), quote_via=quote)}"


def authorization_error(error: str, description: str | None) -> AuthorizationError:
    """The error for a consent screen's `error` answer (RFC 6749 4.1.2.1)."""
    if error == "access_denied":
        return ConsentDeniedError(
            "Access was declined on the Zapier consent screen. To log in, start the login "
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

GrantType = Literal["authorization_code", "refresh_token"]


def token_error(status_code: int, body: Any, *, grant_type: GrantType) -> ZapierError:
    """The error for a token endpoint's non-200 answer, by grant and status."""
    from . import _models

    if status_code == 429:
        return error_for_status(status_code, body=body, method="POST", path=TOKEN_PATH)
    if status_code >= 500:
        return error_for_status(
            status_code,
            body=body,
            method="POST",
            path=TOKEN_PATH,
            hint="The token request failed on the server; try again in a moment.",
        )
    try:
        parsed = _models.OAuthErrorResponse.model_validate(body)
        error, description = parsed.error, parsed.error_description
    except ValueError:
        error, description = "unknown_error", None
    detail = f": {description.rstrip('.')}" if description else ""
    fields: dict[str, Any] = {
        "status_code": status_code,
        "error": error,
        "error_description": description,
        "body": body,
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
            f"The authorization code was rejected{detail}. Codes work once and expire within "
            "minutes. This login is still open: approve again on its consent page (the same "
            "button or link) and bring back the new answer.",
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
    except (IndexError, ValueError, binascii.Error, RecursionError):
        return {}
    return claims if isinstance(claims, dict) else {}


def token_info(token: Token) -> TokenInfo:
    """What may be shown about a token: the id_token's email and name, scopes, expiry."""
    from . import _models

    claims = decode_jwt_claims(token.id_token.get_secret_value()) if token.id_token else {}
    email, name = claims.get("email"), claims.get("name")
    return _models.TokenInfo(
        email=email if isinstance(email, str) else None,
        name=name if isinstance(name, str) else None,
        scope=token.scope,
        expires_at=datetime.fromtimestamp(token.expires_at, UTC),
        has_refresh_token=token.refresh_token is not None,
    )
