from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import log_in

from zapier_nb import (
    ConfigurationError,
    ConsentDeniedError,
    InvalidCodeError,
    LoginError,
    LoginRequiredError,
    Session,
    SessionExpiredError,
    StateMismatchError,
)
from zapier_nb.sandbox import Sandbox


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_authorize_url_carries_exactly_the_documented_fields(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    url = oauth_session.begin_login()
    assert url.startswith(f"{sandbox.base_url}/oauth/authorize/?")
    fields = query(url)
    assert set(fields) == {
        "client_id", "redirect_uri", "scope", "response_type", "code_challenge",
        "code_challenge_method", "state",
    }  # fmt: skip
    assert fields["client_id"] == sandbox.client_id
    assert fields["redirect_uri"] == sandbox.redirect_uri
    assert fields["scope"] == "openid nla:exposed_actions:execute"
    assert fields["response_type"] == "code"
    assert fields["code_challenge_method"] == "S256"
    assert len(fields["code_challenge"]) == 43
    assert fields["state"] != query(oauth_session.begin_login())["state"]


def test_pasting_the_redirected_url_logs_in(oauth_session: Session, sandbox: Sandbox) -> None:
    info = oauth_session.complete_login(sandbox.approve(oauth_session.begin_login()))
    assert info.email == "ada@example.com"
    assert info.has_refresh_token
    assert 3500 < info.seconds_left() <= 3600
    assert oauth_session.auth_method == "oauth"
    assert oauth_session.check().email == "ada@example.com"
    assert sandbox.count("token:authorization_code") == 1
    assert sandbox.count("token:refresh_token") == 0


@pytest.mark.parametrize("form", ["bare", "code=", "quoted-url"])
def test_pasting_a_bare_code_or_a_quoted_url_logs_in(
    oauth_session: Session, sandbox: Sandbox, form: str
) -> None:
    redirected = sandbox.approve(oauth_session.begin_login())
    code, state = query(redirected)["code"], query(redirected)["state"]
    pasted = {
        "bare": f"  {code}\n",
        "code=": f"code={code}&state={state}",
        "quoted-url": f'"{redirected}"\n',
    }
    oauth_session.complete_login(pasted[form])
    assert oauth_session.check().email == "ada@example.com"


def test_a_mismatched_state_is_refused_before_any_request(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    redirected = sandbox.approve(oauth_session.begin_login())
    forged = redirected.replace("state=", "state=x")
    with pytest.raises(StateMismatchError, match="different login attempt"):
        oauth_session.complete_login(forged)
    assert sandbox.count("token") == 0
    oauth_session.complete_login(redirected)
    assert oauth_session.check().success


def test_declined_consent_says_so_and_a_second_try_works(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    url = oauth_session.begin_login()
    with pytest.raises(ConsentDeniedError, match="declined"):
        oauth_session.complete_login(sandbox.approve(url, deny=True))
    assert oauth_session.auth_method is None
    assert oauth_session.login_attempt is not None
    assert oauth_session.login_attempt.status == "denied"
    # The declined attempt is over: approving it again is named as such, before any request.
    tokens = sandbox.count("token")
    with pytest.raises(LoginError, match="already ended: access was declined"):
        oauth_session.complete_login(sandbox.approve(url))
    assert sandbox.count("token") == tokens
    # A second try is a new attempt, with a new state, and it works.
    second = oauth_session.begin_login()
    assert query(second)["state"] != query(url)["state"]
    oauth_session.complete_login(sandbox.approve(second))
    assert oauth_session.check().success


def test_a_reused_code_is_rejected_with_advice(oauth_session: Session, sandbox: Sandbox) -> None:
    redirected = sandbox.approve(oauth_session.begin_login())
    code = query(redirected)["code"]
    oauth_session.complete_login(redirected)
    oauth_session.begin_login()
    with pytest.raises(InvalidCodeError, match="This login is still open") as info:
        oauth_session.complete_login(code)
    assert info.value.error == "invalid_grant"
    assert code not in str(info.value)


def test_a_code_from_an_older_login_fails_the_verifier(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    stale_url = oauth_session.begin_login()
    fresh_url = oauth_session.begin_login()
    stale_code = query(sandbox.approve(stale_url))["code"]
    with pytest.raises(InvalidCodeError):
        oauth_session.complete_login(stale_code)
    oauth_session.complete_login(sandbox.approve(fresh_url))
    assert oauth_session.check().success


def test_an_expired_code_is_rejected(oauth_session: Session, sandbox: Sandbox) -> None:
    sandbox.code_ttl = 0.2
    redirected = sandbox.approve(oauth_session.begin_login())
    time.sleep(0.4)
    with pytest.raises(InvalidCodeError):
        oauth_session.complete_login(redirected)


def test_completing_without_beginning_says_to_begin(oauth_session: Session) -> None:
    with pytest.raises(LoginError, match="No login is in progress"):
        oauth_session.complete_login("abc")


def test_refresh_rotates_the_refresh_token(oauth_session: Session, sandbox: Sandbox) -> None:
    log_in(oauth_session, sandbox)
    before = oauth_session.token_info
    info = oauth_session.refresh()
    assert sandbox.count("token:refresh_token") == 1
    assert before is not None
    assert info.expires_at >= before.expires_at
    assert oauth_session.check().email == "ada@example.com"
    oauth_session.refresh()
    assert sandbox.count("token:refresh_token") == 2


def test_without_rotation_the_old_refresh_token_is_kept(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    sandbox.rotate_refresh_tokens = False
    log_in(oauth_session, sandbox)
    oauth_session.refresh()
    info = oauth_session.refresh()
    assert info.has_refresh_token
    assert sandbox.count("token:refresh_token") == 2


def test_a_rejected_refresh_token_ends_the_session_clearly(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    log_in(oauth_session, sandbox)
    sandbox.revoke_refresh_tokens()
    with pytest.raises(SessionExpiredError, match="Log in again"):
        oauth_session.refresh()
    assert oauth_session.auth_method is None
    with pytest.raises(SessionExpiredError, match="Log in again"):
        oauth_session.check()
    log_in(oauth_session, sandbox)
    assert oauth_session.check().success


def test_an_expired_access_token_is_refreshed_once_on_401(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    log_in(oauth_session, sandbox)
    sandbox.expire_access_tokens()
    assert oauth_session.check().email == "ada@example.com"
    assert sandbox.count("token:refresh_token") == 1
    assert sandbox.count("check") == 2


def test_a_401_after_the_refresh_is_not_retried_again(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    log_in(oauth_session, sandbox)
    sandbox.fail_next("check", status=401, times=2)
    with pytest.raises(Exception, match="Log in again") as info:
        oauth_session.check()
    assert getattr(info.value, "status_code", None) == 401
    assert sandbox.count("token:refresh_token") == 1
    assert sandbox.count("check") == 2
    assert oauth_session.check().success


def test_logout_forgets_the_tokens(oauth_session: Session, sandbox: Sandbox) -> None:
    log_in(oauth_session, sandbox)
    oauth_session.logout()
    assert oauth_session.token_info is None
    with pytest.raises(LoginRequiredError):
        oauth_session.check()


@pytest.mark.anyio
async def test_acheck_after_an_oauth_login(oauth_session: Session, sandbox: Sandbox) -> None:
    log_in(oauth_session, sandbox)
    sandbox.expire_access_tokens()
    assert (await oauth_session.acheck()).email == "ada@example.com"
    assert sandbox.count("token:refresh_token") == 1
    await oauth_session.aclose()


def test_login_link_signs_up_a_new_user(oauth_session: Session, sandbox: Sandbox) -> None:
    link = oauth_session.login_link(
        first_name="Grace", last_name="Hopper", email="grace@example.org"
    )
    assert link.startswith(sandbox.base_url)
    assert sandbox.count("login_link") == 1
    oauth_session.complete_login(sandbox.follow_login_link(link))
    result = oauth_session.check()
    assert (result.email, result.name) == ("grace@example.org", "Grace Hopper")


def test_login_link_refuses_a_non_email(oauth_session: Session, sandbox: Sandbox) -> None:
    with pytest.raises(ConfigurationError, match="not an email"):
        oauth_session.login_link(first_name="A", last_name="B", email="nobody")
    assert sandbox.count("login_link") == 0


def test_subscribers_hear_every_change_of_login_state(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    seen: list[str | None] = []

    def record() -> None:
        info = oauth_session.token_info
        seen.append(None if info is None else oauth_session.auth_method)

    unsubscribe = oauth_session.subscribe(record)
    log_in(oauth_session, sandbox)  # begin_login, then the token arrives and OAuth is set
    assert seen[-1] == "oauth"
    before = len(seen)
    oauth_session.refresh()
    assert len(seen) > before
    assert seen[-1] == "oauth"
    oauth_session.logout()
    assert seen[-1] is None
    unsubscribe()
    count = len(seen)
    oauth_session.use_api_key(sandbox.api_key)
    assert len(seen) == count


def test_a_rejected_refresh_token_is_heard_as_a_logout(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    log_in(oauth_session, sandbox)
    states: list[bool] = []
    oauth_session.subscribe(lambda: states.append(oauth_session.token_info is not None))
    sandbox.revoke_refresh_tokens()
    with pytest.raises(SessionExpiredError):
        oauth_session.refresh()
    assert states == [False]


def test_a_failing_subscriber_does_not_break_the_login(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    def broken() -> None:
        raise RuntimeError("listener bug")

    oauth_session.subscribe(broken)
    log_in(oauth_session, sandbox)
    assert oauth_session.check().email == "ada@example.com"


@pytest.mark.parametrize("link", ["javascript:alert(document.cookie)", "http://evil.example/x"])
def test_a_sign_up_link_that_is_not_https_is_not_shown(
    oauth_session: Session, sandbox: Sandbox, link: str
) -> None:
    sandbox.fail_next("login_link", status=200, body=json.dumps({"login_link": link}))
    with pytest.raises(ConfigurationError, match="not an https address") as info:
        oauth_session.login_link(first_name="Grace", last_name="Hopper", email="g@example.org")
    assert link not in str(info.value)


def test_two_answers_at_once_spend_the_code_once(oauth_session: Session, sandbox: Sandbox) -> None:
    """A paste while the page relays the same answer: the second is refused before any
    request, since spending the code twice may revoke what the first one got."""
    redirected = sandbox.approve(oauth_session.begin_login())
    sandbox.fail_next("token", status=0, delay=0.5)  # the first exchange takes a while
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(oauth_session.complete_login, redirected)
        deadline = time.monotonic() + 5
        while sandbox.count("token") == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        second = pool.submit(oauth_session.complete_login, redirected)
        with pytest.raises(LoginError, match="being completed already"):
            second.result()
        first.result()
    assert sandbox.count("token:authorization_code") == 1
    assert oauth_session.check().email == "ada@example.com"


def test_each_change_is_heard_once_and_agrees_with_the_state(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    """One notification per begun attempt, login, refresh and logout; whatever a subscriber
    reads at that moment is the new state, never a half-made one."""
    seen: list[tuple[str | None, bool, str | None]] = []

    def record() -> None:
        attempt = oauth_session.login_attempt
        seen.append(
            (
                oauth_session.auth_method,
                oauth_session.token_info is not None,
                None if attempt is None else attempt.status,
            )
        )

    oauth_session.subscribe(record)
    url = oauth_session.begin_login()
    assert seen == [(None, False, "pending")]
    oauth_session.complete_login(sandbox.approve(url))
    assert seen[1:] == [("oauth", True, "logged_in")]
    oauth_session.refresh()
    assert seen[2:] == [("oauth", True, "logged_in")]
    oauth_session.logout()
    assert seen[3:] == [(None, False, "logged_in")]
    oauth_session.use_api_key(sandbox.api_key)
    assert seen[4:] == [("api_key", False, "logged_in")]
    assert len(seen) == 5


def test_a_declined_attempt_is_heard_once(oauth_session: Session, sandbox: Sandbox) -> None:
    url = oauth_session.begin_login()
    statuses: list[str | None] = []
    oauth_session.subscribe(
        lambda: statuses.append(getattr(oauth_session.login_attempt, "status", None))
    )
    with pytest.raises(ConsentDeniedError):
        oauth_session.complete_login(sandbox.approve(url, deny=True))
    assert statuses == ["denied"]
