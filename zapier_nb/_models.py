"""Pydantic models of the requests and responses in the AI Actions auth documentation.

pydantic costs more to import than the rest of the package, so the modules that build
or read these import this one inside the functions that need it: a session loads it at
its first call, and an API-key session that makes none never does. Each model is built
the first time it validates (`defer_build`), so a call pays only for the models it uses.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from ._config import DEFAULT_SCOPE
from ._errors import ResponseValidationError
from ._redact import redact

__all__ = [
    "AuthorizationCodeTokenRequest",
    "AuthorizeParams",
    "CheckAuthResponse",
    "LoginLinkParams",
    "LoginLinkResponse",
    "OAuthErrorResponse",
    "RefreshTokenRequest",
    "SecretStr",
    "ServerAnswer",
    "Token",
    "TokenInfo",
    "TokenResponse",
    "parse_response",
]


class ServerAnswer(BaseModel):
    """A server answer: unknown fields are tolerated and kept."""

    model_config = ConfigDict(extra="allow", frozen=True, defer_build=True)


class CheckAuthResponse(ServerAnswer):
    """`GET /api/v2/auth/check/`: who the credentials belong to."""

    success: bool
    email: str
    name: str
    user_id: int | None = None
    is_staff: bool | None = None


class LoginLinkResponse(ServerAnswer):
    """`GET /api/v2/auth/login-link/`: a sign-up link that ends at the consent screen."""

    login_link: str


class OAuthErrorResponse(ServerAnswer):
    """The token endpoint's error body (RFC 6749 section 5.2)."""

    error: str
    error_description: str | None = None


# A server may claim any lifetime: past a year the token is refreshed then anyway, and an
# expiry always stays a date (datetime ends with the year 9999).
MAX_TOKEN_LIFETIME = 366 * 24 * 3600.0
_LATEST_EXPIRY = 253_402_214_400.0  # 9999-12-31T00:00:00Z


class TokenResponse(ServerAnswer):
    """`POST /oauth/token/`: the seed's `OAuthAccessToken`.

    A refresh answer may omit `refresh_token` and `id_token`; the session then keeps
    the ones it has.
    """

    access_token: SecretStr
    expires_in: float = Field(gt=0)
    token_type: str
    refresh_token: SecretStr | None = None
    id_token: SecretStr | None = None
    scope: str | None = None

    @field_validator("token_type")
    @classmethod
    def _bearer_only(cls, value: str) -> str:
        if value.lower() != "bearer":
            raise ValueError(f"expected 'Bearer', got {value!r}")
        return "Bearer"

    @field_validator("expires_in")
    @classmethod
    def _at_most_a_year(cls, value: float) -> float:
        return min(value, MAX_TOKEN_LIFETIME)

    def to_token(self, received_at: float, previous: Token | None = None) -> Token:
        """The token state, its expiry counted from when this answer was received."""
        refresh = self.refresh_token or (previous.refresh_token if previous else None)
        id_token = self.id_token or (previous.id_token if previous else None)
        return Token(
            access_token=self.access_token,
            refresh_token=refresh,
            id_token=id_token,
            scope=self.scope or (previous.scope if previous else None),
            lifetime=self.expires_in,
            expires_at=received_at + self.expires_in,
        )


class Token(BaseModel):
    """The tokens a session holds. Secret fields never show in a repr."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    access_token: SecretStr
    refresh_token: SecretStr | None
    id_token: SecretStr | None
    scope: str | None
    lifetime: float = Field(ge=0, le=MAX_TOKEN_LIFETIME, allow_inf_nan=False)
    expires_at: float = Field(ge=0, lt=_LATEST_EXPIRY, allow_inf_nan=False)

    def refresh_due(self, now: float, leeway: float) -> bool:
        """True within the leeway of expiry; the leeway is at most half the lifetime."""
        return now >= self.expires_at - min(leeway, self.lifetime / 2)


class TokenInfo(BaseModel):
    """What may be shown about a login: who, which scopes, until when. Holds no secret."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    email: str | None
    name: str | None
    scope: str | None
    expires_at: datetime
    has_refresh_token: bool

    def seconds_left(self, now: datetime | None = None) -> float:
        """Seconds until the access token expires (negative once it has)."""
        return (self.expires_at - (now or datetime.now(UTC))).total_seconds()


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, defer_build=True)

    def form(self) -> dict[str, str]:
        """The fields as sent on the wire, secrets revealed."""
        out: dict[str, str] = {}
        for name, value in self:
            if value is None:
                continue
            out[name] = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
        return out


class AuthorizeParams(_Request):
    """Query of `/oauth/authorize/`, in the documented order, plus `state`."""

    client_id: str
    redirect_uri: str
    scope: str = DEFAULT_SCOPE
    response_type: Literal["code"] = "code"
    code_challenge: str
    code_challenge_method: Literal["S256"] = "S256"
    state: str


class AuthorizationCodeTokenRequest(_Request):
    """Form of `POST /oauth/token/` exchanging a code."""

    client_id: str
    grant_type: Literal["authorization_code"] = "authorization_code"
    code_verifier: SecretStr
    redirect_uri: str
    code: SecretStr


class RefreshTokenRequest(_Request):
    """Form of `POST /oauth/token/` refreshing the access token."""

    client_id: str
    grant_type: Literal["refresh_token"] = "refresh_token"
    refresh_token: SecretStr


class LoginLinkParams(_Request):
    """Query of `/api/v2/auth/login-link/`.

    Where the new user lands, usually the full authorize URL of a pending login, goes in
    both spellings: the how-to page sends `redirect_uri`, the published V2 spec names it
    `redirect_to`. Without it the server shows its own "login success" page.
    """

    sign_up_first_name: str
    sign_up_last_name: str
    sign_up_email: str
    redirect_uri: str | None = None
    redirect_to: str | None = None

    @classmethod
    def landing_on(
        cls, url: str | None, *, first_name: str, last_name: str, email: str
    ) -> LoginLinkParams:
        return cls(
            sign_up_first_name=first_name,
            sign_up_last_name=last_name,
            sign_up_email=email,
            redirect_uri=url,
            redirect_to=url,
        )


M = TypeVar("M", bound=BaseModel)


def parse_response(model: type[M], body: Any, *, what: str) -> M:
    """Validate a decoded JSON body; a mismatch names the field, never the values.

    The error is raised outside the `except` block, with the body already masked in
    this frame, so that a traceback showing local variables reveals no secret.
    """
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in err['loc']) or 'body'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
    body = redact(body)
    raise ResponseValidationError(
        f"The server's answer to {what} does not match the API ({problems}). "
        "Check that the base URL points at Zapier AI Actions; if it does, try again later.",
        body=body,
    )
