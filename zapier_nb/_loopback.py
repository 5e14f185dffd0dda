"""The kernel's loopback listener: catches the redirect when the browser runs on this machine.

It listens on `127.0.0.1` only, answers one path, checks the `Host` header (a page
elsewhere cannot reach it through DNS rebinding), and hands each answer it receives to
the session, which decides whether it belongs to the login in progress. It closes once
that login ends (here, pasted, replaced or logged out), on `close()`, and after ten
minutes. Each connection is served on its own thread and has a deadline, so a slow one
holds up nothing. Its pages never show the code.
"""

from __future__ import annotations

import contextlib
import html
import logging
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ._errors import ConfigurationError, StateMismatchError, ZapierError
from ._login import LoginAnswer
from ._paths import LOOPBACK_CALLBACK_PATH

if TYPE_CHECKING:
    from ._login import LoginAttempt, LoginTarget
    from ._models import TokenInfo

__all__ = [
    "CONNECTION_SECONDS",
    "LISTEN_SECONDS",
    "LoopbackListener",
    "close_listener",
    "is_loopback_redirect",
    "listener_for",
]

logger = logging.getLogger("zapier_nb")

LISTEN_SECONDS = 600.0
# How long one connection may take to send its request, however slowly it trickles.
CONNECTION_SECONDS = 10.0
_HOSTS = {"127.0.0.1": "127.0.0.1", "::1": "[::1]"}
_PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}

Outcome: TypeAlias = "TokenInfo | ZapierError"


def is_loopback_redirect(uri: str | None) -> bool:
    """True for `http://127.0.0.1[:port]/zapier-nb/callback` (or `[::1]`)."""
    if not uri:
        return False
    parts = urlsplit(uri)
    return (
        parts.scheme == "http"
        and parts.hostname in _HOSTS
        and parts.path == LOOPBACK_CALLBACK_PATH
        and not parts.query
    )


class LoopbackListener:
    """Listens for the answer of one login attempt on the redirect URI's loopback address."""

    def __init__(
        self,
        target: LoginTarget,
        registered_uri: str,
        *,
        on_done: Callable[[Outcome], None] | None = None,
        seconds: float = LISTEN_SECONDS,
        connection_seconds: float = CONNECTION_SECONDS,
    ) -> None:
        if not is_loopback_redirect(registered_uri):
            raise ConfigurationError(
                f"{registered_uri!r} is not a loopback redirect URI; use "
                f"http://127.0.0.1{LOOPBACK_CALLBACK_PATH} (any port) or "
                f"http://127.0.0.1:PORT{LOOPBACK_CALLBACK_PATH}."
            )
        parts = urlsplit(registered_uri)
        host = parts.hostname or "127.0.0.1"
        self.target = target
        self.registered_uri = registered_uri
        self.on_done = on_done
        self.done = threading.Event()
        self.outcome: Outcome | None = None
        self.attempt: LoginAttempt | None = None
        self.connection_seconds = connection_seconds
        self._closed = threading.Event()
        self._seconds = seconds
        try:
            self._server = _Server((host, parts.port or 0), self)
        except OSError as exc:
            raise ConfigurationError(
                f"Cannot listen on {host}:{parts.port} for the login answer ({exc.strerror}). "
                "Close the program using that port, or register a port-less "
                f"http://127.0.0.1{LOOPBACK_CALLBACK_PATH} so any free port can be used."
            ) from None
        self.port: int = self._server.server_address[1]
        self.host_header = f"{_HOSTS[host]}:{self.port}"
        self.redirect_uri = urlunsplit(("http", self.host_header, LOOPBACK_CALLBACK_PATH, "", ""))
        self._thread = threading.Thread(
            target=self._serve, name=f"zapier-nb-loopback:{self.port}", daemon=True
        )
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> str:
        """Begin a login attempt answered at this listener's address; returns its consent URL."""
        url = self.target.begin_login(redirect_uri=self.redirect_uri)
        self.attempt = self.target.login_attempt
        self._unsubscribe = self.target.subscribe(self._on_login_change)
        self._thread.start()
        deadline = threading.Timer(self._seconds, self.close)
        deadline.daemon = True
        deadline.start()
        return url

    @property
    def listening(self) -> bool:
        return not self._closed.is_set()

    def close(self) -> None:
        """Stop listening now, and drop any connection still open."""
        if self._closed.is_set():
            return
        self._closed.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._server.shutdown()
        self._server.server_close()
        self._server.drop_connections()

    def wait(self, timeout: float | None = None) -> Outcome | None:
        self.done.wait(timeout)
        return self.outcome

    # -- on the listener's threads --------------------------------------------------------

    def _on_login_change(self) -> None:
        attempt = self.attempt
        if attempt is not None and (not attempt.open or self.target.login_attempt is not attempt):
            # Ended here or elsewhere (pasted, declined, logged out), or a new one begun.
            threading.Thread(target=self.close, daemon=True).start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            self._server.serve_forever(poll_interval=0.25)

    def answer(self, request: BaseHTTPRequestHandler) -> tuple[int, str, str]:
        """Judge one request; returns (status, title, message) for the page."""
        if request.headers.get("Host", "") != self.host_header:
            return 400, "Wrong address", "This listener answers only its own loopback address."
        target = urlsplit(request.path)
        if target.path != LOOPBACK_CALLBACK_PATH:
            return 404, "Not found", "This listener answers only the login callback."
        answer = LoginAnswer.from_query(parse_qs(target.query))
        try:
            info = self.target.submit_answer(answer)
        except StateMismatchError as exc:
            return 400, "Not this login", exc.message + " Start the login from your notebook."
        except ZapierError as exc:
            attempt = self.attempt
            if attempt is not None and not attempt.open:
                self._finish(exc)
            return 400, "Login failed", exc.message
        self._finish(info)
        who = f" as {info.email}" if info.email else ""
        return 200, "Logged in", f"Logged in to Zapier AI Actions{who}. Go back to your notebook."

    def _finish(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self.done.set()
        threading.Thread(target=self.close, daemon=True).start()
        if self.on_done is not None:
            try:
                self.on_done(outcome)
            except Exception as exc:
                logger.warning("a login listener callback failed (%s)", type(exc).__name__)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], listener: LoopbackListener) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.listener = listener
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        if self.listener._closed.is_set():
            self.shutdown_request(request)
            return
        with self._open_lock:
            self._open.add(request)
        # The whole exchange has a deadline: a client that trickles a byte at a time is cut.
        timer = threading.Timer(self.listener.connection_seconds, _cut, (request,))
        timer.daemon = True
        timer.start()
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def answering(self, request: socket.socket) -> None:
        """This connection sent its request: it is answered, never dropped, from now on."""
        with self._open_lock:
            self._open.discard(request)

    def drop_connections(self) -> None:
        """Cut the connections still sending their request."""
        with self._open_lock:
            connections, self._open = list(self._open), set()
        for connection in connections:
            _cut(connection)


