"""Registered redirect URIs: several per client, exact matching, RFC 8252 loopback ports,
`state` echoed, consent remembered for a returning user, and the command line's options."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import httpx2
import pytest
from wire import authorize_url, exchange, make_pkce, query_of

from zapier_nb.sandbox import Sandbox

HUB_URI = "https://hub.example.org/hub/user-redirect/zapier-nb/callback"
LOOPBACK = "http://127.0.0.1/zapier-nb/callback"
LOOPBACK_V6 = "http://[::1]/zapier-nb/callback"
FIXED_PORT = "http://127.0.0.1:8020/zapier-nb/callback"


@pytest.fixture(scope="module")
def registered() -> Iterator[Sandbox]:
    """A sandbox of its own: URIs registered here stay registered."""
    with Sandbox(redirect_uris=[HUB_URI, LOOPBACK, LOOPBACK_V6]) as server:
        server.add_redirect_uri(FIXED_PORT)
        yield server


def _authorize(sb: Sandbox, redirect_uri: str) -> httpx2.Response:
    _, challenge = make_pkce()
    url = authorize_url(sb, challenge, redirect_uri=redirect_uri, state="st-xyz")
    return httpx2.get(url, timeout=10)


def test_every_registered_uri_is_listed_and_the_callback_page_stays(registered: Sandbox) -> None:
    assert registered.redirect_uris == [
        HUB_URI,
        LOOPBACK,
        LOOPBACK_V6,
        FIXED_PORT,
        f"{registered.base_url}/sandbox/callback/",
    ]


@pytest.mark.parametrize(
    "uri",
    [
        HUB_URI,
        FIXED_PORT,
        "http://127.0.0.1:54321/zapier-nb/callback",  # any port: RFC 8252 section 7.3
        "http://127.0.0.1:1/zapier-nb/callback",
        "http://[::1]:40000/zapier-nb/callback",
    ],
)
def test_registered_and_loopback_uris_reach_the_consent_page(registered: Sandbox, uri: str) -> None:
    page = _authorize(registered, uri)
    assert page.status_code == 200, page.text
    assert "Authorize Sandbox notebook app" in page.text


@pytest.mark.parametrize(
    "uri",
    [
        HUB_URI + "/",  # exact: no trailing slash added
        HUB_URI.replace("https:", "http:"),
        HUB_URI + "?next=x",
        "https://hub.example.org.evil.test/hub/user-redirect/zapier-nb/callback",
        "http://localhost:54321/zapier-nb/callback",  # no port rule for localhost
        "http://127.0.0.1:54321/zapier-nb/callback/",  # the path stays exact
        "http://127.0.0.1:54321/zapier-nb/other",
        "http://127.0.0.2:54321/zapier-nb/callback",
        "https://127.0.0.1:54321/zapier-nb/callback",
        "http://user@127.0.0.1:54321/zapier-nb/callback",
    ],
)
def test_anything_else_is_refused_without_a_redirect(registered: Sandbox, uri: str) -> None:
    page = _authorize(registered, uri)
    assert page.status_code == 400
    assert "location" not in page.headers
    assert "not registered" in page.text


def test_state_comes_back_and_the_code_needs_the_same_loopback_uri(registered: Sandbox) -> None:
    verifier, challenge = make_pkce()
    uri = "http://127.0.0.1:50505/zapier-nb/callback"
    redirected = registered.approve(
        authorize_url(registered, challenge, redirect_uri=uri, state="echo-me")
    )
    assert redirected.startswith(uri + "?")
    answer = query_of(redirected)
    assert answer["state"] == "echo-me"
    with httpx2.Client(base_url=registered.base_url, timeout=10) as http:
        other_port = exchange(
            http, registered, answer["code"], verifier, {"redirect_uri": LOOPBACK}
        )
        assert other_port.json()["error"] == "invalid_grant"
    # A refused exchange does not spend the code: the right redirect_uri still works.
    registered.reset()
    verifier, challenge = make_pkce()
    redirected = registered.approve(authorize_url(registered, challenge, redirect_uri=uri))
    with httpx2.Client(base_url=registered.base_url, timeout=10) as http:
        code = query_of(redirected)["code"]
        ok = exchange(http, registered, code, verifier, {"redirect_uri": uri})
        assert ok.status_code == 200, ok.text


def test_a_returning_user_skips_consent_only_when_asked(registered: Sandbox) -> None:
    registered.reset()
    _, challenge = make_pkce()
    url = authorize_url(registered, challenge, redirect_uri=HUB_URI, state="s1")
    assert httpx2.get(url, timeout=10).status_code == 200  # first visit: the consent page
    registered.approve(url)
    assert httpx2.get(url, timeout=10).status_code == 200  # remembered, but the option is off

    registered.skip_consent_for_returning_users = True
    again = httpx2.get(url, timeout=10)
    assert again.status_code == 302
    location = again.headers["location"]
    assert location.startswith(HUB_URI + "?")
    assert query_of(location)["state"] == "s1"
    assert query_of(location)["code"].startswith("sbx_code_")
    # Another redirect URI is another request: its consent is asked for.
    other = authorize_url(registered, challenge, redirect_uri=FIXED_PORT)
    assert httpx2.get(other, timeout=10).status_code == 200

    registered.reset()
    assert registered.skip_consent_for_returning_users is False
    assert httpx2.get(url, timeout=10).status_code == 200


def test_a_registered_port_is_exact() -> None:
    with Sandbox(redirect_uris=[FIXED_PORT]) as server:
        assert _authorize(server, FIXED_PORT).status_code == 200
        assert _authorize(server, FIXED_PORT.replace("8020", "8021")).status_code == 400


def test_adding_a_bad_uri_or_to_an_unknown_client_is_refused(registered: Sandbox) -> None:
    with pytest.raises(ValueError, match="absolute http"):
        registered.add_redirect_uri("/zapier-nb/callback")
    with pytest.raises(ValueError, match="client_id"):
        registered.add_redirect_uri(HUB_URI, client_id="nobody")


def test_the_command_line_registers_uris_and_skips_consent(tmp_path: object) -> None:
    command = [
        sys.executable,
        "-m",
        "zapier_nb.sandbox",
        "--port",
        "0",
        "--redirect-uri",
        HUB_URI,
        "--redirect-uri",
        LOOPBACK,
        "--skip-consent-for-returning-users",
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Ctrl+C" in line:
                break
        output = "".join(lines)
        assert f"also allowed  {HUB_URI}" in output
        assert f"also allowed  {LOOPBACK}" in output
        base_url = output.split("running at ")[1].split()[0]
        _, challenge = make_pkce()
        query = authorize_url(_ServerAt(base_url), challenge, redirect_uri=HUB_URI)
        first = httpx2.get(query, timeout=10)
        assert first.status_code == 200
        transaction = first.text.split('name="transaction" value="')[1].split('"')[0]
        approved = httpx2.post(
            f"{base_url}/oauth/authorize/",
            data={"transaction": transaction, "decision": "approve"},
            timeout=10,
        )
        assert approved.status_code == 302
        assert httpx2.get(query, timeout=10).status_code == 302
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_bad_uri_on_the_command_line_is_a_usage_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "zapier_nb.sandbox", "--port", "0", "--redirect-uri", "nope"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "a redirect URI is an absolute http(s) URL" in result.stderr
    assert "Traceback" not in result.stderr


class _ServerAt:
    """Stands in for a Sandbox in authorize_url()."""

    client_id = "zapier-nb-sandbox"

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.redirect_uri = f"{base_url}/sandbox/callback/"
