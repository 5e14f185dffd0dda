"""The consent screen and its PKCE checks."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx2
import pytest
from wire import (
    authorize_url,
    make_pkce,
    query_of,
)

from zapier_nb.sandbox import Sandbox
from zapier_nb.sandbox._pkce import is_pkce_value, s256_challenge

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
    # Relative, so the page also works behind a proxy path (it posts back to its own path).
    assert '<form method="post" action="./">' in html
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
