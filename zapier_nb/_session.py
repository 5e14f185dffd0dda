"""The session: credentials, the login flow, refreshing clients, and the API's auth calls."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr

from ._auth import ApiKeyAuth, BearerAuth, NoCredentialsAuth
from ._config import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_REFRESH_LEEWAY,
    DEFAULT_TIMEOUT,
    Settings,
    TokenCacheSetting,
    token_cache_choice,
)
from ._errors import (
    ConfigurationError,
    LoginError,
    ZapierError,
    error_for_status,
)
from ._http import (
    AsyncRetryTransport,
    RetryTransport,
    httpx,
    json_or_none,
    read_json,
    translate_transport_errors,
)
from ._keeper import TokenKeeper, token_failure
from ._logging import install_log_redaction
from ._models import (
    DEFAULT_SCOPE,
    AuthorizationCodeTokenRequest,
    AuthorizeParams,
    CheckAuthResponse,
    LoginLinkParams,
    LoginLinkResponse,
    Token,
    TokenInfo,
    TokenResponse,
    parse_response,
)
from ._oauth import (
    CHECK_PATH,
    LOGIN_LINK_PATH,
    TOKEN_PATH,
    authorize_url,
    code_from_answer,
    decode_jwt_claims,
    parse_pasted_answer,
)
from ._pkce import create_s256_challenge, generate_code_verifier, generate_state
from ._redact import scrub
from ._store import TokenStore, default_cache_dir

__all__ = ["AuthMethod", "Session", "get_session"]

logger = logging.getLogger("zapier_nb")

AuthMethod = Literal["api_key", "oauth"]

_USER_AGENT = "zapier_nb/0.1"
_KEY_HINT = (
    "Copy the key again from https://actions.zapier.com/credentials/ "
    "(or from the sandbox's printout) and log in again."
)
_TOKEN_HINT = "The access token was not accepted even after a refresh. Log in again."


@dataclass(frozen=True, repr=False)
class _PendingLogin:
    url: str
    verifier: str
    state: str


class Session:
    """A Zapier AI Actions session authenticated by API key or OAuth PKCE."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        client_id: str | None = None,
        redirect_uri: str | None = None,
        base_url: str | None = None,
        scope: str = DEFAULT_SCOPE,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        refresh_leeway: float = DEFAULT_REFRESH_LEEWAY,
        token_cache: TokenCacheSetting = None,
        token_cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        """`token_cache` keeps the OAuth login on disk so a restarted kernel stays logged in.

        `"read_write"` (the default) loads the cached login now and saves every new
        login and refresh; `"reauth"` ignores what is cached but saves; `"none"` never
        touches the disk; a directory means `"read_write"` there. Unset, it comes from
        `ZAPIER_NB_TOKEN_CACHE`. The directory is `token_cache_dir`, else
        `ZAPIER_NB_CACHE_DIR`, else the user's config directory. A loopback base URL (a
        local sandbox) caches nothing unless asked to. API keys are never written.
        """
        install_log_redaction()
        self._settings = Settings(
            base_url=base_url or DEFAULT_BASE_URL,
            api_key=api_key,
            client_id=client_id,
            redirect_uri=redirect_uri,
            timeout=timeout,
            max_retries=max_retries,
            refresh_leeway=refresh_leeway,
        )
        self._scope = scope
        # Absolute, so the clients need not join it to their base URL on every call.
        self._check_url = httpx.URL(f"{self._settings.base_url}{CHECK_PATH}")
        self._lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        self._api_key = api_key
        self._pending: _PendingLogin | None = None
        self._client: httpx.Client | None = None
        self._async_client: httpx.AsyncClient | None = None
        cache = token_cache_choice(
            token_cache, base_url=self._settings.base_url, directory=token_cache_dir
        )
        store = None
        if cache.mode != "none" and client_id:
            store = TokenStore(
                cache.directory or default_cache_dir(),
                base_url=self._settings.base_url,
                client_id=client_id,
                lock_wait=_lock_wait(timeout, max_retries),
            )
        self._keeper = TokenKeeper(
            base_url=self._settings.base_url,
            client_id=client_id or "",
            leeway=refresh_leeway,
            store=store,
            timeout=timeout,
            on_change=lambda _token: self._notify(),
        )
        self._bearer = BearerAuth(self._keeper)
        self._auth: httpx.Auth = NoCredentialsAuth()
        if api_key:
            self._auth = ApiKeyAuth(api_key)
        elif cache.mode == "read_write" and self._keeper.load_cached():
            self._auth = self._bearer

    @classmethod
    def from_env(cls, **overrides: Any) -> Session:
        """Settings from `ZAPIER_*` variables; keyword arguments that are not None win."""
        settings_fields = {"api_key", "client_id", "redirect_uri", "base_url"}
        settings = Settings.from_env(**{k: v for k, v in overrides.items() if k in settings_fields})
        rest = {k: v for k, v in overrides.items() if k not in settings_fields}
        return cls(
            api_key=settings.api_key,
            client_id=settings.client_id,
            redirect_uri=settings.redirect_uri,
            base_url=settings.base_url,
            **rest,
        )

    # -- what the session is ------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    @property
    def client_id(self) -> str | None:
        return self._settings.client_id

    @property
    def redirect_uri(self) -> str | None:
        return self._settings.redirect_uri

    @property
    def auth_method(self) -> AuthMethod | None:
        """`"api_key"`, `"oauth"`, or None before any credentials."""
        if isinstance(self._auth, ApiKeyAuth):
            return "api_key"
        if isinstance(self._auth, BearerAuth) and self._keeper.token is not None:
            return "oauth"
        return None

    @property
    def token_cache_path(self) -> Path | None:
        """The file that caches this session's OAuth login, or None when nothing is cached."""
        store = self._keeper.store
        return None if store is None else store.path

    @property
    def pending_login_url(self) -> str | None:
        """The consent URL of the login begun and not yet completed, if any."""
        pending = self._pending
        return None if pending is None else pending.url

    @property
    def token_info(self) -> TokenInfo | None:
        """Who is logged in by OAuth and until when; None without an OAuth token."""
        token = self._keeper.token
        return None if token is None else _token_info(token)

    def __repr__(self) -> str:
        return (
            f"Session(auth={self.auth_method!r}, base_url={self.base_url!r}, "
            f"client_id={self.client_id!r})"
        )

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback()` whenever the login state changes; returns the unsubscribe function.

        It runs after a login, a key being set, a logout, a refresh (here or taken up from
        another kernel), a login that ended, and a new login being begun. It runs on the
        thread that made the change, possibly while the session holds a lock: it should
        only read the session's state (`auth_method`, `token_info`, ...), never call the
        API. An exception it raises is logged and ignored.
        """
        with self._lock:
            self._listeners.append(callback)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners.remove(callback)

        return unsubscribe

    # -- credentials --------------------------------------------------------------------

    def use_api_key(self, api_key: str) -> None:
        """Authenticate every later call with this API key."""
        api_key = api_key.strip()
        if not api_key:
            raise ConfigurationError("The API key is empty. Paste the key from your credentials.")
        with self._lock:
            self._api_key = api_key
            self._set_auth(ApiKeyAuth(api_key))

    def begin_login(self, *, scope: str | None = None) -> str:
        """Start an OAuth PKCE login; returns the consent screen URL to open."""
        client_id, redirect_uri = self._oauth_settings()
        verifier = generate_code_verifier()
        params = AuthorizeParams(
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=scope or self._scope,
            code_challenge=create_s256_challenge(verifier),
            state=generate_state(),
        )
        pending = _PendingLogin(authorize_url(self.base_url, params), verifier, params.state)
        with self._lock:
            self._pending = pending
        self._notify()
        return pending.url

    def complete_login(self, pasted: str) -> TokenInfo:
        """Exchange the pasted code (or whole redirected URL) for tokens."""
        client_id, redirect_uri = self._oauth_settings()
        pending = self._pending
        if pending is None:
            raise LoginError(
                "No login is in progress. Call begin_login() (or use the login button), approve, "
                "then paste what you get back."
            )
        with self._guard():
            code = code_from_answer(parse_pasted_answer(pasted), pending.state)
            form = AuthorizationCodeTokenRequest(
                client_id=client_id,
                code_verifier=SecretStr(pending.verifier),
                redirect_uri=redirect_uri,
                code=SecretStr(code),
            )
            response = self._send_unauthenticated("POST", TOKEN_PATH, data=form.form())
            if response.status_code != 200:
                raise token_failure(response, grant_type="authorization_code")
            body = read_json(response, what="the code exchange")
            token = parse_response(TokenResponse, body, what="the code exchange").to_token(
                time.time()
            )
            with self._lock, self._keeper.lock:
                self._keeper.replace(token)
                self._pending = None
                self._set_auth(self._bearer)
            return _token_info(token)

    def refresh(self) -> TokenInfo:
        """Refresh the OAuth access token now."""
        client = self.client
        with self._guard():
            self._keeper.current()
            with translate_transport_errors("POST", TOKEN_PATH, self.base_url):
                token = self._bearer.refresh_now(lambda request: client.send(request, auth=None))
            return _token_info(token)

    def login(self, *, wait: bool = False) -> None:
        """Log in interactively: the widget in a notebook, a prompt in a terminal.

        With `wait=True` a notebook asks at a (hidden) input prompt instead, so that
        Run All blocks until the login is done.
        """
        from ._login_ui import login

        login(self, wait=wait)

    def logout(self) -> None:
        """Forget every credential this session holds and delete its cached login.

        The server is not told; other kernels sharing the cached login stop at their
        next refresh.
        """
        with self._lock, self._keeper.lock:
            self._keeper.forget()
            self._api_key = None
            self._pending = None
            self._set_auth(NoCredentialsAuth())

    # -- API calls ----------------------------------------------------------------------

    def check(self) -> CheckAuthResponse:
        """`GET /api/v2/auth/check/`: who these credentials belong to."""
        with self._guard():
            with translate_transport_errors("GET", CHECK_PATH, self.base_url):
                response = self.client.get(self._check_url)
            return self._check_result(response)

    async def acheck(self) -> CheckAuthResponse:
        """The asynchronous `check()`."""
        with self._guard():
            with translate_transport_errors("GET", CHECK_PATH, self.base_url):
                response = await self.async_client.get(self._check_url)
            return self._check_result(response)

    def login_link(self, *, first_name: str, last_name: str, email: str) -> str:
        """A sign-up link for a person without a Zapier account; it ends at the consent screen.

        The code it leads to completes the login this session has in progress.
        """
        if "@" not in email.strip():
            raise ConfigurationError(f"{email!r} is not an email address. Give the person's email.")
        with self._lock:
            url = self.pending_login_url or self.begin_login()
        params = LoginLinkParams(
            redirect_uri=url,
            sign_up_first_name=first_name.strip(),
            sign_up_last_name=last_name.strip(),
            sign_up_email=email.strip(),
        )
        with self._guard():
            response = self._send_unauthenticated("GET", LOGIN_LINK_PATH, params=params.form())
            if response.status_code != 200:
                raise error_for_status(
                    response.status_code,
                    body=json_or_none(response),
                    method="GET",
                    path=LOGIN_LINK_PATH,
                    hint="Check the name, the email and the OAuth client id.",
                )
            body = read_json(response, what="the login-link request")
            return parse_response(LoginLinkResponse, body, what="the login-link request").login_link

    # -- clients ------------------------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        """An httpx client carrying this session's auth, for any AI Actions endpoint."""
        with self._lock:
            if self._client is None:
                transport = RetryTransport(
                    httpx.HTTPTransport(),
                    max_retries=self._settings.max_retries,
                    token_path=TOKEN_PATH,
                )
                self._client = httpx.Client(
                    base_url=self.base_url,
                    auth=self._auth,
                    timeout=self._settings.timeout,
                    transport=transport,
                    headers={"user-agent": _USER_AGENT},
                )
            return self._client

    @property
    def async_client(self) -> httpx.AsyncClient:
        """An async httpx client carrying this session's auth (use it from one event loop)."""
        with self._lock:
            if self._async_client is None:
                transport = AsyncRetryTransport(
                    httpx.AsyncHTTPTransport(),
                    max_retries=self._settings.max_retries,
                    token_path=TOKEN_PATH,
                )
                self._async_client = httpx.AsyncClient(
                    base_url=self.base_url,
                    auth=self._auth,
                    timeout=self._settings.timeout,
                    transport=transport,
                    headers={"user-agent": _USER_AGENT},
                )
            return self._async_client

    def close(self) -> None:
        """Close the sync client's connections (the async one needs `aclose()`)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    async def aclose(self) -> None:
        """Close the async client's connections; threads may go on using `client`."""
        with self._lock:
            client, self._async_client = self._async_client, None
        if client is not None:
            await client.aclose()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
        self.close()

    # -- internals ----------------------------------------------------------------------

    def _set_auth(self, auth: httpx.Auth) -> None:
        self._auth = auth
        for client in (self._client, self._async_client):
            if client is not None:
                client.auth = auth
        self._notify()

    def _notify(self) -> None:
        for callback in list(self._listeners):
            try:
                callback()
            except Exception as exc:
                logger.warning("a session listener failed (%s); ignored", type(exc).__name__)

    def _oauth_settings(self) -> tuple[str, str]:
        client_id, redirect_uri = self._settings.client_id, self._settings.redirect_uri
        if not client_id or not redirect_uri:
            missing = " and ".join(
                name
                for name, value in (("client_id", client_id), ("redirect_uri", redirect_uri))
                if not value
            )
            raise ConfigurationError(
                f"OAuth login needs {missing}. Pass Session(client_id=..., redirect_uri=...) or "
                "set ZAPIER_CLIENT_ID and ZAPIER_REDIRECT_URI (the sandbox prints both)."
            )
        return client_id, redirect_uri

    def _send_unauthenticated(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        request = self.client.build_request(method, path, **kwargs)
        with translate_transport_errors(method, path, self.base_url):
            return self.client.send(request, auth=None)

    def _check_result(self, response: httpx.Response) -> CheckAuthResponse:
        if response.status_code == 200:
            body = read_json(response, what="the auth check")
            return parse_response(CheckAuthResponse, body, what="the auth check")
        hint = {"api_key": _KEY_HINT, "oauth": _TOKEN_HINT}.get(self.auth_method or "", "")
        raise error_for_status(
            response.status_code,
            body=json_or_none(response),
            method="GET",
            path=CHECK_PATH,
            hint=hint if response.status_code == 401 else "",
        )

    def _secrets(self) -> list[str | None]:
        token, pending = self._keeper.token, self._pending
        values: list[str | None] = [self._api_key]
        if pending is not None:
            values.append(pending.verifier)
        if token is not None:
            values.extend(
                secret.get_secret_value() if secret else None
                for secret in (token.access_token, token.refresh_token, token.id_token)
            )
        return values

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Scrub this session's own secrets from any error message that escapes."""
        try:
            yield
        except ZapierError as exc:
            cleaned = scrub(exc.message, self._secrets())
            if cleaned != exc.message:
                exc.message = cleaned
                exc.args = (cleaned,)
            raise


def _lock_wait(timeout: float, max_retries: int) -> float:
    """How long to wait for another process's refresh: its requests, retries and backoff."""
    return timeout * (max_retries + 1) + 4.0 * max_retries + 10.0


def _token_info(token: Token) -> TokenInfo:
    claims = decode_jwt_claims(token.id_token.get_secret_value()) if token.id_token else {}
    email, name = claims.get("email"), claims.get("name")
    return TokenInfo(
        email=email if isinstance(email, str) else None,
        name=name if isinstance(name, str) else None,
        scope=token.scope,
        expires_at=datetime.fromtimestamp(token.expires_at, UTC),
        has_refresh_token=token.refresh_token is not None,
    )


_default_session: Session | None = None
_default_lock = threading.Lock()


def get_session() -> Session:
    """The kernel's default session (from the environment), shared by the magics."""
    global _default_session
    with _default_lock:
        if _default_session is None:
            _default_session = Session.from_env()
        return _default_session


def replace_default_session(session: Session) -> Session:
    """Make `session` the one `get_session()` returns; the previous one is closed."""
    global _default_session
    with _default_lock:
        previous, _default_session = _default_session, session
    if previous is not None and previous is not session:
        previous.close()
    return session
