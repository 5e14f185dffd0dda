"""OAuth for MCP: the SDK's `OAuthClientProvider`, fed by zapier_nb's login answer and cache.

The SDK runs the MCP authorization flow (protected resource metadata, authorization server
metadata, registration, code + PKCE S256 with `resource`, refresh). Its two hooks meet the
toolkit here: `redirect_handler(url)` begins an attempt (its consent URL and state), and
`callback_handler()` waits for the answer a person brings back (`submit_answer`: pasted,
or returned by a channel). The state is compared here, once, before the SDK sees the code.

Tokens go to the shared token cache (`_store.TokenStore`, file-locked, 0600), under the
MCP URL; the client registration is kept beside the session. This is the glue that the
login state machine (`_login.LoginTarget`) will drive.
"""

from __future__ import annotations

import asyncio
import hmac
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

from ._errors import (
    AuthorizationError,
    ConsentDeniedError,
    LoginError,
    LoginRequiredError,
    StateMismatchError,
)
from ._models import Token
from ._oauth import parse_pasted_answer
from ._redact import Secret
from ._version import __version__

if TYPE_CHECKING:
    from ._store import TokenStore

__all__ = ["MCPLogin", "StoreTokenStorage"]

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

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self._client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self._client = client_info


class MCPLogin:
    """One MCP session's OAuth login: the provider, the pending consent URL, the answer."""

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
        self._on_change = on_change
        self._lock = threading.Lock()
        self._pending_url: str | None = None
        self._state: Secret | None = None
        self._answer: asyncio.Future[str] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._begun = threading.Condition(self._lock)
        self._expecting = False

    def __repr__(self) -> str:
        return f"MCPLogin(url={self.url!r}, pending={self._pending_url is not None})"

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

    # -- the SDK's hooks (on the session's private loop) -----------------------------------

    def expect(self) -> None:
        """A person is about to answer a consent page (begin_login): let a login begin."""
        with self._lock:
            self._expecting = True

    async def _redirect(self, authorization_url: str) -> None:
        with self._lock:
            expecting, self._expecting = self._expecting, False
        if not expecting:  # a call needs a new login, and nobody is there to give it
            raise LoginRequiredError(
                "The MCP server asks for a new login (the one this session had was refused "
                "or has ended). Log in again: begin_login(), then complete_login(...).",
                ended=True,
            )
        states = parse_qs(urlsplit(authorization_url).query).get("state", [])
        loop = asyncio.get_running_loop()
        with self._begun:
            self._pending_url = authorization_url
            self._state = Secret(states[0]) if states else None
            self._answer = loop.create_future()
            self._loop = loop
            self._begun.notify_all()
        if self._on_change is not None:
            self._on_change()

    async def _callback(self) -> AuthorizationCodeResult:
        answer = self._answer
        if answer is None:  # pragma: no cover - the SDK always redirects first
            raise LoginError("No MCP login was begun. Call the server again to begin one.")
        try:
            code = await asyncio.wait_for(answer, LOGIN_TIMEOUT)
        except TimeoutError:
            with self._lock:
                self._pending_url, self._state, self._answer = None, None, None
            raise LoginError(
                f"The MCP login waited {LOGIN_TIMEOUT:.0f} s for the consent page's answer and "
                "gave up. Call the server again to begin a new login."
            ) from None
        with self._lock:
            state = self._state
            self._pending_url, self._state, self._answer = None, None, None
        return AuthorizationCodeResult(code=code, state=None if state is None else state.reveal())

    # -- what a channel sees ----------------------------------------------------------------

    @property
    def pending_login_url(self) -> str | None:
        """The consent URL of the login waiting for its answer, if one is."""
        return self._pending_url

    def wait_for_login_url(
        self, timeout: float, *, until: Callable[[], bool] = lambda: False
    ) -> str | None:
        """Block until a login is begun (the server answered 401), or `until()` is true."""
        deadline = time.monotonic() + timeout
        with self._begun:
            while self._pending_url is None and not until():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._begun.wait(min(left, 0.05))
            return self._pending_url

    def submit_answer(self, pasted: str) -> None:
        """Hand over what came back from the consent page: the redirected URL, or a bare code.

        The state is checked here; the code then reaches the SDK, which exchanges it.
        """
        answer = parse_pasted_answer(pasted)
        del pasted
        with self._lock:
            expected, future, loop = self._state, self._answer, self._loop
        if future is None or loop is None or expected is None:
            raise LoginError(
                "No MCP login is waiting for an answer. Call the server (list_tools()) to begin "
                "one, then paste what the consent page returns."
            )
        if not answer.bare and (
            answer.state is None or not hmac.compare_digest(answer.state, expected.reveal())
        ):
            raise StateMismatchError(
                "That answer belongs to another login (its state differs). Paste the address "
                "from the consent page of this login."
            )
        if answer.error is not None:
            cls = ConsentDeniedError if answer.error == "access_denied" else AuthorizationError
            error = cls(
                f"The MCP server refused the login: {answer.error_description or answer.error}. "
                "Log in again, and approve on the consent page.",
                error=answer.error,
                error_description=answer.error_description,
            )
            loop.call_soon_threadsafe(_fail, future, error)
            raise error
        code = answer.code or ""
        loop.call_soon_threadsafe(_resolve, future, code)


def _resolve(future: asyncio.Future[str], code: str) -> None:
    if not future.done():
        future.set_result(code)


def _fail(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)
