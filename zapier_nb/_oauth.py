"""OAuth 2.0 authorization code + PKCE for a public client, as pure functions (no I/O).

A login starts as a `PendingLogin` (verifier, state, consent URL) and ends with the
answer the user brings back: a paste, or a callback that carries `code` and `state`.
Whatever completes it, `PendingLogin.code_from` is the one check of state and errors.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from . import _models
from ._errors import (
    AuthorizationError,
    ConsentDeniedError,
    InvalidCodeError,
    LoginError,
    OAuthError,
    SessionExpiredError,
    StateMismatchError,
    ZapierError,
    error_for_status,
)
from ._pkce import create_s256_challenge, generate_code_verifier, generate_state

if TYPE_CHECKING:
    from ._models import AuthorizeParams, SecretStr, Token, TokenInfo

__all__ = [
    "AUTHORIZE_PATH",
    "CHECK_PATH",
    "LOGIN_LINK_PATH",
    "MAX_ANSWER_LENGTH",
    "TOKEN_PATH",
    "PastedAnswer",
    "PendingLogin",
    "authorize_url",
    "code_from_answer",
    "decode_jwt_claims",
    "parse_pasted_answer",
    "start_login",
    "token_error",
    "token_info",
]

AUTHORIZE_PATH = "/oauth/authorize/"
TOKEN_PATH = "/oauth/token/"
CHECK_PATH = "/api/v2/auth/check/"
LOGIN_LINK_PATH = "/api/v2/auth/login-link/"

# A redirected address is a few hundred characters; anything far longer is not one.
MAX_ANSWER_LENGTH = 4096

_STRIP = " \t\r\n\"'`<>"
_WHITESPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BARE_CODE = re.compile(r"[A-Za-z0-9\-._~+/%]+=*")
_CODE = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_PASTE_AGAIN = "Paste the code, or the whole address of the page you landed on after approving."


def authorize_url(base_url: str, params: AuthorizeParams) -> str:
    """The consent screen's URL, query in the documented order, spaces as %20."""
    return f"{base_url}{AUTHORIZE_PATH}?{urlencode(params.form(), quote_via=quote)}"


@dataclass(frozen=True, repr=False)
class PastedAnswer:
    """What came back from the consent screen: a code, or an error, and the state.

    `bare` is True for a code pasted alone, the only form allowed to come without state.
    """

    code: str | None
    state: str | None = None
    error: str | None = None
    error_description: str | None = None
    bare: bool = False

    def __repr__(self) -> str:
        code = "***" if self.code else None
        return f"PastedAnswer(code={code!r}, state={self.state!r}, error={self.error!r})"


@dataclass(frozen=True, repr=False)
class PendingLogin:
    """A login begun and not yet completed. The verifier shows in no repr."""

    url: str
    state: str
    client_id: str
    redirect_uri: str
    verifier: SecretStr

    def __repr__(self) -> str:
        return f"PendingLogin(url={self.url!r}, state={self.state!r})"

    def code_from(self, answer: PastedAnswer) -> SecretStr:
        """The code to exchange, once the answer is known to belong to this login."""
        return _models.SecretStr(code_from_answer(answer, self.state))


def start_login(base_url: str, *, client_id: str, redirect_uri: str, scope: str) -> PendingLogin:
    """A new PKCE login: a fresh verifier (S256) and state, and the consent URL."""
    verifier = _models.SecretStr(generate_code_verifier())
    params = _models.AuthorizeParams(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=scope,
        code_challenge=create_s256_challenge(verifier.get_secret_value()),
        state=generate_state(),
    )
    url = authorize_url(base_url, params)
    return PendingLogin(url, params.state, client_id, redirect_uri, verifier)


def parse_pasted_answer(text: object) -> PastedAnswer:
    """Read a bare code, `code=...`, or a whole redirected URL (query or fragment).

    The error, if any, is raised from this frame, which by then holds no copy of what
    was pasted: a traceback that shows local variables reveals no code.
    """
    outcome = _read_answer(text)
    del text
    if isinstance(outcome, LoginError):
        raise outcome
    return outcome


