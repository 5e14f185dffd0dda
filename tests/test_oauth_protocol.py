from __future__ import annotations

import base64
import json

import pytest
from helpers import code_for

from zapier_nb import (
    AuthorizationError,
    ConsentDeniedError,
    InvalidCodeError,
    LoginError,
    OAuthError,
    SessionExpiredError,
    StateMismatchError,
)
from zapier_nb._login import LoginAnswer
from zapier_nb._models import AuthorizeParams
from zapier_nb._oauth import authorize_url, decode_jwt_claims, token_error


def test_authorize_url_matches_the_documented_form() -> None:
    params = AuthorizeParams(
        client_id="YOUR_CLIENT_ID",
        redirect_uri="https://example.com/cb/",
        code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        state="s1",
    )
    assert authorize_url("https://actions.zapier.com", params) == (
        "https://actions.zapier.com/oauth/authorize/?client_id=YOUR_CLIENT_ID"
        "&redirect_uri=https%3A%2F%2Fexample.com%2Fcb%2F"
        "&scope=openid%20nla%3Aexposed_actions%3Aexecute&response_type=code"
        "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        "&code_challenge_method=S256&state=s1"
    )


@pytest.mark.parametrize(
    ("pasted", "code", "state"),
    [
        ("abc123", "abc123", None),
        ("  'abc123'\n", "abc123", None),
        ('"abc123"', "abc123", None),
        ("code=abc123", "abc123", None),
        ("?code=abc123&state=xyz", "abc123", "xyz"),
        ("https://example.com/cb/?code=abc123&state=xyz", "abc123", "xyz"),
        ("https://example.com/cb/?state=xyz&code=abc123", "abc123", "xyz"),
        ("https://example.com/cb/#code=abc123&state=xyz", "abc123", "xyz"),
        ("https://example.com/cb/?co\nde=abc123&st ate=xyz", "abc123", "xyz"),
        ("<https://example.com/cb/?code=a%2Bb&state=xyz>", "a+b", "xyz"),
    ],
)
def test_pasted_answer_forms(pasted: str, code: str, state: str | None) -> None:
    answer = LoginAnswer.from_paste(pasted)
    assert (answer.code, answer.state) == (code, state)


@pytest.mark.parametrize("pasted", ["", "   \n", "''"])
def test_empty_paste_says_what_to_paste(pasted: str) -> None:
    with pytest.raises(LoginError, match="Nothing was pasted"):
        LoginAnswer.from_paste(pasted)


def test_url_without_code_says_to_copy_the_landing_address() -> None:
    with pytest.raises(LoginError, match="no code"):
        LoginAnswer.from_paste("https://example.com/cb/?foo=bar")


def test_text_that_is_not_a_code_is_refused() -> None:
    with pytest.raises(LoginError, match="does not look like"):
        LoginAnswer.from_paste("hello, world!")


def test_state_mismatch_is_refused() -> None:
    answer = LoginAnswer.from_paste("https://x.test/cb/?code=c&state=other")
    with pytest.raises(StateMismatchError, match="different login attempt"):
        code_for(answer, "mine")


def test_matching_state_and_bare_code_pass() -> None:
    assert code_for(LoginAnswer.from_paste("?code=c&state=mine"), "mine") == "c"
    assert code_for(LoginAnswer.from_paste("c0de"), "mine") == "c0de"


def test_access_denied_says_the_user_declined() -> None:
    answer = LoginAnswer.from_paste("https://x.test/cb/?error=access_denied&state=mine")
    with pytest.raises(ConsentDeniedError, match="declined") as info:
        code_for(answer, "mine")
    assert info.value.error == "access_denied"


def test_other_authorization_errors_carry_the_description() -> None:
    answer = LoginAnswer.from_paste("?error=invalid_scope&error_description=Bad+scope&state=mine")
    with pytest.raises(AuthorizationError, match=r"invalid_scope.*Bad scope") as info:
        code_for(answer, "mine")
    assert not isinstance(info.value, ConsentDeniedError)


def test_repr_of_an_answer_hides_the_code() -> None:
    assert "abc123" not in repr(LoginAnswer.from_paste("code=abc123"))


def test_invalid_grant_on_a_code_is_an_invalid_code_error() -> None:
    body = {"error": "invalid_grant", "error_description": "Code expired."}
    error = token_error(400, body, grant_type="authorization_code")
    assert isinstance(error, InvalidCodeError)
    assert isinstance(error, LoginError)
    assert "This login is still open" in str(error)
    assert error.body == body


def test_invalid_grant_on_a_refresh_ends_the_session() -> None:
    error = token_error(400, {"error": "invalid_grant"}, grant_type="refresh_token")
    assert isinstance(error, SessionExpiredError)
    assert "Log in again" in str(error)


def test_unknown_token_error_shape_still_gives_an_oauth_error() -> None:
    error = token_error(400, "not a dict", grant_type="refresh_token")
    assert type(error) is OAuthError
    assert error.error == "unknown_error"


def test_jwt_claims_are_decoded_for_display() -> None:
    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    token = f"{part({'alg': 'HS256'})}.{part({'email': 'a@b.c', 'n': 1})}.sig"
    assert decode_jwt_claims(token) == {"email": "a@b.c", "n": 1}
    assert decode_jwt_claims("garbage") == {}
    assert decode_jwt_claims("a.!!!.c") == {}
