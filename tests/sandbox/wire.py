"""Requests to the sandbox spelled out by hand, as a client of the wire format."""

from __future__ import annotations

import base64
import hashlib
import secrets
import subprocess
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2

from zapier_nb.sandbox import Sandbox

SCOPE = "openid nla:exposed_actions:execute"
TOKEN_KEYS = {"id_token", "access_token", "refresh_token", "expires_in", "token_type", "scope"}


def make_pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


def authorize_url(sb: Sandbox, challenge: str, **overrides: str | None) -> str:
    params: dict[str, str | None] = {
        "client_id": sb.client_id,
        "redirect_uri": sb.redirect_uri,
        "scope": SCOPE,
        "response_type": "code",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "state": "st-123",
        **overrides,
    }
    query = urlencode({k: v for k, v in params.items() if v is not None})
    return f"{sb.base_url}/oauth/authorize/?{query}"


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def login(sb: Sandbox, **overrides: str | None) -> tuple[str, str]:
    """Run the consent screen; returns (code, verifier)."""
    verifier, challenge = make_pkce()
    redirected = sb.approve(authorize_url(sb, challenge, **overrides))
    return query_of(redirected)["code"], verifier


def exchange(
    http: httpx2.Client,
    sb: Sandbox,
    code: str,
    verifier: str,
    overrides: dict[str, str] | None = None,
) -> httpx2.Response:
    form = {
        "client_id": sb.client_id,
        "grant_type": "authorization_code",
        "code_verifier": verifier,
        "redirect_uri": sb.redirect_uri,
        "code": code,
        **(overrides or {}),
    }
    return http.post("/oauth/token/", data=form)


def tokens(http: httpx2.Client, sb: Sandbox) -> dict[str, Any]:
    code, verifier = login(sb)
    response = exchange(http, sb, code, verifier)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def refresh(http: httpx2.Client, sb: Sandbox, refresh_token: str) -> httpx2.Response:
    form = {
        "client_id": sb.client_id,
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
    }
    return http.post("/oauth/token/", data=form)


def check(http: httpx2.Client, **headers: str) -> httpx2.Response:
    return http.get("/api/v2/auth/check/", headers=headers)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_oauth_error(response: httpx2.Response, error: str, status: int = 400) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    description: str = body["error_description"]
    return description


def read_banner(process: subprocess.Popen[str]) -> str:
    """What `python -m zapier_nb.sandbox` prints up to its "Press Ctrl+C" line."""
    assert process.stdout is not None
    lines = []
    for line in process.stdout:
        lines.append(line)
        if "Ctrl+C" in line:
            break
    return "".join(lines)
