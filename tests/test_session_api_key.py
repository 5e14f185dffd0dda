from __future__ import annotations

import pytest

from zapier_nb import (
    AuthenticationError,
    ConfigurationError,
    LoginRequiredError,
    Session,
)
from zapier_nb._models import LoginLinkParams
from zapier_nb.sandbox import Sandbox


def test_check_with_an_api_key_shows_the_user(key_session: Session, sandbox: Sandbox) -> None:
    result = key_session.check()
    assert result.success is True
    assert result.email == "ada@example.com"
    assert result.name == "Ada Lovelace"
    assert result.user_id == 1001
    assert result.is_staff is False
    assert key_session.auth_method == "api_key"
    assert sandbox.count("check") == 1


@pytest.mark.anyio
async def test_acheck_with_an_api_key(key_session: Session) -> None:
    result = await key_session.acheck()
    assert result.email == "ada@example.com"
    await key_session.aclose()


def test_the_client_carries_the_key_for_any_endpoint(key_session: Session) -> None:
    response = key_session.client.get("/api/v2/auth/check/")
    assert response.status_code == 200
    assert response.json()["email"] == "ada@example.com"
    assert response.request.headers["x-api-key"]


def test_a_wrong_key_says_where_to_get_the_right_one(sandbox: Sandbox) -> None:
    wrong = "sbx_key_not-a-real-key-at-all"
    with Session(api_key=wrong, base_url=sandbox.base_url) as session:
        with pytest.raises(AuthenticationError) as info:
            session.check()
        error = info.value
        assert error.status_code == 401
        assert "credentials" in str(error)
        assert error.body == {"detail": "Invalid API key."}
        assert wrong not in str(error)
        assert wrong not in repr(error)
        session.use_api_key(sandbox.api_key)
        assert session.check().email == "ada@example.com"
    assert sandbox.count("check") == 2


def test_no_credentials_fails_before_any_request(sandbox: Sandbox) -> None:
    with Session(base_url=sandbox.base_url) as session:
        assert session.auth_method is None
        with pytest.raises(LoginRequiredError, match="Log in first"):
            session.check()
    assert sandbox.count("check") == 0


def test_from_env_reads_the_zapier_variables(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZAPIER_API_KEY", raising=False)
    monkeypatch.setenv("ZAPIER_NLA_API_KEY", sandbox.api_key)
    monkeypatch.setenv("ZAPIER_BASE_URL", sandbox.base_url)
    with Session.from_env(timeout=3) as session:
        assert session.base_url == sandbox.base_url
        assert session.check().email == "ada@example.com"


def test_repr_shows_method_and_url_not_the_key(key_session: Session, sandbox: Sandbox) -> None:
    text = repr(key_session)
    assert "api_key" in text
    assert sandbox.base_url in text
    assert sandbox.api_key not in text


def test_logout_forgets_the_key(key_session: Session) -> None:
    key_session.check()
    key_session.logout()
    assert key_session.auth_method is None
    with pytest.raises(LoginRequiredError):
        key_session.check()


def test_plain_http_to_a_remote_host_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="plain http"):
        Session(api_key="k", base_url="http://actions.zapier.com")


def test_oauth_calls_without_client_settings_say_what_is_missing(key_session: Session) -> None:
    with pytest.raises(ConfigurationError, match="client_id and redirect_uri"):
        key_session.begin_login()


@pytest.mark.anyio
async def test_aclose_leaves_the_sync_client_to_other_threads(key_session: Session) -> None:
    await key_session.acheck()
    sync_client = key_session.client
    await key_session.aclose()
    assert not sync_client.is_closed
    assert key_session.check().success
    assert (await key_session.acheck()).success
    async with key_session:
        pass
    assert sync_client.is_closed


def test_an_api_key_session_makes_a_sign_up_link_that_lands_on_the_success_page(
    key_session: Session, sandbox: Sandbox
) -> None:
    link = key_session.login_link(first_name="Grace", last_name="Hopper", email="g@example.org")
    landed = sandbox.follow_login_link(link)
    assert landed == f"{sandbox.base_url}/config/login-success/"
    assert sandbox.count("authorize") == 0  # no consent screen: there is no login to finish
    assert any(user.email == "g@example.org" for user in sandbox.users)


def test_the_landing_page_goes_out_in_both_spellings() -> None:
    params = LoginLinkParams.landing_on(
        "https://x.test/oauth/authorize/?client_id=c", first_name="A", last_name="B", email="a@b.c"
    )
    form = params.form()
    assert (
        form["redirect_uri"] == form["redirect_to"] == "https://x.test/oauth/authorize/?client_id=c"
    )
    alone = LoginLinkParams.landing_on(None, first_name="A", last_name="B", email="a@b.c").form()
    assert "redirect_uri" not in alone
    assert "redirect_to" not in alone


def test_refresh_with_an_api_key_says_there_is_nothing_to_refresh(sandbox: Sandbox) -> None:
    session = Session(api_key=sandbox.api_key, base_url=sandbox.base_url)
    with pytest.raises(ConfigurationError, match="uses an API key") as info:
        session.refresh()
    assert "no credentials" not in str(info.value)
    assert sandbox.count("token") == 0
