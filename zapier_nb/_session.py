"""The session: ties settings, credentials, the login protocol and the HTTP clients together."""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ._account import check_result, login_link_request, login_link_result
from ._auth import ApiKeyAuth, BearerAuth, NoCredentialsAuth
from ._browser_links import browser_url
from ._config import (
    DEFAULT_BASE_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_REFRESH_LEEWAY,
    DEFAULT_TIMEOUT,
    Settings,
    TokenCacheSetting,
    token_cache_choice,
)
from ._errors import ConfigurationError, LoginError
from ._grants import code_exchange_request, read_token_answer
from ._http import httpx, new_async_client, new_client, translate_transport_errors
from ._keeper import TokenKeeper
from ._listeners import Listeners
from ._logging import install_log_redaction
from ._models import DEFAULT_SCOPE
from ._oauth import (
    CHECK_PATH,
    TOKEN_PATH,
    PastedAnswer,
    PendingLogin,
    parse_pasted_answer,
    start_login,
    token_info,
)
from ._redact import Secret, scrubbed_errors
from ._session_actions import ActionMethods
from ._version import __version__

if TYPE_CHECKING:
    from ._models import CheckAuthResponse, SecretStr, Token, TokenInfo
    from ._store import TokenStore

__all__ = ["AuthMethod", "Session"]

AuthMethod = Literal["api_key", "oauth"]


