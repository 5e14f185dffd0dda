"""Value types shared by the sandbox's modules."""

from __future__ import annotations

from dataclasses import dataclass, field

SCOPE_DESCRIPTIONS: dict[str, str] = {
    "nla:exposed_actions:execute": "Run AI Actions",
    "openid": "OpenID Connect scope",
}


@dataclass(frozen=True)
class SandboxUser:
    """A Zapier account known to the sandbox."""

    user_id: int
    email: str
    name: str
    is_staff: bool = False
    api_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class SandboxClient:
    """An OAuth app registered with the sandbox."""

    client_id: str
    redirect_uris: tuple[str, ...] = ()
    public: bool = True
    name: str = "Sandbox notebook app"


@dataclass(frozen=True)
class AuthRequest:
    """An authorization request that passed validation and awaits the user's decision."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    code_challenge: str
    user_id: int


class TokenRequestError(Exception):
    """An error answered by the token endpoint as RFC 6749 section 5.2 JSON."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(f"{error}: {description}")
        self.error = error
        self.description = description
        self.status = status
