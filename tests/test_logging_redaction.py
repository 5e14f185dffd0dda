"""Log hygiene: the toolkit's logger and the HTTP stack's, at DEBUG, never show a secret.

What the HTTP stack logs (checked here, so a new release that logs more is caught):
httpx2 logs each request's method, URL and status at INFO; httpcore2 logs connection
events and each response's status and headers at DEBUG, but not request headers or
bodies. So the Authorization and x-api-key headers and the token form never reach a
log, a `Set-Cookie` would, and a secret in a URL would: the toolkit puts none in one.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from helpers import assert_no_secrets, audit, capture_everything, log_in, log_texts

from zapier_nb import Session, ZapierError
from zapier_nb._logging import PROTECTED_LOGGERS, RedactingFilter, redact_text
from zapier_nb.sandbox import Sandbox


@pytest.fixture(autouse=True)
def everything_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    capture_everything(caplog)


def test_a_full_scenario_at_debug_logs_no_secret(
    sandbox: Sandbox,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    urls: list[str] = []
    caught: list[BaseException] = []

    def remember(request: object) -> None:
        urls.append(str(getattr(request, "url", "")))

    session = Session(
        client_id=sandbox.client_id,
        redirect_uri=sandbox.redirect_uri,
        base_url=sandbox.base_url,
        token_cache=tmp_path / "cache",
        timeout=0.5,
        max_retries=1,
    )
    session.client.event_hooks["request"].append(remember)
    log_in(session, sandbox)
    session.check()
    session.refresh()
    sandbox.expire_access_tokens()
    session.check()  # the 401 path

    async def run_async() -> None:
        session.async_client.event_hooks["request"].append(_async_hook(remember))
        await session.acheck()
        sandbox.expire_access_tokens()
        await session.acheck()
        await session.aclose()

    asyncio.run(run_async())
    session.client.event_hooks["request"].append(remember)
    session.login_link(first_name="Grace", last_name="Hopper", email="grace@example.com")
    for fault in ({"status": 500, "times": -1}, {"drop": True}, {"status": 0, "delay": 0.8}):
        sandbox.fail_next("token", **fault)  # type: ignore[arg-type]
        with pytest.raises(ZapierError) as info:
            session.refresh()
        caught.append(info.value)
        sandbox.clear_faults()
    sandbox.revoke_refresh_tokens()
    with pytest.raises(ZapierError) as info:
        session.refresh()
    caught.append(info.value)
    key_session = Session(api_key=sandbox.api_key, base_url=sandbox.base_url)
    key_session.client.event_hooks["request"].append(remember)
    key_session.check()

    names = {record.name for record in caplog.records}
    assert {"zapier_nb", "httpx2", "httpcore2.http11", "httpcore2.connection"} <= names
    messages = log_texts(caplog)
    assert any("receive_response_headers.complete" in m for m in messages)
    assert any("HTTP Request: POST" in m for m in messages)
    assert len(urls) >= 10
    captured = capsys.readouterr()
    audit(
        sandbox,
        caplog,
        roots=[tmp_path],
        errors=caught,
        texts=[*urls, captured.out, captured.err],
    )


def _async_hook(hook: object) -> object:
    async def call(request: object) -> None:
        hook(request)  # type: ignore[operator]

    return call


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("Authorization: Bearer sbx_at_abcdef123456", "Authorization: ***"),
        ("headers=[(b'set-cookie', b'sessionid=abc123456; Path=/')]", "(b'set-cookie', b'***')"),
        ("[('x-api-key', 'sbx_key_abcdef')]", "('x-api-key', '***')"),
        ('{"refresh_token": "sbx_rt_abcdef123456", "scope": "openid"}', '"scope": "openid"'),
        ("grant_type=refresh_token&refresh_token=sbx_rt_abc&client_id=cid", "client_id=cid"),
        ("code=sbx_code_abcdef&state=xyz", "state=xyz"),
        ("code_verifier='abcdefghijklmnop'", "code_verifier='***'"),
        ("sent Bearer eyJhbGciOi.eyJzdWIi.c2ln to the API", "sent Bearer *** to the API"),
    ],
)
def test_redaction_masks_credentials_in_free_text(text: str, kept: str) -> None:
    cleaned = redact_text(text)
    assert kept in cleaned
    for secret in ("sbx_at_abcdef", "abc123456", "sbx_key_abcdef", "sbx_rt_abc", "sbx_code_"):
        assert secret not in cleaned
    assert "abcdefghijklmnop" not in cleaned
    assert "eyJhbGciOi" not in cleaned


def test_ordinary_log_lines_are_left_alone() -> None:
    for text in (
        "refreshing the access token",
        "retrying GET /api/v2/auth/check/ after HTTP 503 (attempt 2)",
        'HTTP Request: GET http://127.0.0.1:8765/api/v2/auth/check/ "HTTP/1.1 200 OK"',
        "receive_response_headers.complete return_value=(b'HTTP/1.1', 200, b'OK', "
        "[(b'content-type', b'application/json')])",
    ):
        assert redact_text(text) == text


def test_the_filter_guards_the_toolkit_and_http_loggers(caplog: pytest.LogCaptureFixture) -> None:
    Session(api_key="k" * 20, base_url="https://actions.zapier.com")  # installs the filters
    for name in PROTECTED_LOGGERS:
        filters = logging.getLogger(name).filters
        assert sum(isinstance(f, RedactingFilter) for f in filters) == 1, name
    Session(api_key="k" * 20, base_url="https://actions.zapier.com")  # ... only once
    assert sum(isinstance(f, RedactingFilter) for f in logging.getLogger("zapier_nb").filters) == 1
    careless = "Bearer sbx_at_" + "x" * 30
    logging.getLogger("zapier_nb").info("sending %s", careless)
    logging.getLogger("httpcore2.http11").debug(
        "receive_response_headers.complete return_value=(b'HTTP/1.1', 200, b'OK', "
        "[(b'set-cookie', b'session=%s')])",
        "s" * 30,
    )
    texts = log_texts(caplog)
    assert "x" * 30 not in " ".join(texts)
    assert "s" * 30 not in " ".join(texts)


def test_a_set_cookie_from_a_real_response_is_masked(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """The sandbox's sign-up form answers with a cookie; the transport logs it at DEBUG."""
    session = Session(
        client_id=sandbox.client_id, redirect_uri=sandbox.redirect_uri, base_url=sandbox.base_url
    )
    link = session.login_link(first_name="Ada", last_name="L", email="ada2@example.com")
    ticket = parse_qs(urlsplit(link).query)["t"][0]
    with httpx2.Client(base_url=sandbox.base_url) as browser:
        answer = browser.post("/sandbox/sign-up/", data={"t": ticket})
    assert "sandbox_user=" in answer.headers["set-cookie"]
    cookie_lines = [m for m in log_texts(caplog) if "set-cookie" in m.lower()]
    assert cookie_lines
    assert all("set-cookie', b'***')" in line for line in cookie_lines)
    assert not any("sandbox_user=" in line for line in log_texts(caplog))
    assert_no_secrets(log_texts(caplog), sandbox)
