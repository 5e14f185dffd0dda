"""Helpers the tests share: playing a login, and searching what a scenario left for secrets."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from zapier_nb import Session
from zapier_nb._login import LoginAnswer, LoginAttempt, LoginFlow
from zapier_nb.sandbox import Sandbox

# The toolkit's logger and the HTTP stack's, all at DEBUG while an audited test runs.
AUDITED_LOGGERS = ("zapier_nb", "httpx2", "httpcore2")


def log_in(session: Session, sandbox: Sandbox) -> None:
    """Play the whole PKCE login: consent approved, the redirected URL pasted back."""
    session.complete_login(sandbox.approve(session.begin_login()))


def access_token(session: Session) -> str:
    """The access token the session holds now (tests compare it before and after)."""
    token = session._keeper.token
    assert token is not None
    return token.access_token.get_secret_value()


def assert_no_secrets(texts: Iterable[str], sandbox: Sandbox) -> None:
    secrets = sandbox.issued_secrets()
    assert secrets, "the scenario should have produced secrets to look for"
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"a secret ({secret[:8]}...) leaked"


def capture_everything(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    for name in AUDITED_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)


def log_texts(caplog: pytest.LogCaptureFixture) -> list[str]:
    texts = []
    for record in caplog.records:
        texts.append(record.getMessage())
        if record.exc_text:
            texts.append(record.exc_text)
    return texts


def listing(*roots: Path) -> list[str]:
    """Every file and directory name under the roots (names only, never contents)."""
    return [str(path) for root in roots if root.exists() for path in sorted(root.rglob("*"))]


def error_texts(errors: Iterable[BaseException]) -> Iterator[str]:
    for error in errors:
        yield from (str(error), repr(error), repr(error.args))
        body = getattr(error, "body", None)
        if body is not None:
            yield repr(body)


def audit(
    sandbox: Sandbox,
    caplog: pytest.LogCaptureFixture,
    *,
    roots: Iterable[Path] = (),
    errors: Iterable[BaseException] = (),
    texts: Iterable[str] = (),
) -> None:
    """No issued secret in the logs, the errors, the given texts or the file names."""
    assert_no_secrets([*log_texts(caplog), *listing(*roots), *error_texts(errors), *texts], sandbox)


def code_for(answer: LoginAnswer, state: str) -> str:
    """The code a login attempt with this `state` takes from `answer`, or the error why not."""
    flow = LoginFlow()
    flow.begin(LoginAttempt("https://x.test/authorize", state, "https://x.test/cb", "cid"))
    return flow.take(answer)[1].get_secret_value()
