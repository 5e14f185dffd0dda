"""The login state machine on its own: every transition, with no sockets and no session."""

from __future__ import annotations

import threading

import pytest

from zapier_nb import (
    APIConnectionError,
    AuthorizationError,
    ConsentDeniedError,
    InvalidCodeError,
    LoginError,
    OAuthError,
    StateMismatchError,
)
from zapier_nb._login import AlreadyAnswered, LoginAnswer, LoginAttempt, LoginFlow, start_attempt


def attempt(state: str = "s-1") -> LoginAttempt:
    return LoginAttempt(f"https://x.test/authorize?state={state}", state, "https://x.test/cb", "c")


def answer(state: str | None = "s-1", code: str | None = "c0de", **more: str) -> LoginAnswer:
    return LoginAnswer(code=code, state=state, **more)


def test_a_new_attempt_is_pending_with_its_own_state_and_verifier() -> None:
    one = start_attempt(
        "https://x.test", client_id="c", redirect_uri="https://x.test/cb", scope="s"
    )
    two = start_attempt(
        "https://x.test", client_id="c", redirect_uri="https://x.test/cb", scope="s"
    )
    assert one.status == two.status == "pending"
    assert one.state != two.state
    assert one.verifier is not None
    assert two.verifier is not None
    assert one.verifier.get_secret_value() != two.verifier.get_secret_value()
    assert f"state={one.state}" in one.url
    assert one.verifier.get_secret_value() not in repr(one)


def test_pending_then_exchanging_then_logged_in() -> None:
    flow = LoginFlow()
    first = attempt()
    flow.begin(first)
    assert flow.open_attempt is first
    taken, code = flow.take(answer())
    assert taken is first
    assert code.get_secret_value() == "c0de"
    assert first.status == "exchanging"
    assert flow.open_attempt is first
    flow.finish(first)
    assert first.status == "logged_in"
    assert flow.open_attempt is None
    assert flow.current is first


def test_a_bare_code_needs_no_state_but_a_url_form_does() -> None:
    flow = LoginFlow()
    flow.begin(attempt())
    with pytest.raises(StateMismatchError, match="carries no state"):
        flow.take(answer(state=None))
    _, code = flow.take(LoginAnswer(code="bare", bare=True))
    assert code.get_secret_value() == "bare"


def test_a_wrong_state_leaves_the_attempt_pending() -> None:
    flow = LoginFlow()
    current = attempt()
    flow.begin(current)
    with pytest.raises(StateMismatchError, match="different login attempt"):
        flow.take(answer(state="s-other"))
    assert current.status == "pending"
    flow.take(answer())
    assert current.status == "exchanging"


def test_a_denial_ends_the_attempt_and_the_next_one_is_new() -> None:
    flow = LoginFlow()
    denied = attempt("s-1")
    flow.begin(denied)
    with pytest.raises(ConsentDeniedError, match="declined"):
        flow.take(answer(code=None, error="access_denied"))
    assert denied.status == "denied"
    assert flow.open_attempt is None
    # Approving the declined attempt later is named as such, never as another login.
    with pytest.raises(LoginError, match="That login already ended: access was declined") as late:
        flow.take(answer("s-1"))
    assert not isinstance(late.value, StateMismatchError)
    fresh = attempt("s-2")
    flow.begin(fresh)
    assert flow.take(answer("s-2"))[0] is fresh


def test_another_consent_error_fails_the_attempt() -> None:
    flow = LoginFlow()
    current = attempt()
    flow.begin(current)
    with pytest.raises(AuthorizationError, match="invalid_scope") as info:
        flow.take(answer(code=None, error="invalid_scope"))
    assert not isinstance(info.value, ConsentDeniedError)
    assert current.status == "failed"


def test_an_answer_for_an_attempt_that_logged_in_is_already_answered() -> None:
    flow = LoginFlow()
    first = attempt("s-1")
    flow.begin(first)
    flow.take(answer("s-1"))
    flow.finish(first)
    with pytest.raises(AlreadyAnswered, match="already ended: it logged you in"):
        flow.take(answer("s-1"))
    flow.begin(attempt("s-2"))
    with pytest.raises(AlreadyAnswered, match="already ended"):
        flow.take(answer("s-1"))


def test_an_attempt_replaced_by_a_new_one_is_ended() -> None:
    flow = LoginFlow()
    old = attempt("s-1")
    flow.begin(old)
    flow.begin(attempt("s-2"))
    assert old.status == "failed"
    with pytest.raises(LoginError, match="That login already ended") as info:
        flow.take(answer("s-1"))
    assert "another login" not in str(info.value)


def test_no_attempt_says_to_start_one() -> None:
    with pytest.raises(LoginError, match="No login is in progress"):
        LoginFlow().take(answer())


def test_a_cancelled_attempt_is_over() -> None:
    flow = LoginFlow()
    current = attempt()
    flow.begin(current)
    flow.cancel()
    assert current.status == "failed"
    assert flow.open_attempt is None


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (InvalidCodeError("refused", status_code=400, error="invalid_grant"), "pending"),
        (APIConnectionError("dropped"), "pending"),
        (OAuthError("refused", status_code=401, error="invalid_client"), "failed"),
    ],
)
def test_an_exchange_that_fails_leaves_the_attempt_open_unless_the_client_is_refused(
    error: Exception, status: str
) -> None:
    flow = LoginFlow()
    current = attempt()
    flow.begin(current)
    flow.take(answer())
    flow.finish(current, error)
    assert current.status == status


def test_a_second_answer_while_exchanging_is_refused_and_a_new_attempt_waits() -> None:
    flow = LoginFlow()
    current = attempt()
    flow.begin(current)
    flow.take(answer())
    with pytest.raises(AlreadyAnswered, match="being completed already"):
        flow.take(answer())
    with pytest.raises(LoginError, match="being completed right now"):
        flow.begin(attempt("s-2"))
    assert flow.current is current


def test_two_answers_at_once_spend_the_code_once() -> None:
    flow = LoginFlow()
    flow.begin(attempt())
    start = threading.Barrier(8)
    spent: list[str] = []
    refused: list[Exception] = []

    def deliver() -> None:
        start.wait()
        try:
            spent.append(flow.take(answer())[1].get_secret_value())
        except AlreadyAnswered as exc:
            refused.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert spent == ["c0de"]
    assert len(refused) == 7


def test_an_issuer_mismatch_is_refused() -> None:
    flow = LoginFlow()
    current = LoginAttempt("u", "s-1", "r", "c", issuer="https://as.example")
    flow.begin(current)
    with pytest.raises(StateMismatchError, match="another server"):
        flow.take(answer(iss="https://evil.example"))
    assert current.status == "pending"
    assert flow.take(answer(iss="https://as.example"))[0] is current


@pytest.mark.parametrize(
    "query",
    [
        {"code": ["c0de"], "state": ["s-1"]},
        {"code": "c0de", "state": "s-1", "extra": "ignored"},
    ],
)
def test_a_callback_query_or_relayed_message_reads_into_one_answer(
    query: dict[str, object],
) -> None:
    read = LoginAnswer.from_query(query)
    assert (read.code, read.state, read.bare) == ("c0de", "s-1", False)


def test_fields_that_are_not_text_or_hold_control_characters_are_absent() -> None:
    read = LoginAnswer.from_query(
        {"code": 42, "state": "s\x00-1", "error": ["a", "b"], "error_description": "x" * 5000}
    )
    assert (read.code, read.state, read.error, read.error_description) == (None,) * 4
    assert "c0de" not in repr(LoginAnswer(code="c0de"))
