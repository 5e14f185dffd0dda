"""Quick account creation and the sandbox's own pages."""

from __future__ import annotations

import httpx2
import pytest
from wire import (
    authorize_url,
    bearer,
    check,
    exchange,
    make_pkce,
    query_of,
)

from zapier_nb.sandbox import Sandbox

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
        (
            {
                "redirect_uri": "{base}/oauth/authorize/?client_id=zapier-nb-sandbox",
                "redirect_to": "{base}/oauth/authorize/?client_id=zapier-nb-sandbox&x=1",
                "sign_up_email": "x@example.com",
            },
            "redirect_uri and redirect_to differ",
        ),
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
