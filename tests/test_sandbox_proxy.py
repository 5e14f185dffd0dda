"""The sandbox proxy in a real Jupyter Server when the sandbox's port is not the sandbox:
nothing there, a program of another Unix user, or another user on `[::1]` beside it.

The server fronts `http://localhost:PORT`; each test puts on PORT what it needs. The
other user is a real second Unix user (see `other_user`), so the key file that proves the
sandbox is the server's user's is out of its reach, as on a shared machine.
"""

from __future__ import annotations

import html
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from hub_server import free_port
from lab_server import JupyterLab, start_jupyterlab
from other_user import OtherUser, made_other_user

from zapier_nb import Session
from zapier_nb._sandbox_proxy import _cookie_under, _with_xsrf
from zapier_nb.sandbox import Sandbox
from zapier_nb.sandbox._ownership import KeyRecord, key_path, write_key

IMPOSTOR = Path(__file__).with_name("impostor.py")
PREFIX = "/zapier-nb/sandbox"


@pytest.fixture(scope="module")
def port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def server(port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[JupyterLab]:
    base = tmp_path_factory.mktemp("proxy-server")
    env = {"ZAPIER_BASE_URL": f"http://localhost:{port}"}
    started = start_jupyterlab(base / "root", base / "state", env, "server", ["--log-level=DEBUG"])
    yield started
    started.stop()


@pytest.fixture
def browser(server: JupyterLab) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=server.url, timeout=40) as client:
        assert client.get(f"zapier-nb/ping?token={server.token}").status_code == 200
        yield client


@pytest.fixture
def sandbox(port: int) -> Iterator[Sandbox]:
    """The server user's own sandbox, on the fronted port, bound to 127.0.0.1 only."""
    with Sandbox("127.0.0.1", port) as started:
        yield started


