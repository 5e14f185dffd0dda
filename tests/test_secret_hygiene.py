"""No key, token, code or verifier reaches a repr, an error message, a log line or the output."""

from __future__ import annotations

import logging

import pytest
from helpers import assert_no_secrets, log_in

from zapier_nb import Session, ZapierError
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
