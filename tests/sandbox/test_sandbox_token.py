"""The token endpoint: code exchange, refresh, rotation, id_token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx2
import pytest
from wire import (
    SCOPE,
    TOKEN_KEYS,
    assert_oauth_error,
    bearer,
    check,
    exchange,
    login,
    make_pkce,
    refresh,
    tokens,
)

from zapier_nb.sandbox import Sandbox

# --- token endpoint ---------------------------------------------------------------------


def test_code_exchange_returns_the_seed_token_shape(sb: Sandbox, http: httpx2.Client) -> None:
    code, verifier = login(sb)
    response = exchange(http, sb, code, verifier)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert set(body) == TOKEN_KEYS
    assert body["token_type"] == "Bearer"
    assert body["scope"] == SCOPE
    assert body["expires_in"] == 3600
    assert body["access_token"].startswith("sbx_at_")
    assert body["refresh_token"].startswith("sbx_rt_")
    assert body["id_token"].count(".") == 2
    assert sb.count("token") == 1
    assert sb.count("token:authorization_code") == 1


def test_expires_in_rounds_a_fractional_ttl_up(sb: Sandbox, http: httpx2.Client) -> None:
    sb.token_ttl = 1.5
    assert tokens(http, sb)["expires_in"] == 2


@pytest.mark.parametrize("problem", ["wrong verifier", "other redirect_uri", "unknown code"])
def test_code_exchange_rejections_are_invalid_grant(
    sb: Sandbox, http: httpx2.Client, problem: str
) -> None:
    code, verifier = login(sb)
    overrides = {
        "wrong verifier": {"code_verifier": make_pkce()[0]},
        "other redirect_uri": {"redirect_uri": sb.base_url + "/elsewhere/"},
        "unknown code": {"code": "sbx_code_" + "x" * 43},
    }[problem]
    response = exchange(http, sb, code, verifier, overrides)
    description = assert_oauth_error(response, "invalid_grant")
    assert code not in description
    assert verifier not in description
    assert exchange(http, sb, code, verifier).status_code == 200


def test_a_reused_code_is_rejected_and_its_tokens_revoked(sb: Sandbox, http: httpx2.Client) -> None:
    code, verifier = login(sb)
    first = exchange(http, sb, code, verifier).json()
    assert check(http, **bearer(first["access_token"])).status_code == 200
    assert_oauth_error(exchange(http, sb, code, verifier), "invalid_grant")
    assert check(http, **bearer(first["access_token"])).status_code == 401
    assert_oauth_error(refresh(http, sb, first["refresh_token"]), "invalid_grant")


def test_an_expired_code_is_invalid_grant(sb: Sandbox, http: httpx2.Client) -> None:
    sb.code_ttl = 0.05
    code, verifier = login(sb)
    time.sleep(0.1)
    description = assert_oauth_error(exchange(http, sb, code, verifier), "invalid_grant")
    assert "expired" in description


@pytest.mark.parametrize(
    "field", ["grant_type", "client_id", "code", "redirect_uri", "code_verifier"]
)
def test_a_missing_field_is_invalid_request_naming_it(
    sb: Sandbox, http: httpx2.Client, field: str
) -> None:
    code, verifier = login(sb)
    form = {
        "client_id": sb.client_id,
        "grant_type": "authorization_code",
        "code_verifier": verifier,
        "redirect_uri": sb.redirect_uri,
        "code": code,
    }
    del form[field]
    description = assert_oauth_error(http.post("/oauth/token/", data=form), "invalid_request")
    assert field in description


def test_token_request_errors(sb: Sandbox, http: httpx2.Client) -> None:
    code, verifier = login(sb)
    assert_oauth_error(
        exchange(http, sb, code, verifier, {"client_id": "nobody"}), "invalid_client", 401
    )
    assert_oauth_error(
        exchange(http, sb, code, verifier, {"grant_type": "password"}), "unsupported_grant_type"
    )
    malformed = exchange(http, sb, code, verifier, {"code_verifier": "short"})
    assert "code_verifier" in assert_oauth_error(malformed, "invalid_request")
    as_json = http.post(
        "/oauth/token/",
        json={"client_id": sb.client_id, "grant_type": "authorization_code", "code": code},
    )
    assert "x-www-form-urlencoded" in assert_oauth_error(as_json, "invalid_request")
    assert exchange(http, sb, code, verifier).status_code == 200
    assert sb.count("token") == 5


def test_refresh_rotates_the_refresh_token_by_default(sb: Sandbox, http: httpx2.Client) -> None:
    first = tokens(http, sb)
    response = refresh(http, sb, first["refresh_token"])
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    second = response.json()
    assert set(second) == TOKEN_KEYS
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    assert_oauth_error(refresh(http, sb, first["refresh_token"]), "invalid_grant")
    assert refresh(http, sb, second["refresh_token"]).status_code == 200
    assert check(http, **bearer(first["access_token"])).status_code == 200
    assert check(http, **bearer(second["access_token"])).status_code == 200
    assert sb.count("token:refresh_token") == 3


def test_refresh_without_rotation_omits_refresh_token_and_keeps_the_old_one(
    sb: Sandbox, http: httpx2.Client
) -> None:
    sb.rotate_refresh_tokens = False
    first = tokens(http, sb)
    for _ in range(2):
        response = refresh(http, sb, first["refresh_token"])
        assert response.status_code == 200
        body = response.json()
        assert set(body) == TOKEN_KEYS - {"refresh_token"}
        assert check(http, **bearer(body["access_token"])).status_code == 200


def test_revoked_or_unknown_refresh_tokens_are_invalid_grant(
    sb: Sandbox, http: httpx2.Client
) -> None:
    first = tokens(http, sb)
    sb.revoke_refresh_tokens()
    description = assert_oauth_error(refresh(http, sb, first["refresh_token"]), "invalid_grant")
    assert first["refresh_token"] not in description
    assert_oauth_error(refresh(http, sb, "sbx_rt_unknown"), "invalid_grant")
    missing = http.post(
        "/oauth/token/", data={"client_id": sb.client_id, "grant_type": "refresh_token"}
    )
    assert "refresh_token" in assert_oauth_error(missing, "invalid_request")


def test_id_token_is_an_hs256_jwt_with_the_users_claims(sb: Sandbox, http: httpx2.Client) -> None:
    before = int(time.time())
    id_token = tokens(http, sb)["id_token"]
    header_b64, payload_b64, signature_b64 = id_token.split(".")

    def decode(segment: str) -> bytes:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))

    expected = hmac.new(
        sb.id_token_key, f"{header_b64}.{payload_b64}".encode(), hashlib.sha256
    ).digest()
    assert hmac.compare_digest(decode(signature_b64), expected)
    assert json.loads(decode(header_b64)) == {"alg": "HS256", "typ": "JWT"}
    claims = json.loads(decode(payload_b64))
    assert claims["iss"] == sb.base_url
    assert claims["aud"] == sb.client_id
    assert claims["sub"] == "1001"
    assert claims["email"] == "ada@example.com"
    assert claims["name"] == "Ada Lovelace"
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] == claims["iat"] + 3600
