"""The kernel's loopback listener: catches the redirect when the browser runs on this machine.

It listens on `127.0.0.1` only, answers one path, checks the `Host` header (a page
elsewhere cannot reach it through DNS rebinding), and accepts one answer whose `state`
is the pending login's; then it closes. It also closes when a new login begins, on
`close()`, and after ten minutes. Its pages never show the code.
"""

from __future__ import annotations

import html
import logging
import socket
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ._callback import CallbackAnswer, complete_from_callback, pending_state
from ._errors import ConfigurationError, StateMismatchError, ZapierError

if TYPE_CHECKING:
    from ._models import TokenInfo
    from ._session import Session

__all__ = [
    "CALLBACK_PATH",
    "LISTEN_SECONDS",
    "LoopbackListener",
    "close_listener",
    "is_loopback_redirect",
    "listener_for",
    "registered_redirect",
]

logger = logging.getLogger("zapier_nb")

CALLBACK_PATH = "/zapier-nb/callback"
LISTEN_SECONDS = 600.0
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
        and parts.path == CALLBACK_PATH
        and not parts.query
    )


class LoopbackListener:
    """Listens for one login answer on the redirect URI's loopback address."""

    def __init__(
        self,
        session: Session,
        registered_uri: str,
        *,
        on_done: Callable[[Outcome], None] | None = None,
        seconds: float = LISTEN_SECONDS,
    ) -> None:
        if not is_loopback_redirect(registered_uri):
            raise ConfigurationError(
                f"{registered_uri!r} is not a loopback redirect URI; use "
                f"http://127.0.0.1{CALLBACK_PATH} (any port) or http://127.0.0.1:PORT{CALLBACK_PATH}."
            )
        parts = urlsplit(registered_uri)
        host = parts.hostname or "127.0.0.1"
        self.session = session
        self.registered_uri = registered_uri
        self.on_done = on_done
        self.done = threading.Event()
        self.outcome: Outcome | None = None
        self._closed = threading.Event()
        self._deadline = time.monotonic() + seconds
        self._state: str | None = None
        try:
            self._server = _Server((host, parts.port or 0), self)
        except OSError as exc:
            raise ConfigurationError(
                f"Cannot listen on {host}:{parts.port} for the login answer ({exc.strerror}). "
                "Close the program using that port, or register a port-less "
                f"http://127.0.0.1{CALLBACK_PATH} so any free port can be used."
            ) from None
        self.port: int = self._server.server_address[1]
        self.host_header = f"{_HOSTS[host]}:{self.port}"
        self.redirect_uri = urlunsplit(("http", self.host_header, CALLBACK_PATH, "", ""))
        self._thread = threading.Thread(
            target=self._serve, name=f"zapier-nb-loopback:{self.port}", daemon=True
        )
        self._unsubscribe: Callable[[], None] | None = None

    def start(self) -> str:
        """Begin the login on this listener's address and listen; returns the consent URL."""
        if self.session.redirect_uri != self.redirect_uri:
            self.session.use_redirect_uri(self.redirect_uri)
        url = self.session.begin_login()
        self._state = pending_state(self.session)
        self._unsubscribe = self.session.subscribe(self._on_session_change)
        self._thread.start()
        return url

    @property
    def listening(self) -> bool:
        return not self._closed.is_set()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
        if not self._thread.is_alive():
            self._server.server_close()

    def wait(self, timeout: float | None = None) -> Outcome | None:
        self.done.wait(timeout)
        return self.outcome

    # -- inside the listener's thread --------------------------------------------------

    def _on_session_change(self) -> None:
        if self._state is not None and pending_state(self.session) != self._state:
            # A new login was begun, or this one ended elsewhere (pasted, logged out).
            self._closed.set()

    def _serve(self) -> None:
        server = self._server
        try:
            while not self._closed.is_set() and time.monotonic() < self._deadline:
                server.handle_request()
        finally:
            self._closed.set()
            server.server_close()
            if self._unsubscribe is not None:
                self._unsubscribe()

    def answer(self, request: BaseHTTPRequestHandler) -> tuple[int, str, str]:
        """Judge one request; returns (status, title, message) for the page."""
        if request.headers.get("Host", "") != self.host_header:
            return 400, "Wrong address", "This listener answers only its own loopback address."
        target = urlsplit(request.path)
        if target.path != CALLBACK_PATH:
            return 404, "Not found", "This listener answers only the login callback."
        query = {k: v[0] for k, v in parse_qs(target.query).items()}
        state = query.get("state", "")
        answer = CallbackAnswer(
            state=state,
            code=query.get("code"),
            error=query.get("error"),
            error_description=query.get("error_description"),
        )
        try:
            if not state or self._state is None or state != self._state:
                raise StateMismatchError(
                    "This answer is not for the login in progress (its state does not match)."
                )
            info = complete_from_callback(self.session, answer)
        except StateMismatchError as exc:
            return 400, "Not this login", exc.message + " Start the login from your notebook."
        except ZapierError as exc:
            self._finish(exc)
            return 400, "Login failed", exc.message
        self._finish(info)
        who = f" as {info.email}" if info.email else ""
        return 200, "Logged in", f"Logged in to Zapier AI Actions{who}. Go back to your notebook."

    def _finish(self, outcome: Outcome) -> None:
        self.outcome = outcome
        self._closed.set()
        self.done.set()
        if self.on_done is not None:
            try:
                self.on_done(outcome)
            except Exception as exc:
                logger.warning("a login listener callback failed (%s)", type(exc).__name__)


class _Server(HTTPServer):
    timeout = 0.25

    def __init__(self, address: tuple[str, int], listener: LoopbackListener) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.listener = listener
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 5
    server_version = "zapier-nb"
    sys_version = ""

    def do_GET(self) -> None:
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


def registered_redirect(session: Session) -> str | None:
    """The redirect URI as configured (a port-less loopback URI stays port-less), while
    `session.redirect_uri` holds the port of the listener in use."""
    return session.registered_redirect_uri or session.redirect_uri


def listener_for(
    session: Session, registered_uri: str, on_done: Callable[[Outcome], None] | None = None
) -> LoopbackListener:
    """The session's running listener for its login in progress, or a new one (begun).

    The module's lock guards the table only: starting a listener begins a login, whose
    subscribers may come back here.
    """
    with _lock:
        current = _listeners.get(id(session))
        if (
            current is not None
            and current.session is session
            and current.listening
            and current.registered_uri == registered_uri
            and pending_state(session) == current._state
        ):
            if on_done is not None:
                current.on_done = on_done
            return current
        _listeners.pop(id(session), None)
    if current is not None:
        current.close()
    listener = LoopbackListener(session, registered_uri, on_done=on_done)
    try:
        listener.start()
    except BaseException:
        listener.close()
        raise
    with _lock:
        replaced = _listeners.get(id(session))
        _listeners[id(session)] = listener
    if replaced is not None and replaced is not listener:
        replaced.close()
    return listener


def close_listener(session: Session) -> None:
    with _lock:
        listener = _listeners.pop(id(session), None)
    if listener is not None:
        listener.close()
