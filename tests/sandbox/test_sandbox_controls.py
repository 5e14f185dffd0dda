"""What tests steer the sandbox with: counters, reset, options, faults, the CLI."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from wire import (
    SCOPE,
    assert_oauth_error,
    authorize_url,
    bearer,
    check,
    exchange,
    login,
    make_pkce,
    query_of,
    read_banner,
    refresh,
    tokens,
)

from zapier_nb.sandbox import Sandbox, SandboxClient, SandboxUser

# --- sandbox controls -------------------------------------------------------------------


def test_counters_count_every_request_and_reset_clears_them(
    sb: Sandbox, http: httpx2.Client
) -> None:
    tokens(http, sb)
    check(http)
    sb.fail_next("check")
    check(http)
    counts = sb.counts()
    assert counts["authorize"] == 1
    assert counts["consent"] == 1
    assert counts["token"] == 1
    assert counts["token:authorization_code"] == 1
    assert counts["token:refresh_token"] == 0
    assert counts["check"] == 2
    assert counts["login_link"] == 0
    sb.token_ttl = 5
    sb.rotate_refresh_tokens = False
    sb.fail_next("check", times=-1)
    sb.reset()
    assert set(sb.counts().values()) == {0}
    assert sb.token_ttl == 3600
    assert sb.rotate_refresh_tokens is True
    assert check(http, **{"x-api-key": sb.api_key}).status_code == 200


def test_reset_forgets_codes_and_tokens(sb: Sandbox, http: httpx2.Client) -> None:
    body = tokens(http, sb)
    code, verifier = login(sb)
    sb.reset()
    assert check(http, **bearer(body["access_token"])).status_code == 401
    assert_oauth_error(refresh(http, sb, body["refresh_token"]), "invalid_grant")
    assert_oauth_error(exchange(http, sb, code, verifier), "invalid_grant")


def test_issued_secrets_lists_keys_codes_tokens_and_verifiers(
    sb: Sandbox, http: httpx2.Client
) -> None:
    code, verifier = login(sb)
    body = exchange(http, sb, code, verifier).json()
    issued = sb.issued_secrets()
    for value in (sb.api_key, code, verifier, *body.values()):
        if isinstance(value, str) and value not in ("Bearer", SCOPE):
            assert value in issued
    assert sb.api_key not in repr(sb)
    assert sb.api_key not in repr(sb.users)


def test_constructor_options_and_other_users() -> None:
    users = [
        SandboxUser(7, "boss@example.com", "Boss", is_staff=True, api_key="sbx_key_boss"),
        SandboxUser(8, "intern@example.com", "Intern"),
    ]
    clients = [
        SandboxClient("app-one", redirect_uris=("http://localhost:9/cb",), name="App One"),
        SandboxClient("confidential", public=False),
    ]
    with Sandbox(users=users, clients=clients) as custom:
        assert custom.api_key == "sbx_key_boss"
        assert custom.client_id == "app-one"
        intern_key = custom.users[1].api_key
        assert intern_key is not None
        assert intern_key.startswith("sbx_key_")
        verifier, challenge = make_pkce()
        url = authorize_url(custom, challenge, redirect_uri="http://localhost:9/cb")
        redirected = custom.approve(url, email="intern@example.com")
        assert redirected.startswith("http://localhost:9/cb?code=")
        with httpx2.Client(base_url=custom.base_url) as client:
            form = {
                "client_id": "app-one",
                "grant_type": "authorization_code",
                "code_verifier": verifier,
                "redirect_uri": "http://localhost:9/cb",
                "code": query_of(redirected)["code"],
            }
            body = client.post("/oauth/token/", data=form).json()
            who = client.get("/api/v2/auth/check/", headers=bearer(body["access_token"]))
            assert who.json()["email"] == "intern@example.com"
            boss = client.get("/api/v2/auth/check/", headers={"x-api-key": "sbx_key_boss"})
            assert boss.json()["is_staff"] is True
            other_client = {**form, "grant_type": "refresh_token", "client_id": "confidential"}
            other_client["refresh_token"] = body["refresh_token"]
            rejected = client.post("/oauth/token/", data=other_client)
            assert_oauth_error(rejected, "unauthorized_client")
        assert "App One" in httpx2.get(url).text
        with pytest.raises(ValueError, match="no sandbox user"):
            custom.approve(url, email="stranger@example.com")
    with Sandbox(api_key="sbx_key_fixed", client_id="my-app") as simple:
        assert simple.api_key == "sbx_key_fixed"
        assert simple.client_id == "my-app"
        assert simple.redirect_uri == simple.base_url + "/sandbox/callback/"


# --- fault injection --------------------------------------------------------------------


def test_fault_default_bodies_have_the_routes_error_shape(sb: Sandbox, http: httpx2.Client) -> None:
    sb.fail_next("token")
    code, verifier = login(sb)
    description = assert_oauth_error(exchange(http, sb, code, verifier), "server_error", 500)
    assert description
    sb.fail_next("check", status=503)
    faulted = check(http, **{"x-api-key": sb.api_key})
    assert faulted.status_code == 503
    assert set(faulted.json()) == {"detail"}
    assert exchange(http, sb, code, verifier).status_code == 200
    assert check(http, **{"x-api-key": sb.api_key}).status_code == 200
    assert sb.count("token") == 2
    assert sb.count("token:authorization_code") == 2


def test_fault_with_a_malformed_body(sb: Sandbox, http: httpx2.Client) -> None:
    sb.fail_next("check", status=502, body="<html>Bad gateway", content_type="text/html")
    response = check(http, **{"x-api-key": sb.api_key})
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    assert response.text == "<html>Bad gateway"


def test_fault_delay_then_normal_answer(sb: Sandbox, http: httpx2.Client) -> None:
    sb.fail_next("check", delay=0.3, status=0)
    started = time.monotonic()
    response = check(http, **{"x-api-key": sb.api_key})
    assert time.monotonic() - started >= 0.3
    assert response.status_code == 200
    sb.fail_next("check", delay=0.5, status=0)
    with pytest.raises(httpx2.ReadTimeout):
        http.get("/api/v2/auth/check/", timeout=0.1)


@pytest.mark.parametrize("route", ["check", "token", "authorize", "login_link"])
def test_fault_drop_closes_the_connection_without_an_answer(
    sb: Sandbox, http: httpx2.Client, route: str
) -> None:
    requests = {
        "token": http.build_request(
            "POST", "/oauth/token/", data={"grant_type": "refresh_token", "refresh_token": "x"}
        ),
        "check": http.build_request("GET", "/api/v2/auth/check/"),
        "authorize": http.build_request("GET", authorize_url(sb, make_pkce()[1])),
        "login_link": http.build_request("GET", "/api/v2/auth/login-link/"),
    }
    sb.fail_next(route, drop=True)
    with pytest.raises(httpx2.RemoteProtocolError):
        http.send(requests[route])
    assert sb.count(route) == 1
    assert check(http, **{"x-api-key": sb.api_key}).status_code == 200


def test_fault_times_and_until_cleared(sb: Sandbox, http: httpx2.Client) -> None:
    sb.fail_next("check", status=500, times=2)
    statuses = [check(http, **{"x-api-key": sb.api_key}).status_code for _ in range(3)]
    assert statuses == [500, 500, 200]
    sb.fail_next("check", status=429, times=-1)
    statuses = [check(http, **{"x-api-key": sb.api_key}).status_code for _ in range(4)]
    assert statuses == [429] * 4
    sb.clear_faults()
    assert check(http, **{"x-api-key": sb.api_key}).status_code == 200
    assert sb.count("check") == 8


def test_fail_next_refuses_nonsense() -> None:
    sandbox = Sandbox()
    with pytest.raises(ValueError, match="route"):
        sandbox.fail_next("callback")
    with pytest.raises(ValueError, match="times"):
        sandbox.fail_next("check", times=0)
    with pytest.raises(ValueError, match="status"):
        sandbox.fail_next("check", status=0, body="{}")


# --- command line -----------------------------------------------------------------------


def test_cli_prints_the_settings_and_writes_a_private_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "sandbox.env"
    command = [
        sys.executable,
        "-m",
        "zapier_nb.sandbox",
        "--port",
        "0",
        "--api-key",
        "sbx_key_cli",
        "--client-id",
        "cli-app",
        "--env-file",
        str(env_file),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        output = read_banner(process)
        base_url = output.split("running at ")[1].split()[0]
        assert f"export ZAPIER_BASE_URL={base_url}" in output
        assert "export ZAPIER_API_KEY=sbx_key_cli" in output
        assert "cli-app" in output
        assert f"{base_url}/sandbox/callback/" in output
        who = httpx2.get(f"{base_url}/api/v2/auth/check/", headers={"x-api-key": "sbx_key_cli"})
        assert who.json()["email"] == "ada@example.com"
        assert stat.S_IMODE(os.stat(env_file).st_mode) == 0o600
        lines = env_file.read_text().splitlines()
        assert lines[:4] == [
            f"ZAPIER_BASE_URL={base_url}",
            "ZAPIER_API_KEY=sbx_key_cli",
            "ZAPIER_CLIENT_ID=cli-app",
            f"ZAPIER_REDIRECT_URI={base_url}/sandbox/callback/",
        ]
        # With the mcp extra, the sandbox's MCP server too.
        assert [line.split("=")[0] for line in lines[4:]] in (
            [],
            ["ZAPIER_MCP_URL", "ZAPIER_MCP_TOKEN"],
        )
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