def _read_answer(text: object) -> PastedAnswer | LoginError:
    if not isinstance(text, str):
        return LoginError(f"Paste text, not {type(text).__name__}. {_PASTE_AGAIN}")
    if len(text) > MAX_ANSWER_LENGTH:
        return LoginError(
            f"The pasted text is {len(text)} characters long; an address from the consent "
            f"screen is far shorter. {_PASTE_AGAIN}"
        )
    if _CONTROL.search(text) or not _encodable(text):
        return LoginError(f"The pasted text holds characters no address has. {_PASTE_AGAIN}")
    cleaned = _WHITESPACE.sub("", text.strip(_STRIP)).strip(_STRIP)
    if not cleaned:
        return LoginError(f"Nothing was pasted. {_PASTE_AGAIN}")
    if cleaned.count("://") > 1 or cleaned.count("code=") > 1:
        return LoginError(
            "The address seems to be pasted twice. Clear the field and paste it once."
        )
    if not any(mark in cleaned for mark in "=?#") and "://" not in cleaned:
        if not _BARE_CODE.fullmatch(cleaned):
            return LoginError(f"That does not look like an authorization code. {_PASTE_AGAIN}")
        return PastedAnswer(code=cleaned, bare=True)
    return _answer_from_fields(_query_fields(cleaned))


def _answer_from_fields(fields: dict[str, list[str]]) -> PastedAnswer | LoginError:
    values = {
        "code": list(dict.fromkeys(value for value in fields.get("code", []) if value)),
        "state": list(dict.fromkeys(fields.get("state", []))),
    }
    if len(values["state"]) > 1 or len(values["code"]) > 1:
        return LoginError(
            "The pasted text carries two different answers (two codes or two states). Paste "
            "the address of the page you landed on once, alone."
        )
    state = values["state"][0] if values["state"] else None
    if state is not None and ("://" in state or "%3a%2f%2f" in state.lower()):
        return LoginError(
            "Another address is glued to the end of the pasted one. Clear the field and paste "
            "the address once, alone."
        )
    code = values["code"][0] if values["code"] else None
    error = _first(fields, "error")
    if code is None and error is None:
        return LoginError(
            "The pasted text has no code in it. After approving, copy the whole address of the "
            "page you land on (it contains 'code='), and paste it again."
        )
    if code is not None and not _CODE.fullmatch(code):
        return LoginError(
            f"The code in the pasted text has characters a code never has. {_PASTE_AGAIN}"
        )
    return PastedAnswer(code, state, error, _first(fields, "error_description"))


def _first(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _query_fields(text: str) -> dict[str, list[str]]:
    """The `key=value` fields of an answer: the query and fragment of a URL (with or
    without a scheme), or the text itself when it starts with the fields."""
    if "://" in text:
        parts = urlsplit(text)
        raw = [parts.query, parts.fragment]
    else:
        cut = min((i for i in (text.find("?"), text.find("#")) if i >= 0), default=-1)
        head, rest = (text, "") if cut < 0 else (text[:cut], text[cut + 1 :])
        raw = [head if "=" in head else "", *rest.split("#")]
    return parse_qs("&".join(part for part in raw if part), keep_blank_values=True)


def code_from_answer(answer: PastedAnswer, expected_state: str | None) -> str:
    """The code to exchange, after checking state and OAuth errors (RFC 6749 4.1.2).

    An answer in `key=value` form must carry the state this login sent; only a bare
    code may come without it.
    """
    if expected_state is not None and not answer.bare and answer.state != expected_state:
        if not answer.state:
            raise StateMismatchError(
                "The pasted address carries no state, so it cannot be told apart from an "
                "answer meant for someone else. Paste the whole address you landed on, or "
                "only the code."
            )
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

GrantType = Literal["authorization_code", "refresh_token"]


def token_error(status_code: int, body: Any, *, grant_type: GrantType) -> ZapierError:
    """The error for a token endpoint's non-200 answer, by grant and status."""
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
    except (IndexError, ValueError, binascii.Error, RecursionError):
        return {}
    return claims if isinstance(claims, dict) else {}


def token_info(token: Token) -> TokenInfo:
    """What may be shown about a token: the id_token's email and name, scopes, expiry."""
    claims = decode_jwt_claims(token.id_token.get_secret_value()) if token.id_token else {}
    email, name = claims.get("email"), claims.get("name")
    return _models.TokenInfo(
        email=email if isinstance(email, str) else None,
        name=name if isinstance(name, str) else None,
        scope=token.scope,
        expires_at=datetime.fromtimestamp(token.expires_at, UTC),
        has_refresh_token=token.refresh_token is not None,
    )