class Session(ActionMethods):
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
            client_id=client_id,
            redirect_uri=redirect_uri,
            timeout=timeout,
            max_retries=max_retries,
            refresh_leeway=refresh_leeway,
        )
        self._scope = scope
        # Absolute, so the clients need not join them to their base URL on every call.
        self._check_url = httpx.URL(f"{self.base_url}{CHECK_PATH}")
        self._token_url = f"{self.base_url}{TOKEN_PATH}"
        self._lock = threading.RLock()
        self._listeners = Listeners()
        self._pending: PendingLogin | None = None
        self._exchanging: PendingLogin | None = None  # the login whose code is being exchanged
        self._registered_redirect_uri = redirect_uri
        self._client: httpx.Client | None = None
        self._async_client: httpx.AsyncClient | None = None
        cache = token_cache_choice(token_cache, base_url=self.base_url, directory=token_cache_dir)
        self._keeper = TokenKeeper(
            base_url=self.base_url,
            client_id=client_id or "",
            leeway=refresh_leeway,
            store=self._open_store(cache.mode, cache.directory),
            timeout=timeout,
            on_change=self._listeners.notify,
        )
        self._bearer = BearerAuth(self._keeper)
        self._auth: httpx.Auth = NoCredentialsAuth()
        if api_key:
            self._auth = ApiKeyAuth(Secret(api_key))
        elif cache.mode == "read_write" and self._keeper.load_cached():
            self._auth = self._bearer

    @classmethod
    def from_settings(cls, settings: Settings, **options: Any) -> Session:
        """A session for these settings; `options` are the constructor's other arguments
        (`scope`, `token_cache`, `token_cache_dir`)."""
        return cls(
            api_key=settings.api_key,
            client_id=settings.client_id,
            redirect_uri=settings.redirect_uri,
            base_url=settings.base_url,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
            refresh_leeway=settings.refresh_leeway,
            **options,
        )

    @classmethod
    def from_env(cls, **overrides: Any) -> Session:
        """Settings from `ZAPIER_*` variables; keyword arguments that are not None win."""
        named = {k: v for k, v in overrides.items() if k in _SETTINGS_FIELDS}
        rest = {k: v for k, v in overrides.items() if k not in _SETTINGS_FIELDS}
        return cls.from_settings(Settings.from_env(**named), **rest)

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
    def registered_redirect_uri(self) -> str | None:
        """The redirect URI as configured, which `use_redirect_uri` does not change (a
        port-less loopback URI stays port-less here while `redirect_uri` has a port)."""
        return self._registered_redirect_uri

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
    def pending_login(self) -> PendingLogin | None:
        """The login begun and not yet completed: its consent URL and state, if any."""
        return self._pending

    @property
    def pending_login_url(self) -> str | None:
        """The consent URL of the login begun and not yet completed, if any."""
        pending = self._pending
        return None if pending is None else pending.url

    @property
    def token_info(self) -> TokenInfo | None:
        """Who is logged in by OAuth and until when; None without an OAuth token."""
        token = self._keeper.token
        return None if token is None else token_info(token)

    def __repr__(self) -> str:
        return (
            f"Session(auth={self.auth_method!r}, base_url={self.base_url!r}, "
            f"client_id={self.client_id!r})"
        )

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback()` whenever the login state changes; returns the unsubscribe function.

        It runs after a login, a key being set, a logout, a refresh (here or taken up from
        another kernel), a login that ended, and a new login being begun, on the thread
        that made the change, possibly while the session holds a lock: it should only read
        the session's state (`auth_method`, `token_info`, ...), never call the API.
        """
        return self._listeners.add(callback)

    # -- credentials --------------------------------------------------------------------

    def use_api_key(self, api_key: str) -> None:
        """Authenticate every later call with this API key."""
        auth = _key_auth(api_key)
        with self._lock:
            self._set_auth(auth)

    def check_api_key(self, api_key: str) -> CheckAuthResponse:
        """`check()` with this API key, without using it or touching the session's login."""
        auth = _key_auth(api_key)
        with scrubbed_errors(lambda: [*self._secrets(), auth.secret()]):
            with translate_transport_errors("GET", CHECK_PATH, self.base_url):
                response = self.client.get(self._check_url, auth=auth)
            return check_result(response, "api_key")

    def use_redirect_uri(self, redirect_uri: str) -> None:
        """Send later logins to this redirect URI (a loopback listener's concrete port).

        A login in progress is dropped, since its code would be bound to the old URI.
        """
        settings = dataclasses.replace(self._settings, redirect_uri=redirect_uri)
        with self._lock:
            self._settings = settings
            self._pending = None
        self._listeners.notify()

    def begin_login(self, *, scope: str | None = None) -> str:
        """Start an OAuth PKCE login; returns the consent screen URL to open."""
        client_id, redirect_uri = self._settings.oauth_client()
        pending = start_login(
            self.base_url,
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=scope or self._scope,
        )
        with self._lock:
            self._pending = pending
        self._listeners.notify()
        return pending.url

    def complete_login(self, pasted: str) -> TokenInfo:
        """Exchange the pasted code (or whole redirected URL) for tokens."""
        try:
            answer = parse_pasted_answer(pasted)
        finally:
            del pasted  # a traceback that shows local variables must not show the paste
        return self._complete(answer)

    def complete_callback(self, query: Mapping[str, str]) -> TokenInfo:
        """Complete the login from the redirect's query (`code`, `state`, or `error`).

        This is what a page or listener that receives the redirect calls; the state must
        be the one this login sent.
        """
        try:
            code, state, error, description = (query.get(name) or None for name in _CALLBACK_FIELDS)
            answer = PastedAnswer(code, state, error, description)
            del code
        finally:
            del query  # a traceback that shows local variables must not show the code
        return self._complete(answer)

    def refresh(self) -> TokenInfo:
        """Refresh the OAuth access token now."""
        client = self.client
        with scrubbed_errors(self._secrets):
            self._keeper.current()
            with translate_transport_errors("POST", TOKEN_PATH, self.base_url):
                self._bearer.refresh_now(lambda request: client.send(request, auth=None))
            return token_info(self._keeper.current())

    def login(self, *, wait: bool = False) -> None:
        """Log in interactively: the widget in a notebook, a prompt in a terminal.

        With `wait=True` a notebook asks at a (hidden) input prompt instead, so that
        Run All blocks until the login is done.
        """
        # The one call from this layer up into the UI layer, imported only when used.
        from ._login_ui import login

        login(self, wait=wait)

    def logout(self) -> None:
        """Forget every credential this session holds and delete its cached login.

        The server is not told; other kernels sharing the cached login stop at their
        next refresh.
        """
        with self._lock, self._keeper.lock:
            self._pending = None
            self._keeper.forget()
            self._set_auth(NoCredentialsAuth())

    # -- API calls ----------------------------------------------------------------------

    def check(self) -> CheckAuthResponse:
        """`GET /api/v2/auth/check/`: who these credentials belong to."""
        with scrubbed_errors(self._secrets):
            with translate_transport_errors("GET", CHECK_PATH, self.base_url):
                response = self.client.get(self._check_url)
            return check_result(response, self.auth_method)

    async def acheck(self) -> CheckAuthResponse:
        """The asynchronous `check()`."""
        with scrubbed_errors(self._secrets):
            with translate_transport_errors("GET", CHECK_PATH, self.base_url):
                response = await self.async_client.get(self._check_url)
            return check_result(response, self.auth_method)

    def login_link(self, *, first_name: str, last_name: str, email: str) -> str:
        """A sign-up link for a person without a Zapier account.

        With OAuth settings it ends at the consent screen of this session's login in
        progress (begun now if none is); with an API key alone it ends at the server's
        own "login success" page.
        """
        if "@" not in email.strip():
            raise ConfigurationError(f"{email!r} is not an email address. Give the person's email.")
        with self._lock:
            url = self.pending_login_url
            if url is None and self.client_id and self.redirect_uri:
                url = self.begin_login()
        with scrubbed_errors(self._secrets):
            request = login_link_request(
                self.client, url, first_name=first_name, last_name=last_name, email=email
            )
            link = login_link_result(self._send_unauthenticated(request), self.base_url)
        return browser_url(link, self.base_url)

    # -- clients ------------------------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        """An httpx client carrying this session's auth, for any AI Actions endpoint."""
        with self._lock:
            if self._client is None:
                self._client = new_client(**self._client_options())
            return self._client

    @property
    def async_client(self) -> httpx.AsyncClient:
        """An async httpx client carrying this session's auth (use it from one event loop)."""
        with self._lock:
            if self._async_client is None:
                self._async_client = new_async_client(**self._client_options())
            return self._async_client

    def close(self) -> None:
        """Close the sync client's connections (the async one needs `aclose()`)."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

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

    def _client_options(self) -> dict[str, Any]:
        return {
            "max_retries": self._settings.max_retries,
            "base_url": self.base_url,
            "auth": self._auth,
            "timeout": self._settings.timeout,
            "headers": {"user-agent": f"zapier_nb/{__version__}"},
        }

    def _open_store(self, mode: str, directory: Path | None) -> TokenStore | None:
        settings = self._settings
        if mode == "none" or not settings.client_id:
            return None
        from ._store import open_store  # the cache's libraries load only when a cache is used

        return open_store(
            directory,
            base_url=self.base_url,
            client_id=settings.client_id,
            timeout=settings.timeout,
            max_retries=settings.max_retries,
        )

    def _complete(self, answer: PastedAnswer) -> TokenInfo:
        self._settings.oauth_client()
        pending = self._pending
        if pending is None:
            raise LoginError(
                "No login is in progress. Call begin_login() (or use the login button), approve, "
                "then paste what you get back."
            )
        code = pending.code_from(answer)
        with self._lock:
            # One exchange per login at a time: a second answer (a paste while the page
            # relays, say) would spend the code twice, and the server may then revoke both.
            if self._pending is not pending or self._exchanging is pending:
                raise LoginError(
                    "This login is being completed already, or a new one was begun. Wait for "
                    "it; if it fails, approve again and bring back the new answer."
                )
            self._exchanging = pending
        try:
            token = self._exchange(pending, code)
        finally:
            with self._lock:
                self._exchanging = None
        with self._lock, self._keeper.lock:
            self._pending = None
            self._keeper.replace(token)
            self._set_auth(self._bearer)
        return token_info(token)

    def _exchange(self, pending: PendingLogin, code: SecretStr) -> Token:
        timeout = httpx.Timeout(self._settings.timeout).as_dict()
        with scrubbed_errors(lambda: [*self._secrets(), code.get_secret_value()]):
            request = code_exchange_request(self._token_url, pending, code, timeout)
            return read_token_answer(
                self._send_unauthenticated(request),
                grant_type="authorization_code",
                received_at=time.time(),
            )

    def _set_auth(self, auth: httpx.Auth) -> None:
        self._auth = auth
        for client in (self._client, self._async_client):
            if client is not None:
                client.auth = auth
        self._listeners.notify()

    def _send_unauthenticated(self, request: httpx.Request) -> httpx.Response:
        with translate_transport_errors(request.method, request.url.path, self.base_url):
            return self.client.send(request, auth=None)

    def _scrubbing(self) -> AbstractContextManager[None]:
        return scrubbed_errors(self._secrets)

    def _secrets(self) -> Iterable[str | None]:
        auth, token, pending = self._auth, self._keeper.token, self._pending
        if isinstance(auth, ApiKeyAuth):
            yield auth.secret()
        if pending is not None:
            yield pending.verifier.get_secret_value()
        if token is not None:
            for secret in (token.access_token, token.refresh_token, token.id_token):
                yield secret.get_secret_value() if secret else None


_SETTINGS_FIELDS = frozenset(field.name for field in dataclasses.fields(Settings))
_CALLBACK_FIELDS = ("code", "state", "error", "error_description")


def _key_auth(api_key: str) -> ApiKeyAuth:
    api_key = api_key.strip()
    if not api_key:
        raise ConfigurationError("The API key is empty. Paste the key from your credentials.")
    return ApiKeyAuth(Secret(api_key))
