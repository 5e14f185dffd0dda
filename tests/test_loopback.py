"""The kernel's loopback listener, over real sockets, against the sandbox."""

from __future__ import annotations

import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from zapier_nb import ConfigurationError, Session
from zapier_nb._loopback import LoopbackListener, listener_for
from zapier_nb.sandbox import Sandbox

LOOPBACK = "http://127.0.0.1/zapier-nb/callback"

pytestmark = pytest.mark.usefixtures("secret_audit")


@pytest.fixture
def session(sandbox: Sandbox) -> Iterator[Session]:
    sandbox.add_redirect_uri(LOOPBACK)
    with Session(
        client_id=sandbox.client_id, redirect_uri=LOOPBACK, base_url=sandbox.base_url, timeout=5
    ) as s:
        yield s


def get(url: str, *, host: str | None = None) -> tuple[int, str]:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc, timeout=10)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Host": host} if host else {}
    try:
        connection.request("GET", target, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def closed(port: int) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return True
        time.sleep(0.05)
    return False


def test_the_right_answer_logs_in_once_and_the_port_closes(
    session: Session, sandbox: Sandbox
) -> None:
    listener = listener_for(session, LOOPBACK)
    consent = session.pending_login_url
    assert consent is not None
    assert (
        f"redirect_uri=http%3A%2F%2F127.0.0.1%3A{listener.port}%2Fzapier-nb%2Fcallback" in consent
    )
    redirected = sandbox.approve(consent)
    assert redirected.startswith(f"http://127.0.0.1:{listener.port}/zapier-nb/callback?code=")
    code = redirected.split("code=")[1].split("&")[0]

    status, page = get(redirected)
    assert status == 200
    assert "Logged in to Zapier AI Actions as ada@example.com" in page
    assert code not in page
    assert listener.done.is_set()
    assert session.auth_method == "oauth"
    assert session.token_info is not None
    assert session.token_info.email == "ada@example.com"
    assert sandbox.count("token:authorization_code") == 1
    assert closed(listener.port), "the listener should stop listening after the answer"


def test_wrong_host_path_and_state_are_refused_without_a_token_request(
    session: Session, sandbox: Sandbox
) -> None:
    listener = listener_for(session, LOOPBACK)
    assert session.pending_login_url is not None
    redirected = sandbox.approve(session.pending_login_url)
    query = urlsplit(redirected).query
    base = f"http://127.0.0.1:{listener.port}"

    status, page = get(redirected, host=f"evil.example:{listener.port}")
    assert (status, "Wrong address") == (400, page.split("<h1>")[1].split("<")[0])
    status, page = get(redirected, host=f"localhost:{listener.port}")
    assert status == 400
    status, _ = get(f"{base}/zapier-nb/callback/?{query}")
    assert status == 404
    status, _ = get(f"{base}/other?{query}")
    assert status == 404
    stale = redirected.replace("state=", "state=stale")
    status, page = get(stale)
    assert status == 400
    assert "different login attempt" in page
    status, page = get(f"{base}/zapier-nb/callback?code=x")
    assert status == 400
    assert sandbox.count("token") == 0
    assert listener.listening
    assert session.auth_method is None

    status, page = get(redirected)
    assert status == 200
    assert sandbox.count("token:authorization_code") == 1
    status_again = _status_or_refused(redirected)
    assert status_again == "refused", "a second answer after success must find no listener"
    assert sandbox.count("token") == 1


def _status_or_refused(url: str) -> str:
    assert closed(urlsplit(url).port or 0)
    try:
        return str(get(url)[0])
    except OSError:
        return "refused"


def test_a_denial_is_shown_without_a_token_request_and_closes(
    session: Session, sandbox: Sandbox
) -> None:
    listener = listener_for(session, LOOPBACK)
    assert session.pending_login_url is not None
    denied = sandbox.approve(session.pending_login_url, deny=True)
    status, page = get(denied)
    assert status == 400
    assert "Access was declined" in page
    assert sandbox.count("token") == 0
    assert closed(listener.port)
    assert session.auth_method is None


def test_a_new_login_closes_the_old_listener(session: Session, sandbox: Sandbox) -> None:
    first = listener_for(session, LOOPBACK)
    assert listener_for(session, LOOPBACK) is first, "the same login keeps its listener"
    session.begin_login()
    assert closed(first.port)
    second = listener_for(session, LOOPBACK)
    assert second is not first
    assert second.port != first.port or closed(first.port)
    second.close()
    assert closed(second.port)


def test_the_listener_gives_up_after_its_time(session: Session) -> None:
    listener = LoopbackListener(session, LOOPBACK, seconds=0.5)
    listener.start()
    assert closed(listener.port)
    assert not listener.listening


def test_a_registered_port_is_used_and_a_busy_one_says_so(
    session: Session, sandbox: Sandbox
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        fixed = f"http://127.0.0.1:{port}/zapier-nb/callback"
        with pytest.raises(ConfigurationError, match=f"Cannot listen on 127.0.0.1:{port}"):
            LoopbackListener(session, fixed)
    sandbox.add_redirect_uri(fixed)
    listener = listener_for(session, fixed)
    assert listener.port == port
    assert session.login_attempt is not None
    assert session.login_attempt.redirect_uri == fixed
    assert session.pending_login_url is not None
    status, _ = get(sandbox.approve(session.pending_login_url))
    assert status == 200
    assert session.auth_method == "oauth"


def test_only_loopback_callback_uris_are_accepted(session: Session) -> None:
    for uri in (
        "http://localhost/zapier-nb/callback",
        "https://127.0.0.1/zapier-nb/callback",
        "http://127.0.0.1/other",
        "http://10.0.0.1/zapier-nb/callback",
    ):
        with pytest.raises(ConfigurationError, match="not a loopback redirect URI"):
            LoopbackListener(session, uri)


def test_a_login_sent_to_a_listener_port_leaves_the_settings_as_they_are(
    session: Session,
) -> None:
    configured = session.redirect_uri
    first = session.begin_login()
    changes: list[str | None] = []
    unsubscribe = session.subscribe(lambda: changes.append(session.pending_login_url))
    second = session.begin_login(redirect_uri="http://127.0.0.1:40123/zapier-nb/callback")
    unsubscribe()
    assert "40123" in second
    assert changes == [second], "one notification, naming the new attempt"
    assert session.redirect_uri == configured
    assert session.login_attempt is not None
    assert session.login_attempt.redirect_uri == "http://127.0.0.1:40123/zapier-nb/callback"
    assert first != session.pending_login_url
    with pytest.raises(ConfigurationError, match="not an http"):
        session.begin_login(redirect_uri="ftp://example.org/cb")
    assert session.pending_login_url == second


def _trickle(port: int) -> socket.socket:
    """A local client that opens a connection and sends the start of a request, slowly."""
    slow = socket.create_connection(("127.0.0.1", port), timeout=10)
    slow.sendall(b"GET /zapier-nb/callback?code=")
    return slow


def test_a_slow_connection_does_not_hold_up_the_real_redirect(
    session: Session, sandbox: Sandbox
) -> None:
    listener = listener_for(session, LOOPBACK)
    slow = _trickle(listener.port)
    done = threading.Event()

    def keep_trickling() -> None:
        with contextlib.suppress(OSError):
            while not done.wait(0.3):
                slow.sendall(b"x")

    trickler = threading.Thread(target=keep_trickling, daemon=True)
    trickler.start()
    try:
        assert session.pending_login_url is not None
        redirected = urlsplit(sandbox.approve(session.pending_login_url))
        connection = http.client.HTTPConnection(redirected.netloc, timeout=4)
        connection.request("GET", f"{redirected.path}?{redirected.query}")
        assert connection.getresponse().status == 200
        connection.close()
        assert trickler.is_alive(), "answered beside the slow connection, not after it"
        assert session.auth_method == "oauth"
    finally:
        done.set()
        slow.close()


def test_a_connection_that_never_finishes_its_request_is_cut_at_its_deadline(
    session: Session,
) -> None:
    listener = LoopbackListener(session, LOOPBACK, connection_seconds=0.5)
    listener.start()
    slow = _trickle(listener.port)
    try:
        slow.settimeout(5)
        started = time.monotonic()
        while time.monotonic() - started < 3:
            slow.sendall(b"x")  # one byte at a time keeps a per-read timeout from firing
            time.sleep(0.1)
        pytest.fail("the connection was still open after six times its deadline")
    except OSError:
        pass  # cut: the server shut the connection down
    finally:
        slow.close()
        listener.close()


def test_close_closes_the_listener_while_a_connection_is_open(session: Session) -> None:
    listener = listener_for(session, LOOPBACK)
    slow = _trickle(listener.port)
    try:
        listener.close()
        # Closed by the time close() returns, not once the open connection has finished.
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", listener.port), timeout=1).close()
        slow.settimeout(5)
        try:
            dropped = slow.recv(100) == b""
        except ConnectionResetError:
            dropped = True
        assert dropped, "the open connection is dropped too"
    finally:
        slow.close()
