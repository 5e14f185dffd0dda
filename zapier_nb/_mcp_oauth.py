"""OAuth for MCP: the SDK's `OAuthClientProvider`, fed by the toolkit's login state machine.

The SDK runs the MCP authorization flow (protected resource metadata, authorization server
metadata, registration, code + PKCE S256 with `resource`, refresh); it keeps the verifier.
Its two hooks meet `_login` here: `redirect_handler(url)` begins a `LoginAttempt` whose state
is read from the URL, and `callback_handler()` waits for the code that `LoginFlow.take`
accepted from a `LoginAnswer` (the one state check). So the channels that serve `Session`
(a paste, the terminal prompt, a relayed callback) can serve an `MCPSession` as well.

Tokens go to the shared token cache (`_store.TokenStore`, file-locked, 0600) under the MCP
URL, when the cache is on; the client registration is kept beside the session.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from mcp.client.auth import OAuthClientProvider
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
    OAuthToken,
)

from ._errors import LoginError, LoginRequiredError
from ._login import LoginAnswer, LoginAttempt, LoginFlow, attempt_for_url
from ._models import Token
from ._version import __version__

if TYPE_CHECKING:
    from ._store import TokenStore

__all__ = ["MCP_CLIENT_KEY", "MCPLogin", "StoreTokenStorage"]

MCP_CLIENT_KEY = "zapier_nb-mcp-oauth"
LOGIN_TIMEOUT = 600.0  # seconds a call waits for a person to answer the consent page


class StoreTokenStorage:
    """The SDK's `TokenStorage` over the shared token cache (or memory, without one)."""

    def __init__(self, store: TokenStore | None) -> None:
        self._store = store
        self._token: Token | None = None
        self._client: OAuthClientInformationFull | None = None

    def __repr__(self) -> str:
        where = "memory" if self._store is None else repr(self._store)
        return f"StoreTokenStorage({where})"

    async def get_tokens(self) -> OAuthToken | None:
        token = self._store.load() if self._store is not None else self._token
        if token is None:
            return None
        left = max(int(token.expires_at - time.time()), 0)
        return OAuthToken(
            access_token=token.access_token.get_secret_value(),
            token_type="Bearer",  # noqa: S106
            expires_in=left,
            refresh_token=None
            if token.refresh_token is None
            else token.refresh_token.get_secret_value(),
            scope=token.scope,
        )

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
        self._token = token
        if self._store is not None:
            with self._store.locked():
                self._store.save(token)

    def current(self) -> Token | None:
        """The token held now (from the cache when it is on)."""
        return self._store.load() if self._store is not None else self._token

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self._client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self._client = client_info


class MCPLogin:
    """One MCP session's OAuth login: the SDK's provider and the attempts of `LoginFlow`."""

    def __init__(
        self,
        url: str,
        *,
        redirect_uri: str,
        store: TokenStore | None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.url = url
        self.redirect_uri = redirect_uri
        self.storage = StoreTokenStorage(store)
        self.flow = LoginFlow()
        self._on_change = on_change
        self._lock = threading.Lock()
        self._begun = threading.Condition(self._lock)
        self._answer: asyncio.Future[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._expecting = False

    def __repr__(self) -> str:
        return f"MCPLogin(url={self.url!r}, attempt={self.flow.current!r})"

    def provider(self) -> OAuthClientProvider:
        metadata = OAuthClientMetadata(
            client_name=f"zapier_nb {__version__}",
            redirect_uris=[self.redirect_uri],  # type: ignore[list-item]
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            token_endpoint_auth_method="none",  # noqa: S106 - a public client
        )
        return OAuthClientProvider(
            server_url=self.url,
            client_metadata=metadata,
            storage=self.storage,
            redirect_handler=self._redirect,
            callback_handler=self._callback,
        )

    @property
    def client_id(self) -> str | None:
        client = self.storage._client
        return None if client is None else client.client_id

    def expect(self) -> None:
        """A person is about to answer a consent page (begin_login): let a login begin."""
        with self._lock:
            self._expecting = True

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
            raise LoginRequiredError(
                "The MCP server asks for a new login (the one this session had was refused "
                "or has ended). Log in again: begin_login(), then complete_login(...).",
                ended=True,
            )
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
