"""The Sandbox: the fake auth server running on uvicorn in a background thread."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import socket
import threading
import time
import weakref
from collections.abc import Sequence
from types import TracebackType

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from . import _browser
from ._app import TRANSPORT_STATE_KEY, USER_COOKIE, create_app
from ._faults import Fault
from ._models import SandboxClient, SandboxUser
from ._state import SandboxState, new_secret

DEFAULT_CLIENT_ID = "zapier-nb-sandbox"
DEFAULT_USER = SandboxUser(1001, "ada@example.com", "Ada Lovelace", is_staff=False)

_START_TIMEOUT = 10.0
_STOP_TIMEOUT = 5.0

# The sandboxes serving in this process, by base URL, so a login widget can offer their key.
_serving: weakref.WeakValueDictionary[str, Sandbox] = weakref.WeakValueDictionary()


def serving_here(base_url: str) -> Sandbox | None:
    """The sandbox that serves `base_url` from this process, if one does."""
    sandbox = _serving.get(base_url.rstrip("/"))
    return sandbox if sandbox is not None and sandbox.running else None


class _DroppableH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, exposing each connection's transport to the app via scope["state"].

    ASGI gives an app no way to close a connection without answering; fault injection's
    ``drop`` needs one.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.app_state = {**self.app_state, TRANSPORT_STATE_KEY: transport}


class Sandbox:
    """A local fake of Zapier's AI Actions auth server, for tests and tutorial notebooks."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        users: Sequence[SandboxUser] | None = None,
        clients: Sequence[SandboxClient] | None = None,
        api_key: str | None = None,
        client_id: str | None = None,
        token_ttl: float = 3600,
        code_ttl: float = 600,
        rotate_refresh_tokens: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self._state = SandboxState(
            _with_api_keys(list(users) if users else [DEFAULT_USER], api_key),
            _with_client_id(list(clients) if clients else None, client_id),
            token_ttl=token_ttl,
            code_ttl=code_ttl,
            rotate_refresh_tokens=rotate_refresh_tokens,
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        where = self._state.base_url or f"{self.host}:{self.port}"
        return f"<Sandbox {where} {'running' if self.running else 'stopped'}>"

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Sandbox:
        """Serve on a background thread; returns once the server accepts connections."""
        if self.running:
            return self
        listener = _listen(self.host, self.port)
        self.port = listener.getsockname()[1]
        self._state.base_url = f"http://{_url_host(self.host)}:{self.port}"
        config = uvicorn.Config(
            create_app(self._state),
            http=_DroppableH11Protocol,
            ws="none",
            lifespan="off",
            loop="asyncio",
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=1,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [listener]},
            name=f"zapier-nb-sandbox:{self.port}",
            daemon=True,
        )
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                listener.close()
                raise RuntimeError(f"the sandbox server did not start on {self.base_url}")
            time.sleep(0.005)
        _serving[self.base_url] = self
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        _serving.pop(self.base_url, None)
        server.should_exit = True
        thread.join(_STOP_TIMEOUT)
        if thread.is_alive():
            server.force_exit = True
            thread.join(_STOP_TIMEOUT)
        self._server = self._thread = None

    @property
    def base_url(self) -> str:
        if not self._state.base_url:
            raise RuntimeError("the sandbox has no address yet: call start() first")
        return self._state.base_url

    @property
    def redirect_uri(self) -> str:
        return self._state.callback_uri

    @property
    def api_key(self) -> str:
        key = self._state.first_user().api_key
        assert key is not None
        return key

    @property
    def client_id(self) -> str:
        return self._state.clients()[0].client_id

    @property
    def users(self) -> list[SandboxUser]:
        return self._state.users()

    @property
    def clients(self) -> list[SandboxClient]:
        return self._state.clients()

    @property
    def id_token_key(self) -> bytes:
        """The HS256 key that signs id_tokens, so tests can verify them."""
        return self._state.signing_key

    @property
    def token_ttl(self) -> float:
        return self._state.token_ttl

    @token_ttl.setter
    def token_ttl(self, seconds: float) -> None:
        self._state.token_ttl = seconds

    @property
    def code_ttl(self) -> float:
        return self._state.code_ttl

    @code_ttl.setter
    def code_ttl(self, seconds: float) -> None:
        self._state.code_ttl = seconds

    @property
    def clock_offset(self) -> float:
        """Seconds the server's wall clock is ahead of (or, negative, behind) the real one."""
        return self._state.clock_offset

    @clock_offset.setter
    def clock_offset(self, seconds: float) -> None:
        self._state.clock_offset = seconds

    @property
    def reuse_revokes_grant(self) -> bool:
        """Whether presenting a rotated-out refresh token again revokes the whole login.

        Off by default (the reused token alone is refused with ``invalid_grant``). On, the
        sandbox acts like servers with refresh token reuse detection: every access and
        refresh token descending from the same consent stops working.
        """
        return self._state.reuse_revokes_grant

    @reuse_revokes_grant.setter
    def reuse_revokes_grant(self, revoke: bool) -> None:
        self._state.reuse_revokes_grant = bool(revoke)

    @property
    def rotate_refresh_tokens(self) -> bool:
        return self._state.rotate_refresh_tokens

    @rotate_refresh_tokens.setter
    def rotate_refresh_tokens(self, rotate: bool) -> None:
        self._state.rotate_refresh_tokens = bool(rotate)

    def count(self, key: str) -> int:
        """Requests seen under ``key``: a route, ``token:<grant_type>``, or ``token_error:<error>``
        for each token request refused with that OAuth error (``token_error:invalid_grant``)."""
        return self._state.get_count(key)

    def counts(self) -> dict[str, int]:
        return self._state.counts()

    def reset(self) -> None:
        """Forget grants, tokens, counters, faults and signed-up users; restore the settings.

        The settings restored are ``token_ttl``, ``code_ttl``, ``rotate_refresh_tokens``,
        ``clock_offset`` (back to 0) and ``reuse_revokes_grant`` (back to off).
        """
        self._state.reset()

    def fail_next(
        self,
        route: str,
        *,
        status: int = 500,
        body: str | None = None,
        content_type: str = "application/json",
        delay: float = 0.0,
        drop: bool = False,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` requests to ``route`` fail (``times=-1``: until cleared).

        ``delay`` seconds pass first; then the connection is dropped (``drop``), answered
        normally (``status=0``), or answered with ``status`` and ``body`` (by default a JSON
        error in the route's usual shape).
        """
        fault = Fault(status, body, content_type, float(delay), drop)
        self._state.faults.add(route, fault, times)

    def clear_faults(self) -> None:
        self._state.faults.clear()

    def expire_access_tokens(self) -> None:
        self._state.expire_access_tokens()

    def revoke_refresh_tokens(self) -> None:
        self._state.revoke_refresh_tokens()

    def issued_secrets(self) -> list[str]:
        """API keys, codes, tokens and received code_verifiers, to search outputs for leaks."""
        return self._state.issued_secrets()

    def approve(self, authorize_url: str, *, deny: bool = False, email: str | None = None) -> str:
        """Answer the consent screen as a user would; returns the URL it redirects to."""
        cookie = None
        if email is not None:
            user = self._state.user_by_email(email)
            if user is None:
                raise ValueError("no sandbox user has this email")
            cookie = f"{USER_COOKIE}={user.user_id}"
        return _browser.consent(authorize_url, deny=deny, cookie=cookie)

    def follow_login_link(self, login_link: str, *, deny: bool = False) -> str:
        """Sign up through a login link, answer the consent screen, return the redirect URL."""
        return _browser.sign_up_and_consent(login_link, deny=deny)


def _with_api_keys(users: list[SandboxUser], api_key: str | None) -> list[SandboxUser]:
    first = users[0]
    if api_key is not None and first.api_key is not None and first.api_key != api_key:
        raise ValueError("api_key differs from the first user's api_key")
    keyed = [dataclasses.replace(first, api_key=first.api_key or api_key or new_secret("sbx_key_"))]
    keyed += [
        user if user.api_key else dataclasses.replace(user, api_key=new_secret("sbx_key_"))
        for user in users[1:]
    ]
    return keyed


def _with_client_id(
    clients: list[SandboxClient] | None, client_id: str | None
) -> list[SandboxClient]:
    if clients is None:
        return [SandboxClient(client_id or DEFAULT_CLIENT_ID)]
    if client_id is not None and clients and clients[0].client_id != client_id:
        raise ValueError("client_id differs from the first client's client_id")
    return clients


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # With the protocol named, asyncio turns Nagle's algorithm off on each accepted
    # connection; without it every kept-alive answer waits ~40 ms for a delayed ACK.
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    return listener


def _url_host(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:
        return "127.0.0.1" if address.version == 4 else "[::1]"
    return f"[{host}]" if address.version == 6 else host
