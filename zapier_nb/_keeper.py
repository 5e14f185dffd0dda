"""A session's credentials, owned in one place: the API key, or the OAuth token and the
refresh protocol's state around it.

`TokenKeeper` is the single source of truth for how a session authenticates, and the
one that announces each change of it, once. It turns token-endpoint answers into
state, ends the session when a refresh token is rejected, and, with a token cache,
keeps the state in step with other processes: under the cache's file lock it re-reads
the cache and takes up a token another process refreshed, so a rotating refresh token
is never spent twice; a session with no credentials takes up a login another process
saved before it answers "not logged in".
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Literal

from ._errors import LoginRequiredError, SessionExpiredError, TokenCacheError, ZapierError
from ._grants import read_token_answer, refresh_request
from ._http import httpx
from ._paths import TOKEN_PATH

if TYPE_CHECKING:
    from ._models import Token
    from ._redact import Secret
    from ._store import TokenStore

__all__ = ["TokenKeeper"]

logger = logging.getLogger("zapier_nb")

_Ended = SessionExpiredError | LoginRequiredError
_LOGGED_OUT = (
    "This session was logged out. Log in again: session.login() or %zapier_login in a "
    "notebook, or Session(api_key=...)."
)


class TokenKeeper:
    """Holds the API key or the OAuth token, and turns token-endpoint answers into state.

    With a store, every change is written to the token cache, and
    `take_up_cached_token()` (called under the cache's lock) takes up a token another
    process wrote. `on_change` hears every change of the credentials, once each, after
    the state it reports is in place.
    """

    def __init__(
        self,
        *,
        base_url: str,
        client_id: str,
        leeway: float,
        clock: Callable[[], float] = time.time,
        on_change: Callable[[], None] | None = None,
        store: TokenStore | None = None,
        timeout: float | None = None,
        api_key: Secret | None = None,
    ) -> None:
        self.lock = threading.Lock()
        self._api_key = api_key
        self._dropped: Token | None = None  # the token this session ended, never taken up again
        # A request an auth flow yields skips the client's timeout; it must carry its own.
        self._timeout = httpx.Timeout(timeout).as_dict()
        self._token_url = f"{base_url}{TOKEN_PATH}"
        self._client_id = client_id
        self._leeway = leeway
        self._clock = clock
        self._on_change = on_change
        self._store = store
        self._token: Token | None = None
        self._ended: _Ended | None = None
        # The token last read from or written to the cache: a cached token that differs
        # from it was written by another process. None: no other process can hold ours.
        self._synced: Token | None = None

    @property
    def token(self) -> Token | None:
        return self._token

    @property
    def api_key(self) -> Secret | None:
        return self._api_key

    @property
    def method(self) -> Literal["api_key", "oauth"] | None:
        """How requests are authenticated now: the key wins over a token."""
        if self._api_key is not None:
            return "api_key"
        return "oauth" if self._token is not None else None

    def use_api_key(self, api_key: Secret) -> None:
        """Authenticate every later request with this key."""
        self._api_key = api_key
        self._changed()

    @property
    def store(self) -> TokenStore | None:
        return self._store

    def set(self, token: Token | None, *, ended: _Ended | None = None) -> None:
        self._token = token
        self._ended = ended
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change()

    def current(self) -> Token:
        """The token to use; raises the reason when there is none."""
        token, ended = self._token, self._ended
        if token is not None:
            return token
        if isinstance(ended, SessionExpiredError):
            raise SessionExpiredError(
                ended.message,
                status_code=ended.status_code,
                error=ended.error,
                error_description=ended.error_description,
                path=TOKEN_PATH,
            )
        if ended is not None:
            raise LoginRequiredError(ended.message, ended=True)
        raise LoginRequiredError(
            "This session has no credentials yet. Log in first: session.login() or "
            "%zapier_login in a notebook, or Session(api_key=...)."
        )

    def refresh_due(self, token: Token) -> bool:
        return token.refresh_due(self._clock(), self._leeway)

    # -- the token cache ------------------------------------------------------------------

    def load_cached(self) -> bool:
        """Take the cached login, if there is one (and not one this session ended); True
        when there was."""
        if self._store is None:
            return False
        token = self._store.load()
        dropped = self._dropped
        if token is None or (dropped is not None and _same(token, dropped)):
            return False
        self._synced = token
        self.set(token)
        return True

    def take_up_shared_login(self) -> bool:
        """With no credentials, take up a login another process saved in the cache.

        True when there are credentials now. A login this session ended itself (a
        logout, a rejected refresh) is not taken up again from a stale entry: only one
        written since.
        """
        if self.method is not None:
            return True
        store = self._store
        if store is None or not store.exists():
            return False
        with self.lock:
            return self.method is not None or self.load_cached()

    @contextlib.contextmanager
    def interprocess_lock(self) -> Iterator[None]:
        """The cache's lock across processes (nothing without a cache). Hold `lock` first."""
        with contextlib.ExitStack() as held:
            if self._store is not None:
                try:
                    held.enter_context(self._store.locked())
                except TokenCacheError as exc:
                    self._go_on_without_lock(exc)
            yield

    @contextlib.asynccontextmanager
    async def ainterprocess_lock(self) -> AsyncIterator[None]:
        """`interprocess_lock()` for coroutines."""
        async with contextlib.AsyncExitStack() as held:
            if self._store is not None:
                try:
                    await held.enter_async_context(self._store.alocked())
                except TokenCacheError as exc:
                    self._go_on_without_lock(exc)
            yield

    def take_up_cached_token(self) -> Token:
        """The token to use or refresh, after reading the cache (under the lock).

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
                "was deleted). Log in again (session.login() or %zapier_login).",
                ended=True,
            )
            self._synced = None
            self.set(None, ended=ended)
            raise ended
        if cached is None or _same(cached, token):
            return token
        if self._synced is None or _same(cached, self._synced):
            # Nothing was written since this process last synced: its own token is newer.
            return token
        logger.info("using the access token another process refreshed")
        self._synced = cached
        self.set(cached)
        return cached

    def replace(self, token: Token) -> None:
        """A new OAuth login, which takes over from any key: hold it and cache it. Hold `lock`."""
        self._synced = None
        self._api_key = None
        with self.interprocess_lock():
            self._persist(token)
            self.set(token)

    def forget(self) -> None:
        """Drop every credential and the cache entry. Hold `lock`."""
        store, self._synced = self._store, None
        self._api_key = None
        self._dropped = self._token or self._dropped
        self.set(None, ended=LoginRequiredError(_LOGGED_OUT, ended=True))
        if store is None or not store.exists():
            return
        with self.interprocess_lock():
            try:
                store.delete()
            except OSError as exc:
                logger.warning(
                    "could not delete the token cache file %s (%s); delete it by hand",
                    store.path,
                    exc.strerror or type(exc).__name__,
                )

    # -- the refresh grant ----------------------------------------------------------------

    def refresh_request(self, token: Token) -> httpx.Request:
        if token.refresh_token is None:
            raise SessionExpiredError(
                "The access token has expired and the server gave no refresh token. Log in again "
                "(session.login() or %zapier_login).",
                status_code=401,
                error="no_refresh_token",
                path=TOKEN_PATH,
            )
        logger.info("refreshing the access token")
        return refresh_request(self._token_url, self._client_id, token.refresh_token, self._timeout)

    def accept_refresh(self, response: httpx.Response, used: Token) -> Token:
        """Take a refresh answer; a rejected refresh token ends the session."""
        try:
            token = read_token_answer(
                response, grant_type="refresh_token", received_at=self._clock(), previous=used
            )
        except SessionExpiredError as error:
            if self._token is used:
                self._discard(used)
                self._dropped = used
                self.set(None, ended=error)
            raise
        self._persist(token)
        self.set(token)
        return token

    # -- internals ------------------------------------------------------------------------

    def _go_on_without_lock(self, problem: TokenCacheError) -> None:
        """Without the lock, only a token no other process can hold may be refreshed."""
        if self._synced is not None:
            raise TokenCacheError(
                f"{problem.message} This login came from the cache, and refreshing it without "
                "the lock could spend a refresh token another kernel is using, ending both "
                "logins. Fix the folder, or log in again with token_cache='none'."
            )
        logger.warning(
            "%s This session stops using the token cache; its login lasts as long as the kernel.",
            problem.message,
        )
        self._store = None

    def _persist(self, token: Token) -> None:
        store = self._store
        if store is None:
            return
        try:
            store.save(token)
        except (OSError, TokenCacheError) as exc:
            reason = exc.message if isinstance(exc, ZapierError) else exc.strerror
            logger.warning(
                "could not write the token cache file %s (%s); this login will not outlive "
                "the kernel",
                store.path,
                reason or type(exc).__name__,
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


def _same(one: Token, other: Token) -> bool:
    return one.access_token.get_secret_value() == other.access_token.get_secret_value()
