"""Faults on the refresh path, the code exchange and the 401 path, and a server clock that is off.

Each fault ends in a clear error or a successful retry, and the session works again
afterwards. (Faults on plain checks and the basic token-endpoint cases are in
test_faults.py.)
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2
import pytest
from helpers import access_token, log_in

from zapier_nb import (
    APIConnectionError,
    APITimeoutError,
    CheckAuthResponse,
    InvalidCodeError,
    ResponseValidationError,
    ServerError,
    Session,
    SessionExpiredError,
    ZapierError,
)
from zapier_nb._oauth import decode_jwt_claims
from zapier_nb.sandbox import Sandbox

FLOWS = ["sync", "async"]


pytestmark = pytest.mark.usefixtures("secret_audit")


@pytest.fixture
def logged_in(quick: Session, sandbox: Sandbox) -> Session:
    log_in(quick, sandbox)
    return quick


def make_due(session: Session) -> None:
    """Run the session's clock two hours ahead, so its token is due for refresh."""
    session._keeper._clock = lambda: time.time() + 7200


def check(session: Session, flow: str) -> CheckAuthResponse:
    if flow == "sync":
        return session.check()

    async def run() -> CheckAuthResponse:
        try:
            return await session.acheck()
        finally:
            await session.aclose()

    return asyncio.run(run())


def fails(
    error: type[ZapierError], session: Session, flow: str, caught: list[BaseException]
) -> ZapierError:
    with pytest.raises(error) as info:
        check(session, flow)
    caught.append(info.value)
    return info.value


# -- the refresh before expiry -------------------------------------------------------------


@pytest.mark.parametrize("flow", FLOWS)
@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_refresh_the_server_performed_before_failing_is_not_replayed(
    logged_in: Session, sandbox: Sandbox, flow: str, status: int, caught: list[BaseException]
) -> None:
    """The gateway answered 5xx after the server rotated the refresh token. Sending the old
    one again would look like theft to a server with reuse detection and end the login."""
    sandbox.reuse_revokes_grant = True
    make_due(logged_in)
    sandbox.fail_next("token", status=status, act_first=True)
    fails(ServerError, logged_in, flow, caught)
    assert sandbox.count("token:refresh_token") == 1
    assert sandbox.count("token_error:invalid_grant") == 0


@pytest.mark.parametrize("flow", FLOWS)
def test_a_503_with_retry_after_on_a_due_refresh_is_retried(
    logged_in: Session, sandbox: Sandbox, flow: str
) -> None:
    make_due(logged_in)
    before = access_token(logged_in)
    sandbox.fail_next("token", status=503, retry_after=0)
    assert check(logged_in, flow).success
    assert sandbox.count("token:refresh_token") == 2
    assert access_token(logged_in) != before


@pytest.mark.parametrize("flow", FLOWS)
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_on_a_due_refresh_is_not_resent_and_the_login_survives(
    logged_in: Session, sandbox: Sandbox, flow: str, status: int, caught: list[BaseException]
) -> None:
    make_due(logged_in)
    sandbox.fail_next("token", status=status, times=-1)
    error = fails(ServerError, logged_in, flow, caught)
    assert "try again" in str(error)
    assert sandbox.count("token:refresh_token") == 1  # the server may have acted on it
    assert logged_in.token_info is not None
    sandbox.clear_faults()
    assert check(logged_in, flow).success
    assert sandbox.count("token:refresh_token") == 2


@pytest.mark.parametrize("flow", FLOWS)
def test_a_dropped_refresh_is_not_resent_and_the_login_survives(
    logged_in: Session, sandbox: Sandbox, flow: str, caught: list[BaseException]
) -> None:
    make_due(logged_in)
    sandbox.fail_next("token", drop=True)
    error = fails(APIConnectionError, logged_in, flow, caught)
    assert "could not reach" in str(error)
    assert sandbox.count("token:refresh_token") == 1  # sent once: the server might have used it
    assert check(logged_in, flow).success
    assert sandbox.count("token:refresh_token") == 2


@pytest.mark.parametrize("flow", FLOWS)
@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [("{not json", "application/json", "malformed JSON"), ("<html/>", "text/html", "not JSON")],
)
def test_a_garbled_refresh_answer_is_a_clear_error(
    logged_in: Session,
    sandbox: Sandbox,
    flow: str,
    body: str,
    content_type: str,
    message: str,
    caught: list[BaseException],
) -> None:
    make_due(logged_in)
    sandbox.fail_next("token", status=200, body=body, content_type=content_type)
    error = fails(ResponseValidationError, logged_in, flow, caught)
    assert message in str(error)
    assert check(logged_in, flow).success


