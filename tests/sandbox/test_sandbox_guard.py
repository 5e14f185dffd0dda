"""The sandbox defends itself as a local server must: its own Host only, small bodies, a loud
warning when it listens beyond this machine, and no redirect anywhere but its own pages."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator

import httpx2
import pytest
from wire import authorize_url, make_pkce, read_banner

from zapier_nb.sandbox import Sandbox
from zapier_nb.sandbox._guard import MAX_BODY_BYTES


def host_of(sb: Sandbox) -> str:
    return sb.base_url.removeprefix("http://")


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost"])
def test_the_loopback_names_for_its_port_are_answered(
    sb: Sandbox, http: httpx2.Client, name: str
) -> None:
    answer = http.get("/", headers={"Host": f"{name}:{sb.port}"})
    assert answer.status_code == 200


@pytest.mark.parametrize(
    "host", ["attacker.example:{port}", "attacker.example", "127.0.0.1:1", "localhost.evil:{port}"]
)
def test_any_other_host_is_refused_before_any_route(
    sb: Sandbox, http: httpx2.Client, host: str
) -> None:
    """A name an attacker points at 127.0.0.1 (DNS rebinding) reaches nothing."""
    _, challenge = make_pkce()
    for path in ("/", authorize_url(sb, challenge), "/api/v2/auth/check/"):
        answer = http.get(path, headers={"Host": host.format(port=sb.port)})
        assert answer.status_code == 400
        assert "answers only to the Host" in answer.json()["detail"]
    assert sb.count("authorize") == 0
    assert sb.count("check") == 0


def test_a_sign_up_link_never_leads_off_the_sandbox(sb: Sandbox, http: httpx2.Client) -> None:
    _, challenge = make_pkce()
    foreign = authorize_url(sb, challenge).replace(host_of(sb), "attacker.example")
    params = {
        "redirect_uri": foreign,
        "sign_up_first_name": "Grace",
        "sign_up_last_name": "Hopper",
        "sign_up_email": "grace@example.com",
    }
    answer = http.get("/api/v2/auth/login-link/", params=params)
    assert answer.status_code == 400
    assert "of this server" in answer.json()["detail"]
    spoofed = http.get(
        "/api/v2/auth/login-link/", params=params, headers={"Host": "attacker.example"}
    )
    assert spoofed.status_code == 400
    assert sb.count("login_link") == 1


def test_hosts_it_was_told_to_trust_are_answered() -> None:
    with Sandbox(allowed_hosts=["notebook.example", "proxy.example:443"]) as sb:
        for host in (f"notebook.example:{sb.port}", "proxy.example:443"):
            answer = httpx2.get(f"{sb.base_url}/", headers={"Host": host})
            assert answer.status_code == 200
        assert sorted(sb.public_hosts) == [f"notebook.example:{sb.port}", "proxy.example:443"]


def test_a_body_announced_over_the_cap_is_refused_unread(sb: Sandbox) -> None:
    with socket.create_connection(("127.0.0.1", sb.port), timeout=5) as raw:
        raw.sendall(
            b"POST /oauth/token/ HTTP/1.1\r\n"
            + f"Host: {host_of(sb)}\r\n".encode()
            + b"Content-Type: application/x-www-form-urlencoded\r\n"
            + b"Content-Length: 300000000\r\n\r\ngrant_type=refresh_token"
        )
        status_line = raw.recv(4096).split(b"\r\n")[0]
    assert status_line == b"HTTP/1.1 413 Request Entity Too Large"
    assert sb.count("token") == 0


def test_a_streamed_body_over_the_cap_is_refused(sb: Sandbox, http: httpx2.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(4):
            yield b"x" * (MAX_BODY_BYTES // 2)

    answer = http.post(
        "/oauth/token/",
        content=chunks(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 413
    assert sb.count("token") == 0


def test_a_body_under_the_cap_still_reaches_the_route(sb: Sandbox, http: httpx2.Client) -> None:
    form = {"grant_type": "refresh_token", "client_id": sb.client_id, "refresh_token": "x" * 1000}
    answer = http.post("/oauth/token/", data=form)
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def test_listening_on_every_interface_prints_a_warning_and_the_real_address() -> None:
    every_interface = "0.0.0.0"  # noqa: S104 - the case under test
    command = [sys.executable, "-m", "zapier_nb.sandbox", "--host", every_interface, "--port", "0"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        banner = read_banner(process)
    finally:
        process.terminate()
        process.wait(10)
    assert "WARNING: listening on 0.0.0.0" in banner
    assert "mint" in banner
    assert socket.gethostname() in banner
