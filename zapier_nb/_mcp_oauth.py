"""OAuth for MCP: the SDK's `OAuthClientProvider`, fed by the toolkit's login state machine.

The SDK runs the MCP authorization flow (protected resource metadata, authorization server
metadata, registration, code + PKCE S256 with `resource`, refresh); it keeps the verifier.
Its two hooks meet `_login` here: `redirect_handler(url)` begins a `LoginAttempt` whose state
is read from the URL, and `callback_handler()` waits for the code that `LoginFlow.take`
accepted from a `LoginAnswer` (the one state check). So the channels that serve `Session`
(a paste, the terminal prompt, a relayed callback) can serve an `MCPSession` as well.

Tokens go to the shared token cache (`_store.TokenStore`, file-locked, 0600) under the MCP
URL, when the cache is on, with the client registration they were issued to; another
session or kernel takes the login up from there, and `SharedRefreshProvider` refreshes it
once for all of them, under the cache's lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import fields
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import anyio
from mcp.client.auth import OAuthClientProvider
from mcp.client.auth.oauth2 import OAuthContext
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from pydantic import ValidationError

from ._config import DEFAULT_REFRESH_LEEWAY
from ._errors import LoginError, LoginRequiredError, ZapierError
from ._http import httpx
from ._login import LoginAnswer, LoginAttempt, LoginFlow, attempt_for_url
from ._mcp_transport import current_exchange
from ._models import Token
from ._redact import Secret
from ._version import __version__

if TYPE_CHECKING:
    from ._store import TokenStore

__all__ = ["MCP_CLIENT_KEY", "MCPLogin", "SharedRefreshProvider", "StoreTokenStorage"]

logger = logging.getLogger("zapier_nb")

MCP_CLIENT_KEY = "zapier_nb-mcp-oauth"
LOGIN_TIMEOUT = 600.0  # seconds a call waits for a person to answer the consent page
REFRESH_LEEWAY = DEFAULT_REFRESH_LEEWAY  # at most half the token's lifetime (Token.refresh_due)


class _Registration:
    """The client registration, shown by its id only: a secret the server gave stays hidden."""

    __slots__ = ("info",)

    def __init__(self, info: OAuthClientInformationFull) -> None:
        self.info = info

    def __repr__(self) -> str:
        return f"Registration(client_id={self.info.client_id!r})"


class StoreTokenStorage:
    """The SDK's `TokenStorage` over the shared token cache (or memory, without one).

    The token is saved with the client registration it was issued to. `take_up` says
    whether a login found in the cache may be used before this session saved its own
    (the `"reauth"` cache mode says no).
    """

    def __init__(self, store: TokenStore | None, *, take_up: bool = True) -> None:
        self._store = store
        self._take_up = take_up
        self._token: Token | None = None
        self._client: _Registration | None = None
        # The token last read from or written to the cache: a cached token that differs
        # from it was written since by another session or kernel.
        self._synced: Token | None = None

    def __repr__(self) -> str:
        where = "memory" if self._store is None else repr(self._store)
        return f"StoreTokenStorage({where})"

    # -- the SDK's TokenStorage -------------------------------------------------------------

    async def get_tokens(self) -> OAuthToken | None:
        self.newer()
        return None if self._token is None else _sdk_token(self._token)

    async def set_tokens(self, tokens: OAuthToken) -> None:
        lifetime = float(tokens.expires_in or 3600)
        token = Token(
            access_token=tokens.access_token,  # type: ignore[arg-type]
            refresh_token=tokens.refresh_token,  # type: ignore[arg-type]
            id_token=None,
            scope=tokens.scope,
            lifetime=lifetime,
            expires_at=time.time() + lifetime,
        )
        del tokens  # no traceback shows the SDK's plain copy
        self._token = token
        if self._store is None:
            return
        try:
            async with self._store.alocked():
                self._store.save(token, client=_client_json(self._client))
        except (OSError, ZapierError) as exc:
            reason = exc.message if isinstance(exc, ZapierError) else exc.strerror
            logger.warning(
                "could not write the token cache file %s (%s); this MCP login will not "
                "outlive the kernel",
                self._store.path,
                reason or type(exc).__name__,
            )
            return
        self._synced, self._take_up = token, True

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return None if self._client is None else self._client.info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self._client = _Registration(client_info)  # saved with the token it is issued

    # -- what the session and the provider read ---------------------------------------------

    def current(self) -> Token | None:
        """The token held now (taking up the cache's login when none is)."""
        if self._token is None:
            self.newer()
        return self._token

    @property
    def client_id(self) -> str | None:
        return None if self._client is None else self._client.info.client_id

    def registered_for(self, redirect_uri: str) -> bool:
        """No registration is held, or the one held lists `redirect_uri`."""
        client = self._client
        uris = [] if client is None else [str(uri) for uri in client.info.redirect_uris or []]
        return client is None or redirect_uri in uris

    def forget_client(self) -> None:
        self._client = None

    def secrets(self) -> list[str | None]:
        """The values no error may show: the held tokens and the client secret."""
        token, client = self._token, self._client
        held = [] if token is None else [token.access_token, token.refresh_token]
        return [
            *(None if value is None else value.get_secret_value() for value in held),
            None if client is None else client.info.client_secret,
        ]

    def locked(self) -> contextlib.AbstractAsyncContextManager[None]:
        """The cache's lock, shared with other kernels (nothing without a cache)."""
        return contextlib.nullcontext() if self._store is None else self._store.alocked()

    def newer(self) -> Token | None:
        """The cache's token when another session or kernel wrote it since this one last
        read or wrote the cache; it is held from now on, with its client registration."""
        if self._store is None or not self._take_up:
            return None
        _, token, client = self._store.read_entry()
        synced = self._synced
        if token is None or (synced is not None and _same(token, synced)):
            return None
        registration = _client_from(client)
        self._synced, self._token = token, token
        if registration is not None:
            self._client = _Registration(registration)
        return token


class _QuietContext(OAuthContext):
    """The SDK's provider state, whose repr shows no token and no client secret."""

    def __repr__(self) -> str:
        held = "held" if self.current_tokens is not None else None
        client = None if self.client_info is None else self.client_info.client_id
        return f"OAuthContext(server_url={self.server_url!r}, client_id={client!r}, tokens={held})"


class SharedRefreshProvider(OAuthClientProvider):
    """The SDK's provider, refreshing a login once for all its threads, tasks and kernels.

    Before each request, and once after a 401, the token is renewed under a task lock and
    then the cache's file lock: the cache is read again there, and a token another kernel
    (or another of this session's calls) stored is used with no request; only if none was
    is the refresh token spent, and the answer saved before the locks are let go. The SDK's
    flow then sends the request, and asks for a new login only when the server refuses.
    Expiry is read from the cache, so a kernel that only loaded the token refreshes in time.
    """

    def __init__(self, *, storage: StoreTokenStorage, **options: Any) -> None:
        super().__init__(storage=storage, **options)
        self.context = _QuietContext(
            **{field.name: getattr(self.context, field.name) for field in fields(OAuthContext)}
        )
        self._storage = storage
        self._renewing = anyio.Lock()
        self._dropped: Token | None = None  # the login whose refresh the server refused

    def __repr__(self) -> str:
        return f"SharedRefreshProvider({self._storage!r})"

    async def _auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self.context.current_tokens is None:
            self._storage.newer()  # a login another session or kernel saved
        self._take_up()
        async with contextlib.AsyncExitStack() as held:
            renewal = await self._renewal(held, self._due)
            if renewal is not None:
                await self._handle_refresh_response((yield renewal))
        first: httpx.Response | None = None
        sent: Secret | None = None
        if self._initialized and self.context.is_token_valid():
            # The common case, outside the SDK's flow: it holds one lock across the whole
            # exchange, so each call of the session would wait for the one before.
            self.context.protocol_version = request.headers.get(MCP_PROTOCOL_VERSION_HEADER)
            self._add_auth_header(request)
            first = yield request
            if first.status_code != 401 and not _asks_for_scope(first):
                return
            sent = _sent_with(request)  # the SDK's flow rewrites the header before it yields
        flow = super()._auth_flow(request)
        retried = False
        try:
            outgoing = await flow.__anext__()
            if outgoing is not request:
                first = None  # the SDK begins elsewhere: the request goes out again later
            while True:
                if first is not None:  # the SDK's request was answered already, just now
                    response, first = first, None
                else:
                    response = yield outgoing
                    sent = _sent_with(outgoing)
                if outgoing is request and response.status_code == 401 and not retried:
                    # The token this request carried: another call may have renewed it since.
                    retried, rejected = True, sent or self._held()
                    async with contextlib.AsyncExitStack() as held:
                        renewal = await self._renewal(held, partial(self._holds, rejected))
                        if renewal is not None:
                            await self._handle_refresh_response((yield renewal))
                    if self.context.current_tokens is not None and not self._holds(rejected):
                        self._add_auth_header(request)
                        response = yield request
                outgoing = await flow.asend(response)
        except StopAsyncIteration:
            return
        finally:
            await flow.aclose()

    async def _renewal(
        self, held: contextlib.AsyncExitStack, needed: Callable[[], bool]
    ) -> httpx.Request | None:
        """The refresh request to send holding the locks (kept in `held`), if still
        `needed` once they are taken and the cache is read again; else None."""
        if not needed():
            return None
        await held.enter_async_context(self._renewing)
        await held.enter_async_context(self._storage.locked())
        self._storage.newer()
        if self._take_up():
            logger.info("using the MCP access token another session or kernel refreshed")
        if not needed() or not self.context.can_refresh_token():
            return None
        logger.info("refreshing the MCP access token")
        return await self._refresh_token()

    async def _handle_refresh_response(self, response: httpx.Response) -> bool:
        used = self._storage._token
        if await super()._handle_refresh_response(response):
            return True
        self._dropped = used  # never taken up again; only a login saved since is
        return False

    def _take_up(self) -> bool:
        """Hand the SDK the storage's token (another kernel's, or read by another thread),
        with its expiry and client, unless the SDK holds it already; True if it did."""
        token = self._storage._token
        if (
            token is None
            or token is self._dropped
            or self._holds(Secret(token.access_token.get_secret_value()))
        ):
            return False
        self.context.current_tokens = _sdk_token(token)
        self.context.token_expiry_time = token.expires_at
        client = self._storage._client
        if client is not None:
            self.context.client_info = client.info
        self._initialized = True
        return True

    def _held(self) -> Secret | None:
        tokens = self.context.current_tokens
        return None if tokens is None else Secret(tokens.access_token)

    def _holds(self, access_token: Secret | None) -> bool:
        held = self.context.current_tokens
        return (
            access_token is not None
            and held is not None
            and held.access_token == access_token.reveal()
        )

    def _due(self) -> bool:
        token = self._storage._token
        return (
            token is not None
            and self._holds(Secret(token.access_token.get_secret_value()))
            and token.refresh_due(time.time(), REFRESH_LEEWAY)
        )


def _sent_with(request: httpx.Request) -> Secret | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return Secret(token) if scheme.lower() == "bearer" and token else None


def _asks_for_scope(response: httpx.Response) -> bool:
    """A 403 asking for more scope, which the SDK's flow answers with a new consent."""
    challenge = response.headers.get("www-authenticate", "")
    return response.status_code == 403 and "insufficient_scope" in challenge


def _sdk_token(token: Token) -> OAuthToken:
    return OAuthToken(
        access_token=token.access_token.get_secret_value(),
        token_type="Bearer",  # noqa: S106
        expires_in=max(int(token.expires_at - time.time()), 0),
        refresh_token=None
        if token.refresh_token is None
        else token.refresh_token.get_secret_value(),
        scope=token.scope,
    )


def _client_json(client: _Registration | None) -> dict[str, Any] | None:
    return None if client is None else client.info.model_dump(mode="json", exclude_none=True)


def _client_from(data: dict[str, Any] | None) -> OAuthClientInformationFull | None:
    if data is None:
        return None
    try:
        return OAuthClientInformationFull.model_validate(data)
    except ValidationError:
        logger.warning("ignoring the client registration in the token cache (unreadable)")
        return None


def _same(one: Token, other: Token) -> bool:
    return one.access_token.get_secret_value() == other.access_token.get_secret_value()


class MCPLogin:
    """One MCP session's OAuth login: the SDK's provider and the attempts of `LoginFlow`."""

    def __init__(
        self,
        url: str,
        *,
        redirect_uri: str,
        store: TokenStore | None,
        take_up: bool = True,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self.redirect_uri = redirect_uri
        self.storage = StoreTokenStorage(store, take_up=take_up)
        self.flow = LoginFlow()
        self._on_change = on_change
        self._lock = threading.Lock()
        self._begun = threading.Condition(self._lock)
        self._answer: asyncio.Future[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._expecting = False
        self._provider: SharedRefreshProvider | None = None

    def __repr__(self) -> str:
        return f"MCPLogin(url={self.url!r}, attempt={self.flow.current!r})"

    def provider(self) -> SharedRefreshProvider:
        metadata = OAuthClientMetadata(
            client_name=f"zapier_nb {__version__}",
            redirect_uris=[self.redirect_uri],  # type: ignore[list-item]
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",  # noqa: S106 - a public client
        )
        self._provider = SharedRefreshProvider(
            server_url=self.url,
            client_metadata=metadata,
            storage=self.storage,
            redirect_handler=self._redirect,
            callback_handler=self._callback,
        )
        return self._provider

    @property
    def client_id(self) -> str | None:
        return self.storage.client_id

    def holds_login(self) -> bool:
        """A token is held: this session's, or one another session or kernel saved."""
        return self.storage.current() is not None

    def expect(self) -> None:
        """A person is about to answer a consent page (begin_login): let a login begin.

        A registration taken up from the cache for another redirect URI (another kernel's
        listener, say) cannot serve this login: the server then registers this one anew.
        """
        with self._lock:
            self._expecting = True
        self.storage.newer()  # what the cache holds now, registration included
        if not self.storage.registered_for(self.redirect_uri):
            self.storage.forget_client()
            if self._provider is not None:
                self._provider.context.client_info = None

    def cancel(self) -> None:
        """End the attempt in progress, and the SDK's wait for its answer."""
        future, loop = self._answer, self._loop
        self.flow.cancel()
        if future is not None and loop is not None and not loop.is_closed():
            error = LoginError("This MCP login was replaced by a new one.")
            loop.call_soon_threadsafe(_fail, future, error)

    # -- the SDK's hooks (on the session's private loop) -----------------------------------

    async def _redirect(self, authorization_url: str) -> None:
        with self._lock:
            expecting, self._expecting = self._expecting, False
        if not expecting:  # a call needs a new login, and nobody is there to give it
            error = LoginRequiredError(
                "The MCP server asks for a new login (the one this session had was refused "
                "or has ended). Log in again: begin_login(), then complete_login(...).",
                ended=True,
            )
            exchange = current_exchange().get()
            if exchange is not None:
                exchange.login_error = error
            raise error
        client_id = parse_qs(urlsplit(authorization_url).query).get("client_id", [""])[0]
        attempt = attempt_for_url(
            authorization_url, redirect_uri=self.redirect_uri, client_id=client_id
        )
        loop = asyncio.get_running_loop()
        with self._begun:
            self.flow.begin(attempt)
            self._answer = loop.create_future()
            self._loop = loop
            self._begun.notify_all()
        if self._on_change is not None:
            self._on_change()

    async def _callback(self) -> AuthorizationCodeResult:
        answer, attempt = self._answer, self.flow.current
        if answer is None or attempt is None:  # pragma: no cover - the SDK redirects first
            raise LoginError("No MCP login was begun. Begin one with begin_login().")
        try:
            code = await asyncio.wait_for(answer, LOGIN_TIMEOUT)
        except TimeoutError:
            self.flow.cancel()
            raise LoginError(
                f"The MCP login waited {LOGIN_TIMEOUT:.0f} s for the consent page's answer and "
                "gave up. Begin a new login."
            ) from None
        finally:
            self._answer = None
        # The state was compared by LoginFlow.take; the SDK compares it once more.
        return AuthorizationCodeResult(code=code, state=attempt.state)

    # -- what a channel sees ----------------------------------------------------------------

    @property
    def pending_login_url(self) -> str | None:
        attempt = self.flow.open_attempt
        return None if attempt is None else attempt.url

    def wait_for_login_url(
        self, timeout: float, *, until: Callable[[], bool] = lambda: False
    ) -> str | None:
        """Block until a login is begun (the server answered 401), or `until()` is true."""
        deadline = time.monotonic() + timeout
        with self._begun:
            while self.pending_login_url is None and not until():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._begun.wait(min(left, 0.05))
            return self.pending_login_url

    def take(self, answer: LoginAnswer) -> LoginAttempt:
        """Hand an answer's code to the SDK, once `LoginFlow` accepted it (the state check).

        A refused or denied answer ends the SDK's wait too, with the same error.
        """
        future, loop = self._answer, self._loop
        try:
            attempt, code = self.flow.take(answer)
        except LoginError as exc:
            current = self.flow.current
            if future is not None and loop is not None and (current is None or not current.open):
                loop.call_soon_threadsafe(_fail, future, exc)
            raise
        if future is None or loop is None:
            self.flow.finish(attempt, LoginError("no SDK flow was waiting"))
            raise LoginError("This MCP login is no longer waiting. Begin a new one.")
        loop.call_soon_threadsafe(_resolve, future, code.get_secret_value())
        return attempt


def _resolve(future: asyncio.Future[str], code: str) -> None:
    if not future.done():
        future.set_result(code)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