@pytest.mark.parametrize("rotate", [True, False])
def test_a_refresh_slower_than_the_timeout_is_not_resent(
    logged_in: Session, sandbox: Sandbox, rotate: bool, caught: list[BaseException]
) -> None:
    sandbox.rotate_refresh_tokens = rotate
    make_due(logged_in)
    sandbox.fail_next("token", status=0, delay=0.8)
    error = fails(APITimeoutError, logged_in, "sync", caught)
    assert "did not answer in time" in str(error)
    time.sleep(0.5)  # the server finishes the refresh nobody is waiting for
    assert sandbox.count("token:refresh_token") == 1
    if rotate:
        # It spent the refresh token; its answer was lost, so the login is over.
        expired = fails(SessionExpiredError, logged_in, "sync", caught)
        assert "Log in again" in str(expired)
        log_in(logged_in, sandbox)
    assert logged_in.check().success


# -- the refresh after a 401 ----------------------------------------------------------------


@pytest.mark.parametrize("flow", FLOWS)
@pytest.mark.parametrize(
    ("fault", "error"),
    [({"status": 500, "times": -1}, ServerError), ({"drop": True}, APIConnectionError)],
)
def test_faults_on_the_refresh_after_a_401(
    logged_in: Session,
    sandbox: Sandbox,
    flow: str,
    fault: dict[str, object],
    error: type[ZapierError],
    caught: list[BaseException],
) -> None:
    sandbox.expire_access_tokens()
    sandbox.fail_next("token", **fault)  # type: ignore[arg-type]
    fails(error, logged_in, flow, caught)
    sandbox.clear_faults()
    assert check(logged_in, flow).success


# -- the code exchange ---------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 504])
def test_a_code_exchange_the_server_performed_before_failing_is_not_replayed(
    quick: Session, sandbox: Sandbox, status: int, caught: list[BaseException]
) -> None:
    """The code was spent; sending it again would be refused and, by RFC 6749 4.1.2, may
    revoke every token issued for it."""
    redirected = sandbox.approve(quick.begin_login())
    sandbox.fail_next("token", status=status, act_first=True)
    with pytest.raises(ServerError) as info:
        quick.complete_login(redirected)
    caught.append(info.value)
    assert sandbox.count("token:authorization_code") == 1
    assert sandbox.count("token_error:invalid_grant") == 0


def test_a_dropped_code_exchange_is_not_resent_and_the_code_still_works(
    quick: Session, sandbox: Sandbox, caught: list[BaseException]
) -> None:
    redirected = sandbox.approve(quick.begin_login())
    sandbox.fail_next("token", drop=True)
    with pytest.raises(APIConnectionError) as info:
        quick.complete_login(redirected)
    caught.append(info.value)
    assert sandbox.count("token:authorization_code") == 1
    quick.complete_login(redirected)
    assert quick.check().success


def test_a_code_exchange_slower_than_the_timeout_asks_for_a_new_login(
    quick: Session, sandbox: Sandbox, caught: list[BaseException]
) -> None:
    redirected = sandbox.approve(quick.begin_login())
    sandbox.fail_next("token", status=0, delay=0.8)
    with pytest.raises(APITimeoutError) as timed_out:
        quick.complete_login(redirected)
    time.sleep(0.5)
    assert sandbox.count("token:authorization_code") == 1
    with pytest.raises(InvalidCodeError, match="This login is still open") as reused:
        quick.complete_login(redirected)  # the server did redeem it
    caught += [timed_out.value, reused.value]
    log_in(quick, sandbox)
    assert quick.check().success


def test_a_code_exchange_answered_in_html_is_a_clear_error(
    quick: Session, sandbox: Sandbox, caught: list[BaseException]
) -> None:
    redirected = sandbox.approve(quick.begin_login())
    sandbox.fail_next("token", status=200, body="<html>oops</html>", content_type="text/html")
    with pytest.raises(ResponseValidationError, match="not JSON") as info:
        quick.complete_login(redirected)
    caught.append(info.value)
    quick.complete_login(redirected)
    assert quick.check().success


def test_a_5xx_on_a_check_is_retried(logged_in: Session, sandbox: Sandbox) -> None:
    sandbox.fail_next("check", status=500)
    assert logged_in.check().success
    assert sandbox.count("check") == 2


# -- faults with a token cache ----------------------------------------------------------------


