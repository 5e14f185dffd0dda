"""No key, token, code or verifier reaches a repr, an error message, a log line or the output."""

from __future__ import annotations

import asyncio
import json
import logging
import pprint
import traceback
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import assert_no_secrets, log_in

from zapier_nb import (
    AuthenticationError,
    InvalidCodeError,
    LoginError,
    PermissionDeniedError,
    ResponseValidationError,
    Session,
    ZapierError,
)
from zapier_nb.sandbox import Sandbox


def test_no_secret_escapes_a_full_scenario(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    session = Session(
        client_id=sandbox.client_id,
        redirect_uri=sandbox.redirect_uri,
        base_url=sandbox.base_url,
        timeout=0.5,
        max_retries=1,
    )
    log_in(session, sandbox)
    texts += [repr(session), str(session), repr(session.token_info), repr(session.check())]
    session.refresh()
    sandbox.expire_access_tokens()
    texts.append(repr(session.check()))

    failures: list[ZapierError] = []
    redirected = sandbox.approve(session.begin_login())
    for fault in (
        {"status": 500, "times": -1},
        {"status": 200, "body": "{"},
        {"delay": 1.0, "status": 0},
    ):
        sandbox.fail_next("token", **fault)  # type: ignore[arg-type]
        with pytest.raises(ZapierError) as info:
            session.complete_login(redirected)
        failures.append(info.value)
        sandbox.clear_faults()
    session.complete_login(redirected)
    with pytest.raises(ZapierError) as info:
        session.complete_login(redirected)
    failures.append(info.value)
    sandbox.revoke_refresh_tokens()
    with pytest.raises(ZapierError) as info:
        session.refresh()
    failures.append(info.value)

    key_session = Session(api_key=sandbox.api_key, base_url=sandbox.base_url)
    texts += [repr(key_session), repr(key_session.client.auth), repr(key_session.check())]
    for error in failures:
        texts += [str(error), repr(error), repr(getattr(error, "body", None)), repr(error.args)]
    texts += [record.getMessage() for record in caplog.records]
    captured = capsys.readouterr()
    texts += [captured.out, captured.err]

    assert len(failures) == 5
    assert any("refresh" in record.getMessage() for record in caplog.records)
    assert_no_secrets(texts, sandbox)


# -- what a traceback with local variables shows (%xmode Verbose) -------------------------

FAKE_ACCESS = "sbx_at_echoed-access-token-0123456789"
FAKE_REFRESH = "sbx_rt_echoed-refresh-token-0123456789"
MALFORMED_TOKEN_ANSWER = json.dumps(
    {"access_token": FAKE_ACCESS, "refresh_token": FAKE_REFRESH, "token_type": "Bearer"}
)


def locals_shown(error: BaseException) -> str:
    """Every local variable a verbose traceback would print, outside this test's own frames."""
    summary = traceback.TracebackException.from_exception(error, capture_locals=True)
    frames = [frame for frame in summary.stack if Path(frame.filename).parent != HERE]
    assert frames, "the error should come from zapier_nb's own code"
    return "\n".join(f"{name}={value}" for f in frames for name, value in (f.locals or {}).items())


HERE = Path(__file__).parent


def code_of(redirected: str) -> str:
    return parse_qs(urlsplit(redirected).query)["code"][0]


def test_a_malformed_code_exchange_answer_shows_no_secret_in_locals(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    redirected = sandbox.approve(oauth_session.begin_login())
    sandbox.fail_next("token", status=200, body=MALFORMED_TOKEN_ANSWER)
    with pytest.raises(ResponseValidationError) as info:
        oauth_session.complete_login(redirected)
    shown = locals_shown(info.value)
    assert "expires_in" in str(info.value)
    for secret in (FAKE_ACCESS, FAKE_REFRESH, code_of(redirected)):
        assert secret not in shown
    assert_no_secrets([shown], sandbox)


@pytest.mark.parametrize("flow", ["sync", "async"])
def test_a_malformed_refresh_answer_shows_no_secret_in_locals(
    oauth_session: Session, sandbox: Sandbox, flow: str
) -> None:
    log_in(oauth_session, sandbox)
    sandbox.expire_access_tokens()
    sandbox.fail_next("token", status=200, body=MALFORMED_TOKEN_ANSWER)
    check = oauth_session.check if flow == "sync" else lambda: asyncio.run(oauth_session.acheck())
    with pytest.raises(ResponseValidationError) as info:
        check()
    shown = locals_shown(info.value)
    assert FAKE_ACCESS not in shown
    assert FAKE_REFRESH not in shown
    assert_no_secrets([shown], sandbox)


def test_a_rejected_or_forged_code_shows_no_code_or_verifier_in_locals(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    redirected = sandbox.approve(oauth_session.begin_login())
    oauth_session.complete_login(redirected)
    oauth_session.begin_login()
    with pytest.raises(LoginError, match="already ended") as forged:
        oauth_session.complete_login(redirected)  # the state of the earlier login
    again = sandbox.approve(oauth_session.begin_login())
    sandbox.fail_next("token", status=400, body='{"error": "invalid_grant"}')
    with pytest.raises(InvalidCodeError) as rejected:
        oauth_session.complete_login(again)
    for error in (forged.value, rejected.value):
        shown = locals_shown(error)
        assert code_of(redirected) not in shown
        assert code_of(again) not in shown
        assert_no_secrets([shown], sandbox)


def test_a_refused_api_key_shows_in_no_local(sandbox: Sandbox) -> None:
    key = "sbx_key_a-wrong-key-typed-by-hand"
    session = Session(api_key=key, base_url=sandbox.base_url)
    with pytest.raises(AuthenticationError) as info:
        session.check()
    assert key not in locals_shown(info.value)


# -- what a server echoes back ------------------------------------------------------------


def test_a_server_echoing_the_api_key_cannot_put_it_in_the_error(sandbox: Sandbox) -> None:
    session = Session(api_key=sandbox.api_key, base_url=sandbox.base_url)
    echo = {"detail": f"Key {sandbox.api_key} is disabled", "x-api-key": sandbox.api_key}
    sandbox.fail_next("check", status=403, body=json.dumps({**echo, "note": sandbox.api_key}))
    with pytest.raises(PermissionDeniedError) as info:
        session.check()
    error = info.value
    assert "is disabled" in error.message
    assert error.body["note"] == "***"
    assert_no_secrets([str(error), repr(error), repr(error.body), locals_shown(error)], sandbox)


def test_a_server_echoing_the_code_cannot_put_it_in_the_error(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    redirected = sandbox.approve(oauth_session.begin_login())
    code = code_of(redirected)
    body = {"error": "invalid_grant", "error_description": f"Code {code} expired", "hint": code}
    sandbox.fail_next("token", status=400, body=json.dumps(body))
    with pytest.raises(InvalidCodeError) as info:
        oauth_session.complete_login(redirected)
    error = info.value
    texts = [str(error), repr(error), repr(error.body), str(error.error_description)]
    assert "expired" in error.message
    assert not any(code in text for text in texts)


def test_a_server_echoing_the_access_token_cannot_put_it_in_the_error(
    oauth_session: Session, sandbox: Sandbox
) -> None:
    log_in(oauth_session, sandbox)
    token = oauth_session._keeper.current().access_token.get_secret_value()
    body = json.dumps({"detail": f"token {token} lacks a scope", "seen": [token]})
    sandbox.fail_next("check", status=403, body=body)
    with pytest.raises(PermissionDeniedError) as info:
        oauth_session.check()
    assert "lacks a scope" in info.value.message
    assert_no_secrets([str(info.value), repr(info.value.body)], sandbox)


def test_the_session_holds_the_api_key_in_no_plain_attribute(sandbox: Sandbox) -> None:
    session = Session(api_key=sandbox.api_key, base_url=sandbox.base_url)
    session.check()
    shown = [pprint.pformat(vars(session))]
    shown += [
        pprint.pformat(vars(value))
        for value in vars(session).values()
        if hasattr(value, "__dict__")
    ]
    assert sandbox.api_key not in "\n".join(shown)


def test_verbose_tracebacks_of_the_key_paths_hold_no_key(sandbox: Sandbox) -> None:
    """`%xmode Verbose` shows every frame's locals: the key must be in none of them."""
    key = "sbx_key_typed-into-a-verbose-notebook"
    with pytest.raises(ZapierError) as bad_url:
        Session(api_key=key, base_url="ftp://example.org")
    with pytest.raises(ZapierError) as bad_timeout:
        Session(api_key=key, base_url=sandbox.base_url, timeout=-1)
    session = Session(api_key=sandbox.api_key, base_url=sandbox.base_url)
    with pytest.raises(AuthenticationError) as refused:
        session.check_api_key(key)
    for error in (bad_url.value, bad_timeout.value, refused.value):
        assert key not in locals_shown(error)


def test_a_half_built_session_has_a_safe_repr() -> None:
    half = Session.__new__(Session)
    assert repr(half) == "Session(<not set up>)"
    with pytest.raises(ZapierError) as info:
        Session(base_url="ftp://example.org")
    assert "Session(<not set up>)" in locals_shown(info.value)
