"""The sandbox behaves like the AI Actions auth server, over real loopback HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx2
import pytest

from zapier_nb.sandbox import Sandbox, SandboxClient, SandboxUser
from zapier_nb.sandbox._pkce import is_pkce_value, s256_challenge

SCOPE = "openid nla:exposed_actions:execute"
TOKEN_KEYS = {"id_token", "access_token", "refresh_token", "expires_in", "token_type", "scope"}


@pytest.fixture(scope="module")
def running_sandbox() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sb(running_sandbox: Sandbox) -> Iterator[Sandbox]:
    running_sandbox.reset()
    yield running_sandbox
    running_sandbox.reset()


@pytest.fixture
def http(sb: Sandbox) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=sb.base_url, timeout=10) as client:
        yield client


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


# --- PKCE -------------------------------------------------------------------------------


def test_s256_matches_rfc7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("a" * 43, True),
        ("a" * 128, True),
        ("a" * 42, False),
        ("a" * 129, False),
        ("a+" * 30, False),
    ],
)
def test_pkce_values_are_43_to_128_unreserved_chars(value: str, valid: bool) -> None:
    assert is_pkce_value(value) is valid


# --- consent screen ---------------------------------------------------------------------


def test_consent_page_shows_user_scopes_and_both_buttons(sb: Sandbox, http: httpx2.Client) -> None:
    _, challenge = make_pkce()
    page = http.get(authorize_url(sb, challenge))
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "<title>Authorize Sandbox notebook app</title>" in html
    assert "ada@example.com" in html
    assert "Ada Lovelace" in html
    assert "Run AI Actions" in html
    assert "OpenID Connect scope" in html
    assert '<form method="post" action="/oauth/authorize/">' in html
    assert '<button type="submit" name="decision" value="approve">Approve</button>' in html
    assert '<button type="submit" name="decision" value="deny">Deny</button>' in html
    assert 'type="hidden" name="transaction"' in html


def test_approve_redirects_to_redirect_uri_with_code_and_state(sb: Sandbox) -> None:
    _, challenge = make_pkce()
    redirected = sb.approve(authorize_url(sb, challenge, state="abc"))
    assert redirected.startswith(sb.redirect_uri + "?")
    params = query_of(redirected)
    assert params["code"].startswith("sbx_code_")
    assert params["state"] == "abc"
    assert sb.count("authorize") == 1
    assert sb.count("consent") == 1


def test_approve_without_state_sends_no_state(sb: Sandbox) -> None:
    _, challenge = make_pkce()
    redirected = sb.approve(authorize_url(sb, challenge, state=None))
    assert set(query_of(redirected)) == {"code"}


def test_deny_redirects_with_access_denied(sb: Sandbox) -> None:
    _, challenge = make_pkce()
    redirected = sb.approve(authorize_url(sb, challenge), deny=True)
    assert redirected.startswith(sb.redirect_uri + "?")
    assert "error=access_denied&error_description=The+user+denied+access" in redirected
    assert query_of(redirected)["state"] == "st-123"
    assert "code" not in query_of(redirected)


def test_slashless_paths_answer_301_to_the_slashed_path_keeping_the_query(
    sb: Sandbox, http: httpx2.Client
) -> None:
    _, challenge = make_pkce()
    slashless = authorize_url(sb, challenge).replace("/oauth/authorize/?", "/oauth/authorize?")
    response = http.get(slashless)
    assert response.status_code == 301
    location = response.headers["location"]
    assert location.startswith("/oauth/authorize/?")
    assert urlsplit(location).query == urlsplit(slashless).query
    assert http.get("/api/v2/auth/check").headers["location"] == "/api/v2/auth/check/"
    assert "code" in query_of(sb.approve(slashless))


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"client_id": "no-such-app"}, "No application has this client_id."),
        ({"redirect_uri": "https://evil.example/cb"}, "redirect_uri is not registered"),
        ({"redirect_uri": None}, "no redirect_uri parameter"),
    ],
)
def test_bad_client_or_redirect_uri_shows_a_400_page_and_never_redirects(
    sb: Sandbox, http: httpx2.Client, override: dict[str, str | None], message: str
) -> None:
    _, challenge = make_pkce()
    url = authorize_url(sb, challenge, **override)
    response = http.get(url)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")
    assert message in response.text
    with pytest.raises(ValueError, match=message):
        sb.approve(url)


@pytest.mark.parametrize(
    ("override", "error"),
    [
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_type": None}, "invalid_request"),
        ({"code_challenge": None}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge_method": None}, "invalid_request"),
        ({"scope": "openid admin"}, "invalid_scope"),
        ({"scope": None}, "invalid_scope"),
    ],
)
def test_invalid_authorization_requests_redirect_with_an_error(
    sb: Sandbox, http: httpx2.Client, override: dict[str, str | None], error: str
) -> None:
    _, challenge = make_pkce()
    response = http.get(authorize_url(sb, challenge, **override))
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(sb.redirect_uri + "?")
    params = query_of(location)
    assert params["error"] == error
    assert params["error_description"]
    assert params["state"] == "st-123"


def test_answering_an_unknown_or_used_transaction_is_a_400_page(
    sb: Sandbox, http: httpx2.Client
) -> None:
    _, challenge = make_pkce()
    page = http.get(authorize_url(sb, challenge)).text
    transaction = page.split('name="transaction" value="')[1].split('"')[0]
    form = {"transaction": transaction, "decision": "approve"}
    assert http.post("/oauth/authorize/", data=form).status_code == 302
    again = http.post("/oauth/authorize/", data=form)
    assert again.status_code == 400
    assert "already answered" in again.text
    assert http.post("/oauth/authorize/", data={**form, "transaction": "nope"}).status_code == 400


def test_html_pages_escape_what_they_echo(sb: Sandbox, http: httpx2.Client) -> None:
    evil = "<script>alert(1)</script>"
    page = http.get("/sandbox/callback/", params={"code": evil, "state": evil})
    assert evil not in page.text
    assert "&lt;script&gt;" in page.text


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


# --- quick account creation -------------------------------------------------------------


def test_login_link_answers_a_sign_up_link(sb: Sandbox, http: httpx2.Client) -> None:
    _, challenge = make_pkce()
    response = http.get(
        "/api/v2/auth/login-link/",
        params={
            "redirect_uri": authorize_url(sb, challenge),
            "sign_up_first_name": "Grace",
            "sign_up_last_name": "Hopper",
            "sign_up_email": "grace@example.com",
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"login_link"}
    assert body["login_link"].startswith(f"{sb.base_url}/sandbox/sign-up/?t=")
    page = http.get(body["login_link"])
    assert "Create your Zapier account" in page.text
    assert 'value="grace@example.com"' in page.text
    assert 'value="Grace"' in page.text
    assert "Create account" in page.text
    assert sb.count("login_link") == 1


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sign_up_email": "x@example.com"}, "redirect_uri is required"),
        (
            {
                "redirect_uri": "https://example.com/oauth/authorize/?client_id=zapier-nb-sandbox",
                "sign_up_email": "x@example.com",
            },
            "redirect_uri must be",
        ),
        (
            {
                "redirect_uri": "{base}/oauth/authorize/?client_id=nobody",
                "sign_up_email": "x@example.com",
            },
            "redirect_uri must be",
        ),
        (
            {"redirect_uri": "{base}/oauth/authorize/?client_id=zapier-nb-sandbox"},
            "sign_up_email is required",
        ),
        (
            {
                "redirect_uri": "{base}/oauth/authorize/?client_id=zapier-nb-sandbox",
                "sign_up_email": "not-an-email",
            },
            "not a valid email",
        ),
    ],
)
def test_login_link_rejects_bad_requests(
    sb: Sandbox, http: httpx2.Client, params: dict[str, str], message: str
) -> None:
    filled = {k: v.replace("{base}", sb.base_url) for k, v in params.items()}
    response = http.get("/api/v2/auth/login-link/", params=filled)
    assert response.status_code == 400
    assert set(response.json()) == {"detail"}
    assert message in response.json()["detail"]


def login_link_for(http: httpx2.Client, sb: Sandbox, email: str, challenge: str) -> str:
    params = {
        "redirect_uri": authorize_url(sb, challenge),
        "sign_up_first_name": "Grace",
        "sign_up_last_name": "Hopper",
        "sign_up_email": email,
    }
    link: str = http.get("/api/v2/auth/login-link/", params=params).json()["login_link"]
    return link


def test_follow_login_link_signs_up_a_new_user_who_can_log_in(
    sb: Sandbox, http: httpx2.Client
) -> None:
    verifier, challenge = make_pkce()
    redirected = sb.follow_login_link(login_link_for(http, sb, "grace@example.com", challenge))
    assert query_of(redirected)["state"] == "st-123"
    token_response = exchange(http, sb, query_of(redirected)["code"], verifier)
    who = check(http, **bearer(token_response.json()["access_token"])).json()
    assert who["email"] == "grace@example.com"
    assert who["name"] == "Grace Hopper"
    assert who["user_id"] != 1001
    assert sb.count("sign_up") == 1
    assert "grace@example.com" in [user.email for user in sb.users]
    sb.reset()
    assert [user.email for user in sb.users] == ["ada@example.com"]


def test_login_link_for_an_existing_email_logs_that_user_in(
    sb: Sandbox, http: httpx2.Client
) -> None:
    verifier, challenge = make_pkce()
    link = login_link_for(http, sb, "ada@example.com", challenge)
    assert "already has an account" in http.get(link).text
    redirected = sb.follow_login_link(link)
    token_response = exchange(http, sb, query_of(redirected)["code"], verifier)
    assert check(http, **bearer(token_response.json()["access_token"])).json()["user_id"] == 1001


def test_follow_login_link_can_deny(sb: Sandbox, http: httpx2.Client) -> None:
    _, challenge = make_pkce()
    link = login_link_for(http, sb, "grace@example.com", challenge)
    assert query_of(sb.follow_login_link(link, deny=True))["error"] == "access_denied"


# --- landing pages ----------------------------------------------------------------------


def test_callback_page_offers_the_code_and_url_to_copy(sb: Sandbox, http: httpx2.Client) -> None:
    page = http.get("/sandbox/callback/", params={"code": "sbx_code_abc", "state": "s1"})
    assert page.status_code == 200
    html = page.text
    assert "Copy this code" in html
    assert 'id="code" readonly value="sbx_code_abc"' in html
    assert 'id="url" readonly value="' in html
    assert "state=s1" in html
    assert "navigator.clipboard" in html
    assert "notebook" in html
    denied = http.get(
        "/sandbox/callback/",
        params={"error": "access_denied", "error_description": "The user denied access"},
    ).text
    assert "access_denied" in denied
    assert "The user denied access" in denied
    assert 'id="code"' not in denied
    assert sb.count("callback") == 2


def test_index_page_lists_the_endpoints(sb: Sandbox, http: httpx2.Client) -> None:
    page = http.get("/")
    assert page.status_code == 200
    for path in ("/oauth/authorize/", "/oauth/token/", "/api/v2/auth/check/"):
        assert path in page.text


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
        assert process.stdout is not None
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Ctrl+C" in line:
                break
        output = "".join(lines)
        base_url = output.split("running at ")[1].split()[0]
        assert f"export ZAPIER_BASE_URL={base_url}" in output
        assert "export ZAPIER_API_KEY=sbx_key_cli" in output
        assert "cli-app" in output
        assert f"{base_url}/sandbox/callback/" in output
        who = httpx2.get(f"{base_url}/api/v2/auth/check/", headers={"x-api-key": "sbx_key_cli"})
        assert who.json()["email"] == "ada@example.com"
        assert stat.S_IMODE(os.stat(env_file).st_mode) == 0o600
        assert env_file.read_text().splitlines() == [
            f"ZAPIER_BASE_URL={base_url}",
            "ZAPIER_API_KEY=sbx_key_cli",
            "ZAPIER_CLIENT_ID=cli-app",
            f"ZAPIER_REDIRECT_URI={base_url}/sandbox/callback/",
        ]
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
