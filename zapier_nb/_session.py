"""The session: ties settings, credentials, the login and the HTTP clients together."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, TypeVar

from . import _account, _actions
from ._auth import ApiKeyAuth, SessionAuth
from ._browser_links import browser_url
from ._config import (
    DEFAULT_BASE_URL,
    DEFAULT_CONCURRENCY,
    DEFAULT_MAX_RETRIES,
    DEFAULT_REFRESH_LEEWAY,
    DEFAULT_SCOPE,
    DEFAULT_TIMEOUT,
    Settings,
    TokenCacheSetting,
    check_redirect_uri,
    token_cache_choice,
)
from ._errors import AuthorizationError, ConfigurationError
from ._grants import code_exchange_call
from ._http import (
    Call,
    UseClientDefault,
    httpx,
    new_async_client,
    new_client,
    translate_transport_errors,
    with_client_defaults,
)
from ._interactive import interactive_login
from ._keeper import TokenKeeper
from ._listeners import Listeners
from ._logging import install_log_redaction
from ._login import LoginAnswer, LoginAttempt, LoginFlow, start_attempt
from ._oauth import token_info
from ._paths import CHECK_PATH, TOKEN_PATH
from ._redact import Secret, scrubbed_errors
from ._version import __version__

if TYPE_CHECKING:
    from ._action_models import ActionType, AiAction, AiActionMeta
    from ._models import CheckAuthResponse, SecretStr, Token, TokenInfo
    from ._results import ActionList, ActionResult, RunManyResult
    from ._store import TokenStore

__all__ = ["AuthMethod", "Session"]

AuthMethod = Literal["api_key", "oauth"]
T = TypeVar("T")


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
        # No frame below may hold the key in plain text: a verbose traceback shows locals.
        key = _key_secret(api_key) if api_key else None
        del api_key
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
        self._flow = LoginFlow()
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
            api_key=key,
        )
        self._auth = SessionAuth(self._keeper)
        if key is None and cache.mode == "read_write":
            self._keeper.load_cached()

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
        """The redirect URI as configured (a login may use a listener's own port instead)."""
        return self._settings.redirect_uri

    @property
    def auth_method(self) -> AuthMethod | None:
        """`"api_key"`, `"oauth"`, or None before any credentials."""
        return self._keeper.method

    @property
    def token_cache_path(self) -> Path | None:
        """The file that caches this session's OAuth login, or None when nothing is cached."""
        store = self._keeper.store
        return None if store is None else store.path

    @property
    def login_attempt(self) -> LoginAttempt | None:
        """The newest OAuth login attempt, whatever its status (pending, exchanging,
        logged_in, failed, denied), or None before any."""
        return self._flow.current

    @property
    def pending_login_url(self) -> str | None:
        """The consent URL of the login in progress, if one is."""
        attempt = self._flow.open_attempt
        return None if attempt is None else attempt.url

    @property
    def token_info(self) -> TokenInfo | None:
        """Who is logged in by OAuth and until when; None without an OAuth token."""
        token = self._keeper.token
        return None if token is None else token_info(token)

    def __repr__(self) -> str:
        # Safe at any stage of construction: debuggers and verbose tracebacks call it.
        settings, keeper = getattr(self, "_settings", None), getattr(self, "_keeper", None)
        if settings is None:
            return "Session(<not set up>)"
        method = None if keeper is None else keeper.method
        return (
            f"Session(auth={method!r}, base_url={settings.base_url!r}, "
            f"client_id={settings.client_id!r})"
        )

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback()` once for every change of the login state; returns the
        unsubscribe function.

        A change is a login, a key being set, a logout, a refresh (here or taken up from
        another kernel), a login attempt begun, or one that ended. The callback runs on
        the thread that made the change, once the state it reports is in place, possibly
        while the session holds a lock: it should only read the session's state
        (`auth_method`, `token_info`, `login_attempt`, ...), never call the API.
        """
        return self._listeners.add(callback)

    # -- credentials --------------------------------------------------------------------

    def use_api_key(self, api_key: str) -> None:
        """Authenticate every later call with this API key."""
        key = _key_secret(api_key)
        del api_key
        self._keeper.use_api_key(key)

    def check_api_key(self, api_key: str) -> CheckAuthResponse:
        """`check()` with this API key, without using it or touching the session's login."""
        auth = ApiKeyAuth(_key_secret(api_key))
        del api_key
        call = _account.check_call(self.base_url, "api_key")
        return self._send(call, auth=auth, also=lambda: [auth.secret()])

    def take_up_shared_login(self) -> bool:
        """With no credentials, take up a login another kernel saved in the shared token
        cache; True when the session has credentials now."""
        return self._keeper.take_up_shared_login()

    # -- the OAuth login ----------------------------------------------------------------

    def begin_login(self, *, scope: str | None = None, redirect_uri: str | None = None) -> str:
        """Start an OAuth PKCE login attempt; returns the consent screen URL to open.

        `redirect_uri` sends this attempt's answer somewhere other than the configured
        URI (a loopback listener's own port, say); the settings are not changed.
        """
        client_id, configured = self._settings.oauth_client()
        if redirect_uri is not None:
            check_redirect_uri(redirect_uri)
        attempt = start_attempt(
            self.base_url,
            client_id=client_id,
            redirect_uri=redirect_uri or configured,
            scope=scope or self._scope,
        )
        self._flow.begin(attempt)
        self._listeners.notify()
        return attempt.url

    def submit_answer(self, answer: LoginAnswer) -> TokenInfo:
        """Complete the login attempt this answer belongs to: the one way every channel
        (paste, prompt, browser relay, loopback listener) hands an answer back.

        The state is checked, then the code is spent once, in one token request.
        """
        self._settings.oauth_client()
        try:
            attempt, code = self._flow.take(answer)
        except AuthorizationError:
            self._listeners.notify()  # the attempt ended (declined, or refused)
            raise
        try:
            token = self._exchange(attempt, code)
        except BaseException as exc:
            self._flow.finish(attempt, exc)
            self._listeners.notify()
            raise
        with self._keeper.lock:
            self._flow.finish(attempt)
            self._keeper.replace(token)
        return token_info(token)

    def complete_login(self, pasted: str) -> TokenInfo:
        """Exchange the pasted code (or whole redirected URL) for tokens."""
        try:
            answer = LoginAnswer.from_paste(pasted)
        finally:
            del pasted  # a traceback that shows local variables must not show the paste
        return self.submit_answer(answer)

    def refresh(self) -> TokenInfo:
        """Refresh the OAuth access token now."""
        if self.auth_method == "api_key":
            raise ConfigurationError(
                "This session uses an API key, which never expires: there is no token to refresh."
            )
        client = self.client
        with scrubbed_errors(self._secrets):
            self._keeper.current()
            with translate_transport_errors("POST", TOKEN_PATH, self.base_url):
                self._auth.refresh_now(lambda request: client.send(request, auth=None))
            return token_info(self._keeper.current())

    def login(self, *, wait: bool = False) -> None:
        """Log in interactively: the widget in a notebook, a prompt in a terminal.

        With `wait=True` a notebook asks at a (hidden) input prompt instead, so that
        Run All blocks until the login is done.
        """
        interactive_login(self, wait=wait)

    def logout(self) -> None:
        """Forget every credential this session holds and delete its cached login.

        The server is not told; other kernels sharing the cached login stop at their
        next refresh.
        """
        with self._keeper.lock:
            self._flow.cancel()
            self._keeper.forget()

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

    def _exchange(self, attempt: LoginAttempt, code: SecretStr) -> Token:
        call = code_exchange_call(self._token_url, attempt, code)
        return self._send(call, auth=None, also=lambda: [code.get_secret_value()])

    def _secrets(self) -> Iterable[str | None]:
        keeper, attempt = self._keeper, self._flow.current
        if keeper.api_key is not None:
            yield keeper.api_key.reveal()
        if attempt is not None and attempt.verifier is not None:
            yield attempt.verifier.get_secret_value()
        token = keeper.token
        if token is not None:
            for secret in (token.access_token, token.refresh_token, token.id_token):
                yield secret.get_secret_value() if secret else None

    # -- AI Actions ---------------------------------------------------------------------
    # Requests are built and answers read in `_actions` and `_account`; results are
    # `_results`'s; `run_many` is `_run_many`'s. An action is named by its id, an
    # `AiAction`, or (looked up with one list request) its `app/action` key or words of
    # its description.

    def check(self) -> CheckAuthResponse:
        """`GET /api/v2/auth/check/`: who these credentials belong to."""
        return self._send(_account.check_call(self.base_url, self.auth_method))

    async def acheck(self) -> CheckAuthResponse:
        """The asynchronous `check()`."""
        return await self._asend(_account.check_call(self.base_url, self.auth_method))

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
        call = _account.login_link_call(
            self.base_url, url, first_name=first_name, last_name=last_name, email=email
        )
        return browser_url(self._send(call, auth=None), self.base_url)

    def list_actions(self) -> ActionList:
        """`GET /api/v2/ai-actions/`: the stored actions (a list) and `configuration_link`."""
        return self._send(_actions.list_call(self.base_url))

    async def alist_actions(self) -> ActionList:
        """The asynchronous `list_actions()`."""
        return await self._asend(_actions.list_call(self.base_url))

    def find_action(self, query: str) -> AiAction:
        """The one stored action whose id, `app/action` key or description matches `query`."""
        return self.list_actions().find(query)

    async def afind_action(self, query: str) -> AiAction:
        """The asynchronous `find_action()`."""
        return (await self.alist_actions()).find(query)

    def get_action(self, action_id: str) -> AiAction:
        """`GET /api/v2/ai-actions/{id}/`."""
        return self._send(_actions.get_call(self.base_url, action_id))

    async def aget_action(self, action_id: str) -> AiAction:
        """The asynchronous `get_action()`."""
        return await self._asend(_actions.get_call(self.base_url, action_id))

    def create_action(
        self,
        app: str,
        action: str,
        *,
        action_type: ActionType = "write",
        params: Mapping[str, str | list[str]] | None = None,
        meta: AiActionMeta | Mapping[str, Any] | None = None,
        account_id: int | None = None,
        authentication_id: int | None = None,
    ) -> AiAction:
        """`POST /api/v2/ai-actions/`: store an action of `app`'s `action`.

        In `params` a string is a hint guessed from at run time and a list a set of ids to
        choose from; inputs left out are guessed from the instructions. `meta` defaults to
        labels that repeat the params' values.
        """
        call = _actions.create_call(
            self.base_url, app=app, action=action, action_type=action_type, params=params,
            meta=meta, account_id=account_id, authentication_id=authentication_id,
        )  # fmt: skip
        return self._send(call)

    async def acreate_action(
        self,
        app: str,
        action: str,
        *,
        action_type: ActionType = "write",
        params: Mapping[str, str | list[str]] | None = None,
        meta: AiActionMeta | Mapping[str, Any] | None = None,
        account_id: int | None = None,
        authentication_id: int | None = None,
    ) -> AiAction:
        """The asynchronous `create_action()`."""
        call = _actions.create_call(
            self.base_url, app=app, action=action, action_type=action_type, params=params,
            meta=meta, account_id=account_id, authentication_id=authentication_id,
        )  # fmt: skip
        return await self._asend(call)

    def update_action(
        self,
        action: str | AiAction,
        *,
        app: str | None = None,
        action_key: str | None = None,
        action_type: ActionType | None = None,
        params: Mapping[str, str | list[str]] | None = None,
        meta: AiActionMeta | Mapping[str, Any] | None = None,
        account_id: int | None = None,
        authentication_id: int | None = None,
    ) -> AiAction:
        """`PUT /api/v2/ai-actions/{id}/`: replace the stored action.

        Settings not given are kept from the action as it is now (given as an `AiAction`,
        or fetched first by id). New `params` without `meta` get fresh labels.
        """
        current = action if not isinstance(action, str) else self.get_action(action)
        call = _actions.update_call(
            self.base_url, current, app=app, action=action_key, action_type=action_type,
            params=params, meta=meta, account_id=account_id, authentication_id=authentication_id,
        )  # fmt: skip
        return self._send(call)

    async def aupdate_action(
        self,
        action: str | AiAction,
        *,
        app: str | None = None,
        action_key: str | None = None,
        action_type: ActionType | None = None,
        params: Mapping[str, str | list[str]] | None = None,
        meta: AiActionMeta | Mapping[str, Any] | None = None,
        account_id: int | None = None,
        authentication_id: int | None = None,
    ) -> AiAction:
        """The asynchronous `update_action()`."""
        current = action if not isinstance(action, str) else await self.aget_action(action)
        call = _actions.update_call(
            self.base_url, current, app=app, action=action_key, action_type=action_type,
            params=params, meta=meta, account_id=account_id, authentication_id=authentication_id,
        )  # fmt: skip
        return await self._asend(call)

    def delete_action(self, action: str | AiAction) -> bool:
        """`DELETE /api/v2/ai-actions/{id}/`: True if deleted, False if no action had the id."""
        return self._send(_actions.delete_call(self.base_url, action))

    async def adelete_action(self, action: str | AiAction) -> bool:
        """The asynchronous `delete_action()`."""
        return await self._asend(_actions.delete_call(self.base_url, action))

    def run_action(
        self,
        action: str | AiAction,
        instructions: str,
        *,
        params: Mapping[str, Any] | None = None,
        preview: bool = False,
    ) -> ActionResult:
        """`POST /api/v2/ai-actions/{id}/execute/`: run the action, or only preview it.

        `params` maps input keys to plain values (used as given: `locked`) or to
        constraints (`ParamConstraint.guess("...")`, or `{"mode": ..., "value": ...}`).
        With `preview=True` the server only says what it would do; nothing runs. The
        request is sent once: it is never repeated after it may have reached the server.
        """
        if _actions.needs_lookup(action):
            action = self.find_action(action)
        return self._send(_actions.run_call(self.base_url, action, instructions, params, preview))

    async def arun_action(
        self,
        action: str | AiAction,
        instructions: str,
        *,
        params: Mapping[str, Any] | None = None,
        preview: bool = False,
    ) -> ActionResult:
        """The asynchronous `run_action()`."""
        if _actions.needs_lookup(action):
            action = await self.afind_action(action)
        call = _actions.run_call(self.base_url, action, instructions, params, preview)
        return await self._asend(call)

    def rate_execution(
        self, execution_log_id: str, rating: int, feedback: str | None = None
    ) -> ActionResult:
        """`POST /api/v2/execute/log/{id}/rate/`: rate a run -1, 0 or 1, with optional feedback."""
        return self._send(_actions.rate_call(self.base_url, execution_log_id, rating, feedback))

    async def arate_execution(
        self, execution_log_id: str, rating: int, feedback: str | None = None
    ) -> ActionResult:
        """The asynchronous `rate_execution()`."""
        call = _actions.rate_call(self.base_url, execution_log_id, rating, feedback)
        return await self._asend(call)

    def run_many(
        self,
        action: str | AiAction,
        instructions_or_rows: Any,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        preview: bool = False,
        params: Mapping[str, Any] | None = None,
        progress: bool | None = None,
    ) -> RunManyResult:
        """Run the action once per input, `concurrency` at a time; one row per input back.

        Inputs are instructions (strings) or rows (mappings, or a pandas or polars
        DataFrame) with an `instructions` column, other columns being params. A 429 is
        waited out and retried (the action did not run); other failures are noted in
        their row. Ctrl+C or the notebook's stop button stops new requests and returns
        what finished. `progress`: a bar in notebooks, a line at a terminal (None: when
        one is there; False: never).
        """
        from ._run_many import run_many  # loads the models and the progress bar

        return run_many(
            self, action, instructions_or_rows, concurrency=concurrency, preview=preview,
            params=params, progress=progress,
        )  # fmt: skip

    async def arun_many(
        self,
        action: str | AiAction,
        instructions_or_rows: Any,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        preview: bool = False,
        params: Mapping[str, Any] | None = None,
        progress: bool | None = None,
    ) -> RunManyResult:
        """The asynchronous `run_many()`; cancelling it ends it like an interrupt."""
        from ._run_many import arun_many

        return await arun_many(
            self, action, instructions_or_rows, concurrency=concurrency, preview=preview,
            params=params, progress=progress,
        )  # fmt: skip

    # -- sending ------------------------------------------------------------------------

    def _send(
        self, call: Call[T], *, auth: SendAuth = httpx.USE_CLIENT_DEFAULT, also: Secrets = tuple
    ) -> T:
        """The one way out to the API: transport errors translated, and the session's
        secrets (and `also`'s) masked in any error and in what the answer is read into.
        `auth=None` sends without credentials (the token grants, the sign-up link)."""
        client, request = self.client, call.request
        with_client_defaults(request, client)
        secrets = self._secrets_and(also)
        with scrubbed_errors(secrets):
            with translate_transport_errors(request.method, request.url.path, self.base_url):
                response = client.send(request, auth=auth)
            return call.read(response, secrets)

    async def _asend(
        self, call: Call[T], *, auth: SendAuth = httpx.USE_CLIENT_DEFAULT, also: Secrets = tuple
    ) -> T:
        """The asynchronous `_send()`."""
        client, request = self.async_client, call.request
        with_client_defaults(request, client)
        secrets = self._secrets_and(also)
        with scrubbed_errors(secrets):
            with translate_transport_errors(request.method, request.url.path, self.base_url):
                response = await client.send(request, auth=auth)
            return call.read(response, secrets)

    def _secrets_and(self, also: Secrets) -> Secrets:
        return lambda: [*self._secrets(), *also()]


Secrets = Callable[[], Iterable[str | None]]
# `httpx.USE_CLIENT_DEFAULT` (the session's own auth), another auth, or None for none.
SendAuth: TypeAlias = httpx.Auth | UseClientDefault | None

_SETTINGS_FIELDS = frozenset(field.name for field in dataclasses.fields(Settings))


def _key_secret(api_key: str) -> Secret:
    secret = Secret(api_key.strip())
    del api_key
    if not secret.reveal():
        raise ConfigurationError("The API key is empty. Paste the key from your credentials.")
    return secret
