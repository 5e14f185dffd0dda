"""Server failures, timeouts and bad answers: a clear error, and the session stays usable."""

from __future__ import annotations

import socket

import pytest
from helpers import log_in

from zapier_nb import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    Session,
)
from zapier_nb.sandbox import Sandbox


def test_a_500_from_the_token_endpoint_is_not_resent(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    redirected = sandbox.approve(oauth_session.begin_login())
    sandbox.fail_next("token", status=500)
    with pytest.raises(ServerError, match="try again"):
        oauth_session.complete_login(redirected)
    assert sandbox.count("token") == 1
    oauth_session.complete_login(redirected)  # this fault came before the code was used
    assert oauth_session.check().success


def test_a_503_with_retry_after_from_the_token_endpoint_is_retried(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    redirected = sandbox.approve(oauth_session.begin_login())
    sandbox.fail_next("token", status=503, retry_after=0.1)
    oauth_session.complete_login(redirected)
    assert sandbox.count("token") == 2
    assert oauth_session.check().success


def test_a_retry_after_longer_than_a_few_seconds_is_left_to_the_caller(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    redirected = sandbox.approve(oauth_session.begin_login())
    sandbox.fail_next("token", status=429, retry_after=120)
    with pytest.raises(RateLimitError):
        oauth_session.complete_login(redirected)
    assert sandbox.count("token") == 1


def test_a_token_endpoint_that_keeps_failing_gives_a_server_error(
    quick: Session, sandbox: Sandbox
) -> None:
    redirected = sandbox.approve(quick.begin_login())
    sandbox.fail_next("token", status=503, times=-1)
    with pytest.raises(ServerError, match="try again") as info:
        quick.complete_login(redirected)
    assert info.value.status_code == 503
    assert info.value.body["error"] == "temporarily_unavailable"
    assert sandbox.count("token") == 1
    sandbox.clear_faults()
    quick.complete_login(redirected)
    assert quick.auth_method == "oauth"


def test_a_failing_refresh_keeps_the_tokens(quick: Session, sandbox: Sandbox) -> None:
    log_in(quick, sandbox)
    sandbox.fail_next("token", status=500, times=-1)
    with pytest.raises(ServerError):
        quick.refresh()
    sandbox.clear_faults()
    assert quick.token_info is not None
    quick.refresh()
    assert quick.check().success


def test_a_slow_check_times_out_after_one_retry(quick: Session, sandbox: Sandbox) -> None:
    sandbox.fail_next("check", delay=1.5, status=0, times=2)
    with pytest.raises(APITimeoutError, match="did not answer in time"):
        quick.check()
    assert sandbox.count("check") == 2
    assert quick.check().success


def test_a_slow_refresh_is_not_sent_twice(quick: Session, sandbox: Sandbox) -> None:
    log_in(quick, sandbox)
    sandbox.fail_next("token", delay=1.5, status=0)
    with pytest.raises(APITimeoutError):
        quick.refresh()
    assert sandbox.count("token:refresh_token") == 1


def test_malformed_json_is_a_clear_error(quick: Session, sandbox: Sandbox) -> None:
    sandbox.fail_next("check", status=200, body="{not json")
    with pytest.raises(ResponseValidationError, match="malformed JSON"):
        quick.check()
    assert quick.check().success


def test_a_wrong_content_type_is_a_clear_error(quick: Session, sandbox: Sandbox) -> None:
    sandbox.fail_next("check", status=200, body="<html>login</html>", content_type="text/html")
    with pytest.raises(ResponseValidationError, match="not JSON"):
        quick.check()
    assert quick.check().success


def test_a_token_answer_missing_a_field_names_it_and_hides_the_token(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    redirected = sandbox.approve(oauth_session.begin_login())
    leaked = "sbx_at_would-be-secret-value"
    sandbox.fail_next(
        "token", status=200, body=f'{{"access_token": "{leaked}", "token_type": "Bearer"}}'
    )
    with pytest.raises(ResponseValidationError, match="expires_in") as info:
        oauth_session.complete_login(redirected)
    assert leaked not in str(info.value)
    assert leaked not in repr(info.value.body)


def test_a_dropped_connection_on_a_get_is_retried(quick: Session, sandbox: Sandbox) -> None:
    sandbox.fail_next("check", drop=True)
    assert quick.check().success
    assert sandbox.count("check") == 2


def test_a_connection_refused_says_to_check_the_url() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    session = Session(api_key="k" * 20, base_url=f"http://127.0.0.1:{port}", max_retries=0)
    with pytest.raises(APIConnectionError, match="could not reach") as info:
        session.check()
    assert "k" * 20 not in str(info.value)


@pytest.mark.parametrize(("status", "error"), [(403, PermissionDeniedError), (404, APIStatusError)])
def test_client_errors_map_to_their_classes_and_are_not_retried(
    quick: Session, sandbox: Sandbox, status: int, error: type[Exception]
) -> None:
    sandbox.fail_next("check", status=status)
    with pytest.raises(error):
        quick.check()
    assert sandbox.count("check") == 1


def test_a_429_on_a_get_is_retried_and_a_lasting_one_is_a_rate_limit_error(
    quick: Session, sandbox: Sandbox
) -> None:
    sandbox.fail_next("check", status=429, retry_after=0)
    assert quick.check().success
    assert sandbox.count("check") == 2
    sandbox.fail_next("check", status=429, times=-1)
    with pytest.raises(RateLimitError, match="Wait a little"):
        quick.check()
    assert sandbox.count("check") == 4
