"""/api/v2/auth/check/ with an API key or a Bearer token."""

from __future__ import annotations

import time

import httpx2
from wire import (
    bearer,
    check,
    refresh,
    tokens,
)

from zapier_nb.sandbox import Sandbox

# --- check ------------------------------------------------------------------------------


def test_check_with_api_key_returns_check_auth_response(sb: Sandbox, http: httpx2.Client) -> None:
    response = check(http, **{"x-api-key": sb.api_key})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "success": True,
        "email": "ada@example.com",
        "name": "Ada Lovelace",
        "user_id": 1001,
        "is_staff": False,
    }
    assert sb.api_key.startswith("sbx_key_")


def test_check_with_bearer_token(sb: Sandbox, http: httpx2.Client) -> None:
    response = check(http, **bearer(tokens(http, sb)["access_token"]))
    assert response.status_code == 200
    assert response.json()["email"] == "ada@example.com"


def test_check_401_shapes(sb: Sandbox, http: httpx2.Client) -> None:
    missing = check(http)
    assert missing.status_code == 401
    assert missing.json() == {"detail": "Authentication credentials were not provided."}
    wrong_key = check(http, **{"x-api-key": "sbx_key_wrong"})
    assert wrong_key.status_code == 401
    assert wrong_key.json() == {"detail": "Invalid API key."}
    bad_token = check(http, **bearer("sbx_at_forged"))
    assert bad_token.status_code == 401
    assert set(bad_token.json()) == {"detail"}
    assert 'error="invalid_token"' in bad_token.headers["www-authenticate"]
    assert bad_token.headers["content-type"] == "application/json"
    assert sb.count("check") == 3


def test_expired_access_tokens_get_401(sb: Sandbox, http: httpx2.Client) -> None:
    access_token = tokens(http, sb)["access_token"]
    sb.expire_access_tokens()
    response = check(http, **bearer(access_token))
    assert response.status_code == 401
    assert response.json() == {"detail": "Token has expired."}
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert check(http, **bearer(tokens(http, sb)["access_token"])).status_code == 200


def test_access_tokens_expire_after_token_ttl(sb: Sandbox, http: httpx2.Client) -> None:
    sb.token_ttl = 0.2
    body = tokens(http, sb)
    assert body["expires_in"] == 1
    assert check(http, **bearer(body["access_token"])).status_code == 200
    time.sleep(0.25)
    assert check(http, **bearer(body["access_token"])).status_code == 401
    renewed = refresh(http, sb, body["refresh_token"]).json()
    assert check(http, **bearer(renewed["access_token"])).status_code == 200
