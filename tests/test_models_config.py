from __future__ import annotations

import pytest

from zapier_nb import CheckAuthResponse, ConfigurationError, ResponseValidationError
from zapier_nb._config import Settings, checked_link, normalize_base_url
from zapier_nb._models import Token, TokenResponse, parse_response

SECRET_AT = "sbx_at_secretvalue123"
SECRET_RT = "sbx_rt_secretvalue456"


def token_body(**changes: object) -> dict[str, object]:
    body: dict[str, object] = {
        "id_token": "a.b.c",
        "access_token": SECRET_AT,
        "refresh_token": SECRET_RT,
        "expires_in": 3600,
        "token_type": "Bearer",
        "scope": "openid nla:exposed_actions:execute",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def test_token_expiry_is_counted_from_receipt() -> None:
    token = parse_response(TokenResponse, token_body(), what="t").to_token(received_at=1000.0)
    assert token.expires_at == 4600.0
    assert token.lifetime == 3600


def test_refresh_answer_without_refresh_token_keeps_the_old_one() -> None:
    first = parse_response(TokenResponse, token_body(), what="t").to_token(0.0)
    answer = parse_response(
        TokenResponse, token_body(refresh_token=None, id_token=None, access_token="new"), what="t"
    )
    second = answer.to_token(10.0, previous=first)
    assert second.access_token.get_secret_value() == "new"
    assert second.refresh_token is not None
    assert second.refresh_token.get_secret_value() == SECRET_RT
    assert second.id_token == first.id_token


def test_rotated_refresh_token_replaces_the_old_one() -> None:
    first = parse_response(TokenResponse, token_body(), what="t").to_token(0.0)
    second = parse_response(TokenResponse, token_body(refresh_token="rt2"), what="t").to_token(
        1.0, previous=first
    )
    assert second.refresh_token is not None
    assert second.refresh_token.get_secret_value() == "rt2"


def test_reprs_of_tokens_hide_every_secret() -> None:
    answer = parse_response(TokenResponse, token_body(), what="t")
    for text in (repr(answer), str(answer), repr(answer.to_token(0.0))):
        assert SECRET_AT not in text
        assert SECRET_RT not in text


@pytest.mark.parametrize(
    ("lifetime", "leeway", "due_at"),
    [(3600, 60, 3540), (60, 60, 30), (10, 0, 10), (1, 60, 0.5)],
)
def test_refresh_leeway_never_exceeds_half_the_lifetime(
    lifetime: float, leeway: float, due_at: float
) -> None:
    token = Token(
        access_token="x",  # type: ignore[arg-type]
        refresh_token=None,
        id_token=None,
        scope=None,
        lifetime=lifetime,
        expires_at=lifetime,
    )
    assert not token.refresh_due(due_at - 0.01, leeway)
    assert token.refresh_due(due_at, leeway)


def test_a_fresh_token_is_not_due() -> None:
    token = parse_response(TokenResponse, token_body(expires_in=2), what="t").to_token(100.0)
    assert not token.refresh_due(100.0, 60)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"expires_in": None}, "expires_in"),
        ({"expires_in": "soon"}, "expires_in"),
        ({"expires_in": -5}, "expires_in"),
        ({"token_type": "MAC"}, "token_type"),
        ({"access_token": None}, "access_token"),
    ],
)
def test_a_bad_token_answer_names_the_field_and_hides_secrets(
    changes: dict[str, object], field: str
) -> None:
    with pytest.raises(ResponseValidationError) as info:
        parse_response(TokenResponse, token_body(**changes), what="the code exchange")
    message = str(info.value)
    assert field in message
    assert "the code exchange" in message
    assert SECRET_AT not in message
    assert SECRET_RT not in message
    assert SECRET_RT not in repr(info.value.body)
    assert info.value.__cause__ is None


def test_check_response_tolerates_unknown_fields_and_nulls() -> None:
    body = {"success": True, "email": "a@b.c", "name": "A", "user_id": None, "is_staff": None,
            "new_field": 1}  # fmt: skip
    result = parse_response(CheckAuthResponse, body, what="check")
    assert result.user_id is None
    assert result.model_extra == {"new_field": 1}


def test_check_response_without_email_is_a_clear_error() -> None:
    with pytest.raises(ResponseValidationError, match="email: Field required"):
        parse_response(CheckAuthResponse, {"success": True, "name": "A"}, what="the auth check")


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8765", "http://localhost:1/", "http://[::1]:9", "https://x.test"]
)
def test_https_or_loopback_urls_are_accepted(url: str) -> None:
    assert normalize_base_url(url) == url.rstrip("/")


@pytest.mark.parametrize(
    ("url", "match"),
    [
        ("http://actions.zapier.com", "plain http"),
        ("http://10.0.0.1:80", "plain http"),
        ("ftp://x.test", "not an http"),
        ("actions.zapier.com", "not an http"),
        ("https://x.test/?a=1", "query"),
        ("https://user:pw@x.test", "user name or password"),
        ("http://ada@127.0.0.1:8765", "user name or password"),
        ("http://[::1]evil.com", "malformed host"),
        ("http://127.0.0.1:99999", "malformed host"),
        ("http://127.0.0.1:80x", "malformed host"),
        ("http://sandbox.localhost:8765", "plain http"),
        ("http://localhost.evil.test", "plain http"),
    ],
)
def test_unsafe_base_urls_are_refused(url: str, match: str) -> None:
    with pytest.raises(ConfigurationError, match=match) as info:
        normalize_base_url(url)
    assert "pw" not in str(info.value)


@pytest.mark.parametrize(
    ("link", "shown"),
    [
        ("https://zapier.com/sign-up?t=1", True),
        ("http://127.0.0.1:8765/sandbox/sign-up/?t=1", True),
        ("http://zapier.example/sign-up", False),
        ("javascript:alert(1)", False),
        ("data:text/html,hi", False),
    ],
)
def test_only_safe_sign_up_links_are_shown(link: str, shown: bool) -> None:
    if shown:
        assert checked_link(link, "https://x.test") == link
    else:
        with pytest.raises(ConfigurationError, match="not an https address"):
            checked_link(link, "https://x.test")


def test_settings_read_the_environment_and_arguments_win() -> None:
    env = {
        "ZAPIER_NLA_API_KEY": "older-key",
        "ZAPIER_CLIENT_ID": "cid",
        "ZAPIER_REDIRECT_URI": "http://localhost/cb/",
        "ZAPIER_BASE_URL": "http://127.0.0.1:9",
    }
    settings = Settings.from_env(env)
    assert (settings.api_key, settings.client_id) == ("older-key", "cid")
    assert settings.base_url == "http://127.0.0.1:9"
    env["ZAPIER_API_KEY"] = "newer-key"
    assert Settings.from_env(env).api_key == "newer-key"
    assert Settings.from_env(env, api_key="explicit").api_key == "explicit"
    assert "newer-key" not in repr(Settings.from_env(env))


def test_settings_refuse_nonsense() -> None:
    with pytest.raises(ConfigurationError, match="timeout"):
        Settings(timeout=0)
    with pytest.raises(ConfigurationError, match="redirect URI"):
        Settings(redirect_uri="not a url")
