"""The sandbox's in-memory world: accounts, apps, grants, tokens and request counters."""

from __future__ import annotations

import hashlib
import hmac
import math
import re
import secrets
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import urlsplit

from ._actions_state import ActionsState
from ._faults import FaultQueue
from ._jwt import sign_hs256
from ._mcp_state import MCPState
from ._models import AuthRequest, SandboxClient, SandboxUser, TokenRequestError
from ._ownership import OwnerNonces
from ._pkce import verifier_matches
from ._routes import CALLBACK_PATH

COUNTER_KEYS: tuple[str, ...] = (
    "authorize",
    "callback",
    "check",
    "consent",
    "login_link",
    "sign_up",
    "token",
    "token:authorization_code",
    "token:refresh_token",
    # AI Actions routes; "execute" counts previews too, "execute:preview" only them.
    "create_action",
    "delete_action",
    "execute",
    "execute:preview",
    "get_action",
    "list_actions",
    "rate",
    "update_action",
)


# Consent pages and sign-up links that nobody answered yet: anyone on the machine can
# ask for them, so they expire and only the newest are kept.
PENDING_TTL = 900.0
MAX_PENDING = 200


def new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


@dataclass
class _Code:
    request: AuthRequest
    expires_at: float
    used: bool = False


@dataclass
class _AccessToken:
    user_id: int
    client_id: str
    expires_at: float
    grant: str
    revoked: bool = False
    scope: str = ""


@dataclass
class _RefreshToken:
    user_id: int
    client_id: str
    scope: str
    grant: str
    revoked: bool = False
    rotated: bool = False


@dataclass(frozen=True)
class SignUpRequest:
    authorize_url: str
    first_name: str
    last_name: str
    email: str


_Pending = TypeVar("_Pending", AuthRequest, SignUpRequest)


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str | None
    id_token: str
    expires_in: int
    scope: str


