"""The Sandbox: the fake auth server running on uvicorn in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import socket
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from . import _browser
from ._actions_state import ExecutionLog, SentEmail, needs_from
from ._app import TRANSPORT_STATE_KEY, create_app
from ._faults import Fault
from ._mcp_facade import SandboxMCP
from ._models import SandboxClient, SandboxUser
from ._ownership import KeyRecord, remove_key, write_key
from ._routes import USER_COOKIE
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
        allowed_hosts: Sequence[str] = (),
        redirect_uris: Sequence[str] = (),
        skip_consent_for_returning_users: bool = False,
    ) -> None:
        """`allowed_hosts` are further names (`host` or `host:port`) the sandbox answers
        to besides its own address and the loopback names; any other `Host` is refused.
        `redirect_uris` are registered for the first client, beside its own; the sandbox's
        `/sandbox/callback/` page is always registered. `skip_consent_for_returning_users`
        answers the consent screen by itself for a user who approved the same request before."""
        self.host = host
        self.port = port
        self._state = SandboxState(
            _with_api_keys(list(users) if users else [DEFAULT_USER], api_key),
            _with_client_id(list(clients) if clients else None, client_id),
            token_ttl=token_ttl,
            code_ttl=code_ttl,
            rotate_refresh_tokens=rotate_refresh_tokens,
            skip_consent_for_returning_users=skip_consent_for_returning_users,
        )
        self._state.extra_hosts = (*allowed_hosts, *_own_names(host))
        for uri in redirect_uris:
            self.add_redirect_uri(uri)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._key: tuple[Path, KeyRecord] | None = None

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
        bound, self.port = listener.getsockname()[:2]
        # A name (localhost) may also stand for an address another user can take on the
        # same port: the URL names the address really bound.
        host = bound if self.host.strip("[]").lower() == "localhost" else self.host
        self._state.base_url = f"http://{_url_host(host)}:{self.port}"
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
        record = KeyRecord(urlsplit(self.base_url).hostname or "", self.port, self._state.proof_key)
        path = write_key(record)
        self._key = None if path is None else (path, record)
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        _serving.pop(self.base_url, None)
        if self._key is not None:
            remove_key(*self._key)
            self._key = None
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
    def public_hosts(self) -> list[str]:
        """The names beyond loopback the sandbox answers to, each with its port."""
        loopback = {f"127.0.0.1:{self.port}", f"localhost:{self.port}", f"[::1]:{self.port}"}
        own = self._state.allowed_hosts() - loopback - {urlsplit(self.base_url).netloc}
        return sorted(own)

    @property
    def redirect_uri(self) -> str:
        return self._state.callback_uri

    @property
    def redirect_uris(self) -> list[str]:
        """Every redirect URI the first client may use, the sandbox's callback page last."""
        return list(self._state.redirect_uris(self._state.clients()[0]))

    def add_redirect_uri(self, uri: str, *, client_id: str | None = None) -> None:
        """Register one more redirect URI for a client (the first by default), as an app's
        settings page would. Exact matching, except that a port-less `http://127.0.0.1/...`
        or `http://[::1]/...` accepts any port (RFC 8252). Kept across `reset()`."""
        self._state.add_redirect_uri(client_id or self.client_id, uri)

    @property
    def skip_consent_for_returning_users(self) -> bool:
        """Whether a user who approved the same client, redirect URI and scope before is
        sent straight back with a code, without a consent page (restored by `reset()`)."""
        return self._state.skip_consent_for_returning_users

    @skip_consent_for_returning_users.setter
    def skip_consent_for_returning_users(self, skip: bool) -> None:
        self._state.skip_consent_for_returning_users = bool(skip)

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
        ``clock_offset`` (back to 0), ``reuse_revokes_grant`` (back to off) and
        ``skip_consent_for_returning_users``; remembered consents are forgotten. Redirect
        URIs added with ``add_redirect_uri`` stay registered. The AI Actions go back to the
        built-in ones, with no logs, no sent emails, no latency.
        """
        self._state.reset()

    def fail_next(
        self,
        route: str,
        *,
        status: int = 500,
        body: str | bytes | None = None,
        content_type: str = "application/json",
        delay: float = 0.0,
        drop: bool = False,
        times: int = 1,
        act_first: bool = False,
        retry_after: float | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Make the next ``times`` requests to ``route`` fail (``times=-1``: until cleared).

        ``delay`` seconds pass first; then the connection is dropped (``drop``), answered
        normally (``status=0``), or answered with ``status`` and ``body`` (by default a JSON
        error in the route's usual shape). ``retry_after`` adds a ``Retry-After`` header
        (``status=429, retry_after=2``: a rate limit); ``headers`` are added as given
        (``{"Retry-After": "soon"}``, ``{"Content-Encoding": "gzip"}`` with a bytes ``body``).

        With ``act_first`` the route does its work first (an execute runs and is counted, a
        token is issued), then its answer is replaced by the fault, after ``delay``: what a
        client sees when the server acted but the answer was lost.

        Routes: ``authorize``, ``check``, ``login_link``, ``token``, and the AI Actions
        routes ``list_actions``, ``get_action``, ``create_action``, ``update_action``,
        ``delete_action``, ``execute`` (previews included) and ``rate``.
        """
        retry = None if retry_after is None else float(retry_after)
        fault = Fault(status, body, content_type, float(delay), drop, bool(act_first), retry,
                      tuple((headers or {}).items()))  # fmt: skip
        self._state.faults.add(route, fault, times)

    def clear_faults(self) -> None:
        self._state.faults.clear()

    @property
    def mcp(self) -> SandboxMCP:
        """The Zapier MCP server it also serves (with the `mcp` extra): URL, tokens, counters."""
        return SandboxMCP(self._state)

    # -- AI Actions ---------------------------------------------------------------------------

    @property
    def latency(self) -> float:
        """Seconds every AI Actions request waits before it is handled (0 after a reset)."""
        return self._state.actions.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._state.actions.latency = seconds

    def _user_id(self, email: str | None) -> int:
        if email is None:
            return self._state.first_user().user_id
        user = self._state.user_by_email(email)
        if user is None:
            raise ValueError("no sandbox user has this email")
        return user.user_id

    def add_action(
        self,
        description: str | None = None,
        *,
        app: str = "SandboxAPI",
        action: str = "custom",
        action_type: str = "write",
        needs: Sequence[str | Mapping[str, Any]] | None = None,
        params: Mapping[str, str | list[str]] | None = None,
        run: Callable[[dict[str, Any], str], Any] | None = None,
        email: str | None = None,
    ) -> str:
        """Store an AI Action for a user (the first one by default); returns its id.

        ``app``/``action`` of a built-in action (``GoogleSheetsV2API``/``lookup_row``,
        ``GoogleMailV2CLIAPI``/``message``, ``ZendeskAPI``/``search_articles``) take its
        inputs and rules. Otherwise ``needs`` lists the inputs (keys, required, or need
        mappings), and ``run(resolved_params, instructions)`` returns the result records
        (an exception it raises becomes ``status: "error"``); without ``run`` the action
        answers its resolved inputs as one record.
        """
        if action_type not in ("read", "write", "search", "read_bulk"):
            raise ValueError("action_type must be read, write, search or read_bulk")
        stored = self._state.actions.add(
            self._user_id(email),
            app=app,
            action=action,
            action_type=action_type,
            params=dict(params or {}),
            meta=None,
            description=description,
            needs=None if needs is None else needs_from(needs),
            runner=run,
        )
        return stored.id

    def actions(self, email: str | None = None) -> list[dict[str, Any]]:
        """A user's stored actions, as the API lists them."""
        return [a.wire() for a in self._state.actions.owned(self._user_id(email))]

    def sent_emails(self) -> list[SentEmail]:
        """Every message the built-in "Gmail: Send Email" action sent, oldest first."""
        return self._state.actions.sent_emails()

    def execution_count(self, action_id: str | None = None) -> int:
        """Actions really run (previews left out), for one action or all of them."""
        return self._state.actions.execution_count(action_id)

    def execution_logs(self) -> list[ExecutionLog]:
        """Every execute and preview answered, with its instructions, answer and rating."""
        return self._state.actions.logs()

    def expire_access_tokens(self) -> None:
        self._state.expire_access_tokens()

    def revoke_refresh_tokens(self) -> None:
        self._state.revoke_refresh_tokens()

    def issued_secrets(self) -> list[str]:
        """API keys, codes, tokens and received code_verifiers, to search outputs for leaks."""
        return self._state.issued_secrets()

    def approve(self, authorize_url: str, *, deny: bool = False, email: str | None = None) -> str:
        """Answer the consent screen as a user would; returns the URL it redirects to."""
        cookie = None if email is None else f"{USER_COOKIE}={self.user_cookie(email)}"
        return _browser.consent(authorize_url, deny=deny, cookie=cookie)

    def user_cookie(self, email: str) -> str:
        """The value of the consent pages' `sandbox_user` cookie that signs in as this user
        (signed with this sandbox's own key: another value is ignored)."""
        user = self._state.user_by_email(email)
        if user is None:
            raise ValueError("no sandbox user has this email")
        return self._state.user_cookie(user.user_id)

    def home_link(self) -> str:
        """A one-time link to the home page that shows the demo credentials to the browser
        that opens it (other local users see the page without the API key)."""
        return f"{self.base_url}/?once={self._state.new_home_link()}"

    @property
    def key_file(self) -> Path | None:
        """The private file whose key proves to this user's Jupyter proxy that this sandbox
        is theirs (None if it could not be written: the proxy then refuses it)."""
        return None if self._key is None else self._key[0]

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


def listens_beyond_loopback(host: str) -> bool:
    """True when other machines can reach a server bound to `host`."""
    try:
        return not ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host != "localhost"


def _own_names(host: str) -> list[str]:
    """The names other machines reach a server bound to `host` by."""
    if not listens_beyond_loopback(host):
        return []
    names = {host.strip("[]")}
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host.strip("[]")).is_unspecified:
            names = {socket.gethostname()}
            with contextlib.suppress(OSError):
                names |= {
                    str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)
                }
    return sorted(f"[{name}]" if ":" in name else name for name in names)


def _url_host(host: str) -> str:
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if address.is_unspecified:
        return "127.0.0.1" if address.version == 4 else "[::1]"
    return f"[{host}]" if address.version == 6 else host
