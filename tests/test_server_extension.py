"""The Jupyter server extension in a real Jupyter Server: found and enabled on install, its
pages behind the server's login, their headers, the log, and the proxy to a local sandbox."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from lab_server import JupyterLab, start_jupyterlab

from zapier_nb import Session
from zapier_nb._server_extension import sandbox_to_front
from zapier_nb.sandbox import Sandbox


@pytest.fixture(scope="module")
def server(
    zapier_sandbox_server: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterLab]:
    base = tmp_path_factory.mktemp("server")
    env = {"ZAPIER_BASE_URL": zapier_sandbox_server.base_url}
    started = start_jupyterlab(base / "root", base / "state", env, "server", ["--log-level=DEBUG"])
    yield started
    started.stop()


@pytest.fixture
def browser(server: JupyterLab) -> Iterator[httpx2.Client]:
    """A client holding the server's login cookie, as a browser that opened it with ?token=."""
    with httpx2.Client(base_url=server.url, timeout=15) as client:
        assert client.get(f"zapier-nb/ping?token={server.token}").status_code == 200
        assert client.cookies, "the token in the URL should leave a login cookie"
        yield client


def test_the_extension_is_enabled_by_the_installed_config_file() -> None:
    shipped = Path(sys.prefix) / "etc/jupyter/jupyter_server_config.d/zapier_nb.json"
    assert json.loads(shipped.read_text()) == {
        "ServerApp": {"jpserver_extensions": {"zapier_nb": True}}
    }
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter", "server", "extension", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    output = re.sub(r"\x1b\[[0-9;]*m", "", listed.stdout + listed.stderr)
    assert re.search(r"zapier_nb\s+enabled", output), output
    assert re.search(r"zapier_nb 0\.1\.0 OK", output), output


def test_ping_tells_the_widget_what_the_server_offers(
    browser: httpx2.Client, zapier_sandbox_server: Sandbox
) -> None:
    answer = browser.get("zapier-nb/ping")
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    assert answer.json() == {
        "zapier_nb": "0.1.0",
        "callback": "/zapier-nb/callback",
        "sandbox": zapier_sandbox_server.base_url,
        "sandbox_proxy": "/zapier-nb/sandbox",
    }


@pytest.mark.parametrize(
    "path",
    [
        "zapier-nb/callback?code=sbx_code_anon&state=s",
        "zapier-nb/ping",
        "zapier-nb/sandbox/oauth/authorize/",
        "zapier-nb/sandbox/sandbox/callback/?code=sbx_code_anon&state=s",
    ],
)
def test_every_route_needs_the_servers_login(server: JupyterLab, path: str) -> None:
    answer = httpx2.get(server.url + path, timeout=15)
    assert answer.status_code in (302, 403)
    if answer.status_code == 302:
        assert urlsplit(answer.headers["location"]).path == "/login"
    assert "sbx_code_anon" not in answer.text


def test_the_callback_page_headers_and_its_one_hashed_script(browser: httpx2.Client) -> None:
    answer = browser.get("zapier-nb/callback?code=sbx_code_page&state=st")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    csp = answer.headers["content-security-policy"]
    policy = dict(part.strip().split(" ", 1) for part in csp.split(";"))
    assert policy["default-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in csp
    scripts = re.findall(r"<script>(.*?)</script>", answer.text, re.S)
    assert len(scripts) == 1
    digest = base64.b64encode(hashlib.sha256(scripts[0].encode()).digest()).decode()
    assert policy["script-src"] == f"'sha256-{digest}'"
    assert "<script src" not in answer.text
    # The page is static: the answer is read by its script, never written into it.
    assert "sbx_code_page" not in answer.text
    assert "postMessage(message, window.location.origin)" in scripts[0]
    assert '"*"' not in scripts[0]


def test_the_servers_log_shows_no_code_or_state(server: JupyterLab, browser: httpx2.Client) -> None:
    code, state = "sbx_code_logged_" + "q" * 20, "state-logged-" + "w" * 20
    assert browser.get(f"zapier-nb/callback?code={code}&state={state}").status_code == 200
    assert httpx2.get(f"{server.url}zapier-nb/callback?code={code}&state={state}").status_code
    log = server.log.read_text()
    assert "/zapier-nb/callback" in log
    assert code not in log
    assert state not in log


def test_the_sandbox_consent_runs_through_the_server_and_comes_back_to_the_callback_page(
    browser: httpx2.Client, zapier_sandbox_server: Sandbox
) -> None:
    sandbox = zapier_sandbox_server
    sandbox.reset()
    with Session(
        client_id=sandbox.client_id, redirect_uri=sandbox.redirect_uri, base_url=sandbox.base_url
    ) as session:
        direct = session.begin_login()
    state = parse_qs(urlsplit(direct).query)["state"][0]
    proxied = "zapier-nb/sandbox" + direct.removeprefix(sandbox.base_url)
    page = browser.get(proxied)
    assert page.status_code == 200
    assert "Authorize Sandbox notebook app" in page.text
    xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
    assert xsrf, "the proxied form should carry the server's _xsrf field"
    transaction = re.search(r'name="transaction" value="([^"]+)"', page.text)
    assert transaction
    form = {"transaction": transaction.group(1), "decision": "approve"}

    refused = browser.post("zapier-nb/sandbox/oauth/authorize/", data=form)
    assert refused.status_code == 403, "a form without the server's _xsrf must be refused"
    assert sandbox.count("consent") == 0

    approved = browser.post(
        "zapier-nb/sandbox/oauth/authorize/", data={**form, "_xsrf": xsrf.group(1)}
    )
    assert approved.status_code == 302
    location = approved.headers["location"]
    assert location.startswith("/zapier-nb/sandbox/sandbox/callback/?")
    answer = parse_qs(urlsplit(location).query)
    assert answer["state"] == [state]
    callback = browser.get(location)
    assert callback.status_code == 200
    assert "Handing the answer to your notebook" in callback.text
    assert callback.headers["content-security-policy"].startswith("default-src 'none'")
    assert sandbox.count("callback") == 0, "the server, not the sandbox, serves the callback"


def test_the_proxy_forwards_only_browser_pages(
    browser: httpx2.Client, zapier_sandbox_server: Sandbox
) -> None:
    zapier_sandbox_server.reset()
    for path in ("oauth/token/", "api/v2/auth/check/", "api/v2/auth/login-link/", "../etc"):
        assert browser.get(f"zapier-nb/sandbox/{path}").status_code == 404, path
    assert zapier_sandbox_server.count("check") == 0
    assert zapier_sandbox_server.count("token") == 0


def test_only_a_loopback_sandbox_is_fronted() -> None:
    assert sandbox_to_front({"ZAPIER_BASE_URL": "http://127.0.0.1:8765"}) == "http://127.0.0.1:8765"
    assert sandbox_to_front({"ZAPIER_BASE_URL": "http://localhost:9/"}) == "http://localhost:9"
    for env in (
        {},
        {"ZAPIER_BASE_URL": "https://actions.zapier.com"},
        {"ZAPIER_BASE_URL": "http://10.0.0.5:8765"},
        {"ZAPIER_BASE_URL": "http://127.0.0.1:8765/prefix"},
        {"ZAPIER_BASE_URL": "http://127.0.0.1:8765", "ZAPIER_NB_SANDBOX_PROXY": "0"},
    ):
        assert sandbox_to_front(env) is None, env


def test_sign_up_through_the_server_keeps_the_new_users_cookie_under_the_proxy_path(
    browser: httpx2.Client, zapier_sandbox_server: Sandbox
) -> None:
    sandbox = zapier_sandbox_server
    sandbox.reset()
    with Session(
        client_id=sandbox.client_id, redirect_uri=sandbox.redirect_uri, base_url=sandbox.base_url
    ) as session:
        link = session.login_link(first_name="Grace", last_name="Hopper", email="grace@example.org")
    page = browser.get("zapier-nb/sandbox" + link.removeprefix(sandbox.base_url))
    assert page.status_code == 200
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page.text))
    assert "_xsrf" in fields
    signed_up = browser.post("zapier-nb/sandbox/sandbox/sign-up/", data=fields)
    assert signed_up.status_code == 303
    assert signed_up.headers["location"].startswith("/zapier-nb/sandbox/oauth/authorize/?")
    cookie = signed_up.headers["set-cookie"]
    assert cookie.startswith("sandbox_user=")
    assert "Path=/zapier-nb/sandbox/" in cookie
    consent = browser.get(signed_up.headers["location"])
    assert "grace@example.org" in consent.text