def _cut(connection: socket.socket) -> None:
    with contextlib.suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 5
    server_version = "zapier-nb"
    sys_version = ""

    def do_GET(self) -> None:
        self.server.answering(self.request)
        status, title, message = self.server.listener.answer(self)
        body = _page(title, message).encode()
        self.send_response(status)
        for name, value in _PAGE_HEADERS.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        self.send_error(405)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request line holds the code."""


def _page(title: str, message: str) -> str:
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title></head><body>"
        f"<h1>{html.escape(title)}</h1><p id=message>{html.escape(message)}</p></body></html>"
    )


# -- one listener per session ----------------------------------------------------------

_listeners: dict[int, LoopbackListener] = {}
_lock = threading.Lock()


def listener_for(
    target: LoginTarget,
    registered_uri: str,
    on_done: Callable[[Outcome], None] | None = None,
) -> LoopbackListener:
    """The session's listener for its login in progress, or a new one with a new attempt.

    The module's lock guards the table only: starting a listener begins a login, whose
    subscribers may come back here.
    """
    with _lock:
        current = _listeners.get(id(target))
        if (
            current is not None
            and current.target is target
            and current.listening
            and current.registered_uri == registered_uri
            and current.attempt is not None
            and current.attempt.open
            and target.login_attempt is current.attempt
        ):
            if on_done is not None:
                current.on_done = on_done
            return current
        _listeners.pop(id(target), None)
    if current is not None:
        current.close()
    listener = LoopbackListener(target, registered_uri, on_done=on_done)
    try:
        listener.start()
    except BaseException:
        listener.close()
        raise
    with _lock:
        replaced = _listeners.get(id(target))
        _listeners[id(target)] = listener
    if replaced is not None and replaced is not listener:
        replaced.close()
    return listener


def close_listener(target: LoginTarget) -> None:
    with _lock:
        listener = _listeners.pop(id(target), None)
    if listener is not None:
        listener.close()