class SandboxState:
    """Everything the server knows, guarded by one lock so tests may poke it from any thread."""

    def __init__(
        self,
        users: Sequence[SandboxUser],
        clients: Sequence[SandboxClient],
        *,
        token_ttl: float,
        code_ttl: float,
        rotate_refresh_tokens: bool,
        skip_consent_for_returning_users: bool = False,
    ) -> None:
        _check_users(users)
        _check_clients(clients)
        self._lock = threading.RLock()
        self.faults = FaultQueue()
        self.signing_key = secrets.token_bytes(32)
        # The key its owner's proxy checks (written to a private file), and the key that
        # signs its cookies.
        self.proof_key = secrets.token_bytes(32)
        self.cookie_key = secrets.token_bytes(32)
        self.owner_nonces = OwnerNonces()
        self.pending_ttl = PENDING_TTL
        self._home_links: set[str] = set()
        self.base_url = ""
        self.extra_hosts: tuple[str, ...] = ()
        self._configured_users = tuple(users)
        self._clients = {client.client_id: client for client in clients}
        self._defaults = (float(token_ttl), float(code_ttl), bool(rotate_refresh_tokens))
        self._skip_consent_default = bool(skip_consent_for_returning_users)
        # Redirect URIs registered while running: app settings, kept across reset().
        self._added_redirect_uris: dict[str, tuple[str, ...]] = {}
        self._secrets: dict[str, None] = {}
        self.generation = 0
        self.actions = ActionsState()
        self.mcp = MCPState(remember=self.remember_secret)
        for user in users:
            if user.api_key:
                self.remember_secret(user.api_key)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            # A request still waiting out an injected delay belongs to the world before
            # the reset; the app drops it instead of letting it touch the new one.
            self.generation += 1
            self.token_ttl, self.code_ttl, self.rotate_refresh_tokens = self._defaults
            self.clock_offset = 0.0
            self.reuse_revokes_grant = False
            self.skip_consent_for_returning_users = self._skip_consent_default
            self._consents: set[tuple[int, str, str, str]] = set()
            self._users = {user.user_id: user for user in self._configured_users}
            self._codes: dict[str, _Code] = {}
            self._access: dict[str, _AccessToken] = {}
            self._refresh: dict[str, _RefreshToken] = {}
            self._transactions: dict[str, tuple[AuthRequest, float]] = {}
            self._signups: dict[str, tuple[SignUpRequest, float]] = {}
            self._counts: Counter[str] = Counter()
            self.faults.clear()
            self.actions.reset()
            self.mcp.reset()

    @property
    def token_ttl(self) -> float:
        return self._token_ttl

    @token_ttl.setter
    def token_ttl(self, seconds: float) -> None:
        self._token_ttl = _non_negative("token_ttl", seconds)

    @property
    def code_ttl(self) -> float:
        return self._code_ttl

    @code_ttl.setter
    def code_ttl(self, seconds: float) -> None:
        self._code_ttl = _non_negative("code_ttl", seconds)

    @property
    def clock_offset(self) -> float:
        return self._clock_offset

    @clock_offset.setter
    def clock_offset(self, seconds: float) -> None:
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not math.isfinite(seconds)
        ):
            raise ValueError("clock_offset must be a finite number of seconds")
        self._clock_offset = float(seconds)

    def wall_time(self) -> float:
        """The server's idea of now: the real clock shifted by ``clock_offset``.

        Only wall-clock stamps (the id_token's iat and exp) use it; lifetimes are
        measured on the monotonic clock, as a real server's would be.
        """
        return time.time() + self._clock_offset

    def allowed_hosts(self) -> frozenset[str]:
        """The `host:port` values this sandbox answers to: its own address, the loopback
        names for its port, and any host it was told to trust."""
        parts = urlsplit(self.base_url)
        port = parts.port
        hosts = {parts.netloc.lower()}
        if port is not None:
            hosts |= {f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"}
            hosts |= {_with_port(host, port) for host in self.extra_hosts}
        return frozenset(host.lower() for host in hosts)

    @property
    def callback_uri(self) -> str:
        return self.base_url + CALLBACK_PATH

    def count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def get_count(self, key: str) -> int:
        with self._lock:
            return self._counts[key]

    def counts(self) -> dict[str, int]:
        with self._lock:
            totals = dict.fromkeys(COUNTER_KEYS, 0)
            totals.update(self._counts)
            return totals

    def remember_secret(self, value: str) -> None:
        with self._lock:
            self._secrets[value] = None

    def issued_secrets(self) -> list[str]:
        with self._lock:
            return list(self._secrets)

    def users(self) -> list[SandboxUser]:
        with self._lock:
            return list(self._users.values())

    def first_user(self) -> SandboxUser:
        return self._configured_users[0]

    def user(self, user_id: int) -> SandboxUser | None:
        with self._lock:
            return self._users.get(user_id)

    def user_by_email(self, email: str) -> SandboxUser | None:
        wanted = email.strip().casefold()
        with self._lock:
            return next((u for u in self._users.values() if u.email.casefold() == wanted), None)

    def user_by_api_key(self, api_key: str) -> SandboxUser | None:
        with self._lock:
            return next(
                (
                    u
                    for u in self._users.values()
                    if u.api_key and secrets.compare_digest(u.api_key, api_key)
                ),
                None,
            )

    def sign_up(self, email: str, name: str) -> tuple[SandboxUser, bool]:
        """The account for ``email``, created unless it exists; the flag says whether it is new."""
        with self._lock:
            existing = self.user_by_email(email)
            if existing is not None:
                return existing, False
            user = SandboxUser(
                user_id=max(self._users, default=1000) + 1,
                email=email.strip(),
                name=name,
                api_key=new_secret("sbx_key_"),
            )
            assert user.api_key is not None
            self.remember_secret(user.api_key)
            self._users[user.user_id] = user
            return user, True

    def clients(self) -> list[SandboxClient]:
        return list(self._clients.values())

    def client(self, client_id: str) -> SandboxClient | None:
        return self._clients.get(client_id)

    def redirect_uris(self, client: SandboxClient) -> tuple[str, ...]:
        with self._lock:
            added = self._added_redirect_uris.get(client.client_id, ())
        return (*client.redirect_uris, *added, self.callback_uri)

    def add_redirect_uri(self, client_id: str, uri: str) -> None:
        if self.client(client_id) is None:
            raise ValueError("no sandbox client has this client_id")
        parts = urlsplit(uri)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
            raise ValueError("a redirect URI is an absolute http(s) URL without a fragment")
        with self._lock:
            known = self._added_redirect_uris.get(client_id, ())
            if uri not in known:
                self._added_redirect_uris[client_id] = (*known, uri)

    def redirect_uri_allowed(self, client: SandboxClient, uri: str) -> bool:
        """Exact match with a registered URI, except RFC 8252 section 7.3's loopback rule.

        A registered `http://127.0.0.1/path` or `http://[::1]/path` without a port
        accepts the same URI with any port, as native apps need for an ephemeral
        listener. `localhost` gets no such rule. Whether Zapier's server applies it is
        an assumption, not documented by Zapier.
        """
        registered = self.redirect_uris(client)
        return uri in registered or any(_loopback_any_port(r, uri) for r in registered)

    def consent_remembered(self, request: AuthRequest) -> bool:
        """With skip_consent_for_returning_users: this user approved this app before."""
        with self._lock:
            return self.skip_consent_for_returning_users and _consent_key(request) in self._consents

    def record_consent(self, request: AuthRequest) -> None:
        with self._lock:
            self._consents.add(_consent_key(request))

    def begin_transaction(self, request: AuthRequest) -> str:
        transaction = secrets.token_urlsafe(16)
        with self._lock:
            _add_pending(self._transactions, transaction, request, self.pending_ttl)
        return transaction

    def take_transaction(self, transaction: str) -> AuthRequest | None:
        with self._lock:
            entry = self._transactions.pop(transaction, None)
        return entry[0] if entry is not None and entry[1] > time.monotonic() else None

    def add_signup(self, request: SignUpRequest) -> str:
        ticket = secrets.token_urlsafe(16)
        with self._lock:
            _add_pending(self._signups, ticket, request, self.pending_ttl)
        return ticket

    def signup(self, ticket: str) -> SignUpRequest | None:
        with self._lock:
            entry = self._signups.get(ticket)
        return entry[0] if entry is not None and entry[1] > time.monotonic() else None

    def pending_count(self) -> int:
        """Consent pages and sign-up links waiting for an answer (expired ones included
        until the next one is added)."""
        with self._lock:
            return len(self._transactions) + len(self._signups)

    # -- cookies and the owner --------------------------------------------------------

    def user_cookie(self, user_id: int) -> str:
        """The consent pages' cookie value naming this user, signed with this sandbox's key."""
        return f"{user_id}.{self._sign(f'user {user_id}')}"

    def user_from_cookie(self, value: str) -> SandboxUser | None:
        user_id, _, signature = value.partition(".")
        if not user_id.isdigit() or not hmac.compare_digest(
            signature, self._sign(f"user {user_id}")
        ):
            return None
        return self.user(int(user_id))

    def owner_cookie(self) -> str:
        return self._sign("owner")

    def is_owner_cookie(self, value: str) -> bool:
        return hmac.compare_digest(value, self.owner_cookie())

    def new_home_link(self) -> str:
        """A one-time token that opens the home page, with the demo credentials, once."""
        token = secrets.token_urlsafe(24)
        with self._lock:
            if len(self._home_links) >= MAX_PENDING:
                self._home_links.clear()
            self._home_links.add(token)
        return token

    def take_home_link(self, token: str) -> bool:
        with self._lock:
            if token not in self._home_links:
                return False
            self._home_links.discard(token)
            return True

    def _sign(self, text: str) -> str:
        return hmac.new(self.cookie_key, text.encode(), hashlib.sha256).hexdigest()[:32]

    def issue_code(self, request: AuthRequest) -> str:
        code = new_secret("sbx_code_")
        with self._lock:
            self._codes[code] = _Code(request, time.monotonic() + self.code_ttl)
            self.remember_secret(code)
        return code

    def exchange_code(
        self, client_id: str, code: str, redirect_uri: str, verifier: str
    ) -> IssuedTokens:
        with self._lock:
            record = self._codes.get(code)
            if record is None:
                raise TokenRequestError("invalid_grant", "The authorization code is invalid.")
            if record.used:
                self._revoke_grant(code)
                raise TokenRequestError(
                    "invalid_grant",
                    "The authorization code was already used; the tokens issued for it "
                    "are revoked.",
                )
            if time.monotonic() >= record.expires_at:
                raise TokenRequestError("invalid_grant", "The authorization code has expired.")
            request = record.request
            if request.client_id != client_id:
                raise TokenRequestError(
                    "invalid_grant", "The authorization code was issued to another client."
                )
            if request.redirect_uri != redirect_uri:
                raise TokenRequestError(
                    "invalid_grant",
                    "redirect_uri does not match the one used in the authorization request.",
                )
            if not verifier_matches(verifier, request.code_challenge):
                raise TokenRequestError(
                    "invalid_grant", "code_verifier does not match the code_challenge."
                )
            record.used = True
            user = self._users.get(request.user_id)
            if user is None:
                raise TokenRequestError("invalid_grant", "The user of this grant no longer exists.")
            return self._issue(user, client_id, request.scope, code, with_refresh=True)

    def refresh(self, client_id: str, refresh_token: str, scope: str | None) -> IssuedTokens:
        with self._lock:
            record = self._refresh.get(refresh_token)
            if record is not None and record.rotated and self.reuse_revokes_grant:
                self._revoke_grant(record.grant)
                raise TokenRequestError(
                    "invalid_grant",
                    "The refresh token was already used; every token of this login is revoked.",
                )
            if record is None or record.revoked:
                raise TokenRequestError("invalid_grant", "The refresh token is invalid or revoked.")
            if record.client_id != client_id:
                raise TokenRequestError(
                    "invalid_grant", "The refresh token was issued to another client."
                )
            granted = record.scope
            if scope is not None:
                if not set(scope.split()) <= set(granted.split()) or not scope.split():
                    raise TokenRequestError(
                        "invalid_scope", "The requested scope exceeds the scope granted."
                    )
                granted = " ".join(dict.fromkeys(scope.split()))
            user = self._users.get(record.user_id)
            if user is None:
                raise TokenRequestError("invalid_grant", "The user of this grant no longer exists.")
            rotate = self.rotate_refresh_tokens
            if rotate:
                record.revoked = record.rotated = True
            return self._issue(user, client_id, granted, record.grant, with_refresh=rotate)

    def bearer_user(self, access_token: str) -> tuple[SandboxUser | None, str]:
        """The token's user, or None and the reason it is refused."""
        with self._lock:
            record = self._access.get(access_token)
            if record is None:
                return None, "Invalid token."
            if record.revoked:
                return None, "Token has been revoked."
            if time.monotonic() >= record.expires_at:
                return None, "Token has expired."
            user = self._users.get(record.user_id)
            if user is None:
                return None, "Invalid token."
            return user, ""

    def bearer_scope(self, access_token: str) -> str:
        """The scope the access token was issued with ("" for an unknown token)."""
        with self._lock:
            record = self._access.get(access_token)
            return "" if record is None else record.scope

    def expire_access_tokens(self) -> None:
        now = time.monotonic()
        with self._lock:
            for record in self._access.values():
                record.expires_at = min(record.expires_at, now)

    def revoke_refresh_tokens(self) -> None:
        with self._lock:
            for record in self._refresh.values():
                record.revoked = True

    def _revoke_grant(self, grant: str) -> None:
        for access in self._access.values():
            if access.grant == grant:
                access.revoked = True
        for refresh in self._refresh.values():
            if refresh.grant == grant:
                refresh.revoked = True

    def _issue(
        self, user: SandboxUser, client_id: str, scope: str, grant: str, *, with_refresh: bool
    ) -> IssuedTokens:
        ttl = self.token_ttl
        expires_in = math.ceil(ttl)
        access_token = new_secret("sbx_at_")
        self._access[access_token] = _AccessToken(
            user.user_id, client_id, time.monotonic() + ttl, grant, scope=scope
        )
        refresh_token = None
        if with_refresh:
            refresh_token = new_secret("sbx_rt_")
            self._refresh[refresh_token] = _RefreshToken(user.user_id, client_id, scope, grant)
        issued_at = int(self.wall_time())
        id_token = sign_hs256(
            {
                "iss": self.base_url,
                "aud": client_id,
                "sub": str(user.user_id),
                "email": user.email,
                "name": user.name,
                "iat": issued_at,
                "exp": issued_at + expires_in,
            },
            self.signing_key,
        )
        for value in (access_token, refresh_token, id_token):
            if value is not None:
                self.remember_secret(value)
        return IssuedTokens(access_token, refresh_token, id_token, expires_in, scope)


def _add_pending(
    pending: dict[str, tuple[_Pending, float]], key: str, value: _Pending, ttl: float
) -> None:
    """Add an entry, dropping the expired ones and, beyond `MAX_PENDING`, the oldest."""
    now = time.monotonic()
    for old in [k for k, (_, expires) in pending.items() if expires <= now]:
        del pending[old]
    while len(pending) >= MAX_PENDING:
        del pending[next(iter(pending))]
    pending[key] = (value, now + ttl)


def _with_port(host: str, port: int) -> str:
    """`host:port`, unless `host` names its port already (`[::1]:80`, `name:80`)."""
    if re.fullmatch(r"(\[[^\]]*\]|[^:\[\]]+):\d+", host):
        return host
    return f"{host}:{port}"


def _consent_key(request: AuthRequest) -> tuple[int, str, str, str]:
    return (request.user_id, request.client_id, request.redirect_uri, request.scope)


def _loopback_any_port(registered: str, uri: str) -> bool:
    reg, got = urlsplit(registered), urlsplit(uri)
    if reg.scheme != "http" or got.scheme != "http" or reg.port is not None:
        return False
    if reg.hostname not in ("127.0.0.1", "::1") or got.hostname != reg.hostname:
        return False
    try:
        port = got.port
    except ValueError:
        return False
    return (
        port is not None
        and (reg.path, reg.query) == (got.path, got.query)
        and not got.fragment
        and not got.username
        and not got.password
    )


def _non_negative(name: str, seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or seconds < 0:
        raise ValueError(f"{name} must be a number of seconds >= 0")
    return float(seconds)


def _check_users(users: Sequence[SandboxUser]) -> None:
    if not users:
        raise ValueError("the sandbox needs at least one user")
    for attribute in ("user_id", "email", "api_key"):
        values = [getattr(user, attribute) for user in users]
        if attribute == "email":
            values = [value.casefold() for value in values]
        if len(set(values)) != len(values):
            raise ValueError(f"two sandbox users share the same {attribute}")


def _check_clients(clients: Sequence[SandboxClient]) -> None:
    if not clients:
        raise ValueError("the sandbox needs at least one client")
    ids = [client.client_id for client in clients]
    if len(set(ids)) != len(ids):
        raise ValueError("two sandbox clients share the same client_id")