class Impostor:
    def __init__(self, user: OtherUser, host: str, port: int) -> None:
        self.process = user.popen(
            [*user.python, str(IMPOSTOR), host, str(port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("LISTENING"), line

    def requests(self) -> list[str]:
        self.process.terminate()
        out, _ = self.process.communicate(timeout=10)
        return [line for line in out.splitlines() if line.startswith("REQUEST")]


@pytest.fixture(scope="module")
def mallory() -> Iterator[OtherUser]:
    """Another Unix user of the machine."""
    with made_other_user() as user:
        yield user


@pytest.fixture
def impostor(mallory: OtherUser) -> Iterator[list[Impostor]]:
    started: list[Impostor] = []
    yield started
    for one in started:
        if one.process.poll() is None:
            one.process.kill()
            one.process.wait(timeout=10)


def consent_path(sandbox_base: str, port: int) -> tuple[str, str]:
    """A consent URL as the widget opens it through the proxy, and its state."""
    with Session(
        client_id="zapier-nb-sandbox",
        redirect_uri=f"{sandbox_base}/sandbox/callback/",
        base_url=sandbox_base,
    ) as session:
        direct = session.begin_login()
    state = parse_qs(urlsplit(direct).query)["state"][0]
    return "zapier-nb/sandbox" + direct.removeprefix(sandbox_base), state


def test_another_users_program_on_the_port_is_refused_and_sees_only_a_challenge(
    browser: httpx2.Client,
    impostor: list[Impostor],
    mallory: OtherUser,
    port: int,
) -> None:
    key_path(port).unlink(missing_ok=True)
    impostor.append(Impostor(mallory, "127.0.0.1", port))
    path, state = consent_path(f"http://127.0.0.1:{port}", port)
    page = browser.get(path)
    assert page.status_code == 502
    assert "IMPOSTOR" not in page.text
    assert "_xsrf" not in page.text
    assert "Not a sandbox you started" in page.text
    assert "python -m zapier_nb.sandbox" in page.text
    # A key file of an earlier sandbox on this port, whose key the other user never saw.
    write_key(KeyRecord("127.0.0.1", port, secrets.token_bytes(32)))
    try:
        refused = browser.get(path)
        form = browser.post(path.split("?")[0], data={"decision": "approve"})
    finally:
        key_path(port).unlink(missing_ok=True)
    assert refused.status_code == 502
    assert "IMPOSTOR" not in refused.text
    assert "not the sandbox you started" in html.unescape(refused.text)
    assert form.status_code in (403, 502)
    seen = impostor[0].requests()
    assert seen, "the proxy should have challenged the program on the port"
    assert all(line.startswith("REQUEST GET /sandbox/proof/") for line in seen), seen
    assert not any(state in line for line in seen)


def test_localhost_means_the_address_the_sandbox_bound_not_another_users_beside_it(
    browser: httpx2.Client,
    impostor: list[Impostor],
    mallory: OtherUser,
    port: int,
) -> None:
    """The server fronts http://localhost:PORT; the sandbox bound [::1]:PORT, and another
    user took 127.0.0.1:PORT, which the name also stands for."""
    with Sandbox("::1", port) as sandbox:
        impostor.append(Impostor(mallory, "127.0.0.1", port))
        path, _ = consent_path(sandbox.base_url, port)
        page = browser.get(path)
        assert page.status_code == 200
        assert "Authorize Sandbox notebook app" in page.text
        assert sandbox.count("authorize") == 1
    assert impostor[0].requests() == []


def test_nothing_on_the_port_is_a_502_page_and_the_log_keeps_no_url(
    server: JupyterLab, browser: httpx2.Client, port: int
) -> None:
    # A sandbox that died without removing its key file.
    write_key(KeyRecord("127.0.0.1", port, secrets.token_bytes(32)))
    try:
        path, state = consent_path(f"http://127.0.0.1:{port}", port)
        page = browser.get(path)
    finally:
        key_path(port).unlink(missing_ok=True)
    assert page.status_code == 502
    assert "The sandbox does not answer" in page.text
    assert "Start the sandbox again" in page.text
    time.sleep(0.2)
    log = server.log.read_text()
    assert state not in log
    assert "Traceback" not in log


def test_proxied_pages_carry_a_strict_policy_and_links_stay_under_the_proxy(
    browser: httpx2.Client, sandbox: Sandbox, port: int
) -> None:
    path, _ = consent_path(sandbox.base_url, port)
    page = browser.get(path + "&token=jupyter-token-not-for-the-sandbox")
    assert page.status_code == 200
    policy = dict(
        part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";")
    )
    assert policy["default-src"] == "'none'"
    assert "unsafe-inline" not in policy["script-src"]
    assert policy["frame-ancestors"] == "'none'"
    assert "jupyter-token-not-for-the-sandbox" not in page.text, "Jupyter's token went on"

    switch = re.search(r'<a id="switch-user" href="([^"]+)">', page.text)
    assert switch
    link = html.unescape(switch.group(1))
    assert link.startswith(PREFIX + "/sandbox/switch-user/?next="), link
    chooser = browser.get(link.lstrip("/"))
    assert chooser.status_code == 200
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', chooser.text)
    assert xsrf, "the switch-user form posts under the proxy, so it gets the _xsrf field"
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', chooser.text))
    back = browser.post(link.split("?")[0].lstrip("/"), data={**fields, "user": "1001"})
    assert back.status_code == 303
    assert back.headers["location"].startswith(PREFIX + "/oauth/authorize/?")


def test_the_home_page_through_the_proxy_shows_the_key(
    browser: httpx2.Client, sandbox: Sandbox
) -> None:
    page = browser.get("zapier-nb/sandbox/")
    assert page.status_code == 200
    assert f'<code id="api-key">{sandbox.api_key}</code>' in page.text


def test_the_mcp_tokens_page_through_the_proxy_shows_the_token(
    browser: httpx2.Client, sandbox: Sandbox
) -> None:
    if not sandbox.mcp.served:
        pytest.skip("the sandbox serves MCP only with the mcp extra installed")
    home = browser.get("zapier-nb/sandbox/")
    assert 'href="sandbox/mcp/"' in home.text
    page = browser.get("zapier-nb/sandbox/sandbox/mcp/")
    assert page.status_code == 200
    assert sandbox.mcp.token in page.text


def test_xsrf_goes_only_into_forms_that_post_back_under_the_proxy() -> None:
    page = (
        '<form method="post" action="./">a</form>'
        '<form method="post">b</form>'
        f'<form method="post" action="{PREFIX}/oauth/authorize/">c</form>'
        '<form method="post" action="/api/contents/x">d</form>'
        '<form method="post" action="https://evil.example/">e</form>'
        "<form method='post' action='//evil.example/'>f</form>"
        '<form method="post" action="HTTP://evil.example/">g</form>'
    )
    out = _with_xsrf(page, PREFIX, "XSRF")
    kept = re.findall(r"<form[^>]*>(<input[^>]*XSRF[^>]*>)?(\w)</form>", out)
    assert [letter for field, letter in kept if field] == ["a", "b", "c"]
    assert [letter for field, letter in kept if not field] == ["d", "e", "f", "g"]


def test_a_cookie_from_the_sandbox_loses_its_domain_and_path() -> None:
    cookie = _cookie_under("sandbox_user=1; Domain=127.0.0.1; HttpOnly; path=/", PREFIX)
    assert "domain" not in cookie.lower()
    assert cookie == f"sandbox_user=1; HttpOnly; Path={PREFIX}/"


def test_the_ping_offers_the_proxy_only_for_a_sandbox_this_user_started(
    server: JupyterLab, browser: httpx2.Client, port: int
) -> None:
    """Without the key file (another user's sandbox, or none), the widget is told nothing is
    fronted, so its links go to the sandbox directly rather than to a page that is refused."""
    key_path(port).unlink(missing_ok=True)
    ping = browser.get(f"zapier-nb/ping?token={server.token}").json()
    assert ping["sandbox"] is None
    assert ping["sandbox_proxy"] is None
    with Sandbox("127.0.0.1", port):
        ping = browser.get(f"zapier-nb/ping?token={server.token}").json()
        assert ping["sandbox"] == f"http://localhost:{port}"
        assert ping["sandbox_proxy"] == "/zapier-nb/sandbox"
