"""The OAuth token a session holds, and the refresh protocol around it.

`TokenKeeper` turns token-endpoint answers into state, ends the session when a
refresh token is rejected, and, with a token cache, keeps the state in step with
other processes: under the cache's file lock it re-reads the cache and takes up a
token another process refreshed, so a rotating refresh token is never spent twice.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator

from ._errors import LoginRequiredError, SessionExpiredError, ZapierError, error_for_status
from ._http import httpx, json_or_none, read_json
from ._models import RefreshTokenRequest, Token, TokenResponse, parse_response
from ._oauth import TOKEN_PATH, token_error
from ._redact import redact
from ._store import TokenStore

__all__ = ["TokenKeeper", "token_failure"]

logger = logging.getLogger("zapier_nb")


class TokenKeeper:
    """Holds the OAuth token and turns token-endpoint answers into new state.

    With a store, every change is written to the token cache, and `reconcile()`
    (called under the cache's lock) takes up a token another process wrote.
    """

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        leeway: float,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[Token | None], None] | None = None,
        store: TokenStore | None = None,
        timeout: float | None = None,
    ) -> None:
        self.lock = threading.Lock()
        # A request an auth flow yields skips the client's timeout; it must carry its own.
        self._timeout = httpx.Timeout(timeout).as_dict()
        self._token_url = f"{base_url}{TOKEN_PATH}"
        self._client_id = client_id
        self._leeway = leeway
        self._clock = clock
        self._on_change = on_change
        self._store = store
        self._token: Token | None = None
        self._ended: SessionExpiredError | LoginRequiredError | None = None
        # The token last read from or written to the cache: a cached token that differs
        # from it was written by another process.
        self._synced: Token | None = None

    @property
    def token(self) -> Token | None:
        return self._token

    @property
    def store(self) -> TokenStore | None:
        return self._store

    def set(
        self,
        token: Token | None,
        *,
        ended: SessionExpiredError | LoginRequiredError | None = None,
    ) -> None:
        self._token = token
        self._ended = ended
        if self._on_change is not None:
            self._on_change(token)

    def current(self) -> Token:
        token = self._token
        ended = self._ended
        if token is None and isinstance(ended, LoginRequiredError):
            raise LoginRequiredError(ended.message)
        if token is None and isinstance(ended, SessionExpiredError):
            raise SessionExpiredError(
                ended.message,
                status_code=ended.status_code,
                error=ended.error,
                error_description=ended.error_description,
                path=TOKEN_PATH,
            )
        if token is None:
            raise LoginRequiredError(
                "This session is not logged in. Log in with session.login() or %zapier_login."
            )
        return token

    def refresh_due(self, token: Token) -> bool:
        return token.refresh_due(self._clock(), self._leeway)

    # -- the token cache ------------------------------------------------------------------

    def load_cached(self) -> bool:
        """Take the cached login, if there is one; True when there was."""
        if self._store is None:
            return False
        token = self._store.load()
        if token is None:
            return False
        self.set(token)
        self._synced = token
        return True

    @contextlib.contextmanager
    def shared(self) -> Iterator[None]:
        """The cache's lock across processes (nothing without a cache). Hold `lock` first."""
        if self._store is None:
            yield
            return
        with self._store.locked():
            yield

    @contextlib.asynccontextmanager
    async def ashared(self) -> AsyncIterator[None]:
        """`shared()` for coroutines."""
        if self._store is None:
            yield
            return
        async with self._store.alocked():
            yield

    def reconcile(self) -> Token:
        """The token to use or refresh, after reading the cache (under `shared()`).

        A cached token that another process wrote replaces this one: its refresh token
        is the live one when the server rotates them. A cache entry that vanished
        means the login was ended elsewhere (a logout, or the file was deleted).
        """
        token = self.current()
        store = self._store
        if store is None:
            return token
        present, cached = store.read()
        if not present:
            if self._synced is None:
                return token
            ended = LoginRequiredError(
                f"This login was ended elsewhere: its cached token ({store.path}) is gone "
                "(a logout in another kernel, a refresh the server refused there, or the file "
                "was deleted). Log in again (session.login() or %zapier_login)."
            )
            self.set(None, ended=ended)
            self._synced = None
            raise ended
        if cached is None or _same(cached, token):
            return token
        if self._synced is None or _same(cached, self._synced):
            # Nothing was written since this process last synced: its own token is newer.
            return token
        logger.info("using the access token another process refreshed")
        self.set(cached)
        self._synced = cached
        return cached

    def replace(self, token: Token) -> None:
        """A new login: hold it and cache it. Hold `lock`."""
        with self.shared():
            self.set(token)
            self._persist(token)

    def forget(self) -> None:
        """Drop the token and its cache entry. Hold `lock`."""
        self.set(None)
        self._synced = None
        store = self._store
        if store is None or not store.exists():
            return
        with self.shared():
            try:
                store.delete()
            except OSError as exc:
                logger.warning(
                    "could not delete the token cache file %s (%s); delete it by hand",
                    store.path,
                    exc.strerror or type(exc).__name__,
                )

    def _persist(self, token: Token) -> None:
        store = self._store
        if store is None:
            return
        try:
            store.save(token)
        except OSError as exc:
            logger.warning(
                "could not write the token cache file %s (%s); this login will not outlive "
                "the kernel",
                store.path,
                exc.strerror or type(exc).__name__,
            )
            return
        self._synced = token

    def _discard(self, token: Token) -> None:
        store = self._store
        if store is None:
            return
        try:
            _, cached = store.read()
            if cached is not None and _same(cached, token):
                store.delete()
        except (OSError, ZapierError):
            return
        self._synced = None

    def refresh_request(self, token: Token) -> httpx.Request:
        if token.refresh_token is None:
            raise SessionExpiredError(
                "The access token has expired and the server gave no refresh token. Log in again "
                "(session.login() or %zapier_login).",
                status_code=401,
                error="no_refresh_token",
                path=TOKEN_PATH,
            )
        form = RefreshTokenRequest(client_id=self._client_id, refresh_token=token.refresh_token)
        logger.info("refreshing the access token")
        return httpx.Request(
            "POST", self._token_url, data=form.form(), extensions={"timeout": self._timeout}
        )

    def adopt(self, response: httpx.Response, used: Token) -> Token:
        """Take a refresh answer; a rejected refresh token ends the session."""
        if response.status_code == 200:
            body = read_json(response, what="the token refresh")
            answer = parse_response(TokenResponse, body, what="the token refresh")
            token = answer.to_token(self._clock(), previous=used)
            self.set(token)
            self._persist(token)
            return token
        error = token_failure(response, grant_type="refresh_token")
        if isinstance(error, SessionExpiredError) and self._token is used:
            self.set(None, ended=error)
            self._discard(used)
        raise error


def _same(one: Token, other: Token) -> bool:
    return one.access_token.get_secret_value() == other.access_token.get_secret_value()


def token_failure(response: httpx.Response, *, grant_type: str) -> ZapierError:
    """The error for a token endpoint's non-200 answer, by grant and status."""
    body = json_or_none(response)
    if response.status_code >= 500:
        return error_for_status(
            response.status_code,
            body=redact(body),
            method="POST",
            path=TOKEN_PATH,
            hint="The token request failed on the server; try again in a moment.",
        )
    return token_error(response.status_code, body, grant_type=grant_type)
