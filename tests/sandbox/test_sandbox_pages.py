"""The pages a person sees: switching user on the consent screen, the sign-up form's message,
and the home page's demo credentials."""

from __future__ import annotations

import html
import re

import httpx2
from wire import authorize_url, bearer, check, exchange, make_pkce, query_of

from zapier_nb.sandbox import Sandbox


def switch_link(page: str) -> str:
    found = re.search(r'<a id="switch-user" href="([^"]+)">Switch user</a>', page)
    assert found, "the consent page has no Switch user link"
    return html.unescape(found.group(1))


def signed_in_as(page: str) -> str:
    found = re.search(r'<span id="user-email">([^<]+)</span>', page)
    assert found
    return html.unescape(found.group(1))


def sign_up(http: httpx2.Client, sb: Sandbox, email: str) -> None:
    """A sign-up through a login link, in this client: its cookie now names the new user."""
    _, challenge = make_pkce()
    params = {"redirect_uri": authorize_url(sb, challenge), "sign_up_email": email}
    link = http.get("/api/v2/auth/login-link/", params=params).json()["login_link"]
    ticket = query_of(link)["t"]
    answer = http.post(
        "/sandbox/sign-up/", data={"t": ticket, "first_name": "Alan", "email": email}
    )
    assert answer.status_code == 303


def test_after_a_sign_up_switch_user_brings_ada_back(sb: Sandbox, http: httpx2.Client) -> None:
    sign_up(http, sb, "alan@example.org")
    verifier, challenge = make_pkce()
    consent = http.get(authorize_url(sb, challenge)).text
    assert signed_in_as(consent) == "alan@example.org"

    chooser = http.get(switch_link(consent))
    assert chooser.status_code == 200
    assert "Ada Lovelace (ada@example.com)" in chooser.text
    assert "(alan@example.org) &middot; signed in now" in chooser.text
    next_path = re.search(r'name="next" value="([^"]+)"', chooser.text)
    assert next_path
    back = http.post(
        "/sandbox/switch-user/", data={"next": html.unescape(next_path.group(1)), "user": "1001"}
    )
    assert back.status_code == 303
    assert back.headers["location"].startswith("/oauth/authorize/?client_id=")
    consent = http.get(back.headers["location"]).text
    assert signed_in_as(consent) == "ada@example.com"

    transaction = re.search(r'name="transaction" value="([^"]+)"', consent)
    assert transaction
    approved = http.post(
        "/oauth/authorize/", data={"transaction": transaction.group(1), "decision": "approve"}
    )
    code = query_of(approved.headers["location"])["code"]
    token = exchange(http, sb, code, verifier).json()["access_token"]
    assert check(http, **bearer(token)).json()["email"] == "ada@example.com"


def test_switch_user_goes_back_to_the_consent_screen_only(sb: Sandbox, http: httpx2.Client) -> None:
    for target in ("https://evil.example/", "//evil.example/oauth/authorize/", "/sandbox/"):
        answer = http.post("/sandbox/switch-user/", data={"next": target, "user": "1001"})
        assert answer.status_code == 400, target
        assert "location" not in answer.headers
    assert http.get("/sandbox/switch-user/", params={"next": "https://evil.example/"}).status_code
    unknown = http.post("/sandbox/switch-user/", data={"next": "/oauth/authorize/", "user": "9"})
    assert unknown.status_code == 400


def test_a_bad_email_on_the_sign_up_form_keeps_the_form_and_says_what_to_enter(
    sb: Sandbox, http: httpx2.Client
) -> None:
    _, challenge = make_pkce()
    params = {"redirect_uri": authorize_url(sb, challenge), "sign_up_email": "grace@example.org"}
    ticket = query_of(http.get("/api/v2/auth/login-link/", params=params).json()["login_link"])
    answer = http.post(
        "/sandbox/sign-up/", data={"t": ticket["t"], "first_name": "Grace", "email": "grace"}
    )
    assert answer.status_code == 400
    page = answer.text
    assert "Enter the person&#x27;s email address, like grace@example.org." in page
    assert '<form method="post" action="./">' in page
    assert 'name="first_name" value="Grace"' in page
    assert page.count('class="primary"') == 1


def test_the_home_page_shows_the_demo_credentials(sb: Sandbox, http: httpx2.Client) -> None:
    page = http.get("/").text
    assert f'<code id="api-key">{sb.api_key}</code>' in page
    assert f'<code id="oauth-client-id">{sb.client_id}</code>' in page
    assert f'<code id="redirect-uri">{sb.redirect_uri}</code>' in page
    assert f'<code id="base-url">{sb.base_url}</code>' in page
    assert "Ada Lovelace (ada@example.com)" in page