@pytest.mark.parametrize("fault", [{"status": 503, "times": -1}, {"drop": True}])
def test_a_failed_refresh_leaves_the_cache_as_it_was(
    sandbox: Sandbox, tmp_path: Path, fault: dict[str, object], caught: list[BaseException]
) -> None:
    session = Session(
        client_id=sandbox.client_id,
        redirect_uri=sandbox.redirect_uri,
        base_url=sandbox.base_url,
        token_cache=tmp_path / "cache",
        timeout=0.5,
        max_retries=1,
    )
    log_in(session, sandbox)
    path = session.token_cache_path
    assert path is not None
    before = path.read_bytes()
    make_due(session)
    sandbox.fail_next("token", **fault)  # type: ignore[arg-type]
    with pytest.raises((ServerError, APIConnectionError)) as info:
        session.check()
    caught.append(info.value)
    assert path.read_bytes() == before
    assert sorted(p.suffix for p in path.parent.iterdir()) == [".json", ".lock"]
    sandbox.clear_faults()
    assert session.check().success
    assert path.read_bytes() != before


# -- a server clock that is off ---------------------------------------------------------------


@pytest.mark.parametrize("offset", [-7200, 300])
def test_a_skewed_server_clock_does_not_move_the_refresh(
    sandbox: Sandbox, tmp_path: Path, offset: float
) -> None:
    sandbox.clock_offset = offset
    sandbox.token_ttl = 1
    session = Session(
        client_id=sandbox.client_id,
        redirect_uri=sandbox.redirect_uri,
        base_url=sandbox.base_url,
        token_cache=tmp_path / "cache",
        timeout=5,
    )
    received = time.time()
    log_in(session, sandbox)
    token = session._keeper.token
    assert token is not None
    assert token.id_token is not None
    claims = decode_jwt_claims(token.id_token.get_secret_value())
    assert abs(claims["iat"] - (received + offset)) < 5  # the server stamps its own time
    info = session.token_info
    assert info is not None
    assert 0 < info.seconds_left() <= 1  # counted from the client's receipt, not from iat
    assert session.check().success
    assert sandbox.count("token:refresh_token") == 0
    time.sleep(0.6)  # past half the lifetime, by the client's clock
    assert session.check().success
    assert sandbox.count("token:refresh_token") == 1
    restarted = Session(
        client_id=sandbox.client_id,
        redirect_uri=sandbox.redirect_uri,
        base_url=sandbox.base_url,
        token_cache=tmp_path / "cache",
    )
    assert restarted.check().success
    assert sandbox.count("token:refresh_token") == 1


def test_the_clock_offset_is_reset_and_checked(sandbox: Sandbox) -> None:
    sandbox.clock_offset = 60
    assert sandbox.clock_offset == 60
    sandbox.reset()
    assert sandbox.clock_offset == 0
    with pytest.raises(ValueError, match="finite"):
        sandbox.clock_offset = float("nan")


def test_a_request_delayed_past_a_reset_touches_nothing(sandbox: Sandbox) -> None:
    """A straggler from an earlier test must not count against the next one."""
    sandbox.fail_next("token", status=0, delay=2)
    form = {"grant_type": "refresh_token", "client_id": sandbox.client_id, "refresh_token": "x"}
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(httpx2.post, f"{sandbox.base_url}/oauth/token/", data=form, timeout=5)
        deadline = time.monotonic() + 5
        while sandbox.count("token") == 0 and time.monotonic() < deadline:
            time.sleep(0.01)  # until the request is being held back by the fault
        sandbox.reset()
        with pytest.raises(httpx2.TransportError):
            answer.result()
    assert set(sandbox.counts().values()) == {0}


def test_with_reuse_detection_a_spent_refresh_token_ends_every_copy_of_the_login(
    sandbox: Sandbox, tmp_path: Path, caught: list[BaseException]
) -> None:
    """The switch behind the multi-process test: one double spend ends the login for all."""
    sandbox.reuse_revokes_grant = True
    cache = tmp_path / "cache"
    options = {"client_id": sandbox.client_id, "redirect_uri": sandbox.redirect_uri}
    first = Session(**options, base_url=sandbox.base_url, token_cache=cache)
    log_in(first, sandbox)
    careful = Session(**options, base_url=sandbox.base_url, token_cache=cache)
    careless = Session(**options, base_url=sandbox.base_url, token_cache=cache)
    careless._keeper._store = None  # it no longer looks at the cache before refreshing
    first.refresh()
    careful.refresh()  # adopts first's token, then refreshes it: fine
    assert careful.check().success
    with pytest.raises(SessionExpiredError) as spent:
        careless.refresh()  # presents the refresh token first already spent
    with pytest.raises(SessionExpiredError) as ended:
        careful.check()  # its tokens were revoked with the whole login
    caught += [spent.value, ended.value]
    assert sandbox.count("token_error:invalid_grant") == 2
