"""Calls that change things are sent once; reads are retried; a 401 refreshes and retries once.

Each case injects a fault into the sandbox and counts what the sandbox received and what
it executed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from helpers import log_in

from zapier_nb import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ServerError,
    Session,
)
from zapier_nb.sandbox import Sandbox

pytestmark = pytest.mark.usefixtures("secret_audit")

FLOWS = ["sync", "async"]
EMAIL = "Gmail: Send Email"


@pytest.fixture
def quick(sandbox: Sandbox) -> Iterator[Session]:
    """API key, half-second timeout, two retries for what may be retried."""
    with Session(
        api_key=sandbox.api_key, base_url=sandbox.base_url, timeout=0.5, max_retries=2
    ) as session:
        yield session


def call(session: Session, flow: str, name: str, *args: Any, **kwargs: Any) -> Any:
    if flow == "sync":
        return getattr(session, name)(*args, **kwargs)

    async def main() -> Any:
        try:
            method: Callable[..., Awaitable[Any]] = getattr(session, f"a{name}")
            return await method(*args, **kwargs)
        finally:
            await session.aclose()

    return asyncio.run(main())


def email_id(session: Session) -> str:
    return session.find_action("send email").id


@pytest.mark.parametrize("flow", FLOWS)
def test_execute_is_not_resent_after_a_read_timeout(
    quick: Session, sandbox: Sandbox, flow: str, caught: list[BaseException]
) -> None:
    action = email_id(quick)
    sandbox.fail_next("execute", act_first=True, delay=2, drop=True)
    with pytest.raises(APITimeoutError) as info:
        call(quick, flow, "run_action", action, "Email ada@example.com")
    caught.append(info.value)
    assert sandbox.count("execute") == 1
    assert sandbox.execution_count() == 1
    assert len(sandbox.sent_emails()) == 1


@pytest.mark.parametrize("flow", FLOWS)
def test_execute_is_not_resent_after_a_dropped_answer(
    quick: Session, sandbox: Sandbox, flow: str, caught: list[BaseException]
) -> None:
    action = email_id(quick)
    sandbox.fail_next("execute", act_first=True, drop=True)
    with pytest.raises(APIConnectionError) as info:
        call(quick, flow, "run_action", action, "Email ada@example.com")
    caught.append(info.value)
    assert sandbox.count("execute") == 1
    assert len(sandbox.sent_emails()) == 1
    # the session stays usable
    assert call(quick, flow, "run_action", action, "Email ada@example.com").status == "success"
    assert len(sandbox.sent_emails()) == 2


@pytest.mark.parametrize("flow", FLOWS)
def test_execute_is_not_resent_after_a_5xx(
    quick: Session, sandbox: Sandbox, flow: str, caught: list[BaseException]
) -> None:
    action = email_id(quick)
    sandbox.fail_next("execute", status=502)
    with pytest.raises(ServerError) as info:
        call(quick, flow, "run_action", action, "Email ada@example.com")
    caught.append(info.value)
    assert sandbox.count("execute") == 1
    assert sandbox.execution_count() == 0


@pytest.mark.parametrize("flow", FLOWS)
@pytest.mark.parametrize(
    ("route", "method", "make_args"),
    [
        ("create_action", "create_action", lambda s: ("SlackAPI", "channel_message")),
        ("update_action", "update_action", lambda s: (s.find_action("help center"),)),
        ("delete_action", "delete_action", lambda s: (s.find_action("help center").id,)),
        (
            "rate",
            "rate_execution",
            lambda s: (s.run_action("help center", "password").execution_log_id, 1),
        ),
    ],
)
def test_changes_are_not_resent_after_a_dropped_answer(
    quick: Session,
    sandbox: Sandbox,
    flow: str,
    route: str,
    method: str,
    make_args: Callable[[Session], tuple[Any, ...]],
    caught: list[BaseException],
) -> None:
    args = make_args(quick)
    before = len(sandbox.actions())
    sandbox.fail_next(route, act_first=True, drop=True)
    with pytest.raises(APIConnectionError) as info:
        call(quick, flow, method, *args)
    caught.append(info.value)
    assert sandbox.count(route) == 1
    effect: dict[str, Callable[[], bool]] = {
        "create_action": lambda: len(sandbox.actions()) == before + 1,
        "update_action": lambda: bool(sandbox.actions()[2]["params"] == {}),
        "delete_action": lambda: len(sandbox.actions()) == before - 1,
        "rate": lambda: sandbox.execution_logs()[0].rating == 1,
    }
    assert effect[route]()


@pytest.mark.parametrize("flow", FLOWS)
@pytest.mark.parametrize("fault", [{"status": 502}, {"drop": True}])
def test_reads_are_retried(
    quick: Session, sandbox: Sandbox, flow: str, fault: dict[str, Any]
) -> None:
    sandbox.fail_next("list_actions", **fault)
    assert len(call(quick, flow, "list_actions")) == 3
    assert sandbox.count("list_actions") == 2
    action_id = quick.find_action("lookup row").id
    sandbox.fail_next("get_action", **fault)
    assert call(quick, flow, "get_action", action_id).id == action_id
    assert sandbox.count("get_action") == 2


@pytest.mark.parametrize("flow", FLOWS)
def test_a_401_during_execute_refreshes_once_and_runs_once(
    oauth_session: Session, sandbox: Sandbox, flow: str
) -> None:
    log_in(oauth_session, sandbox)
    action = email_id(oauth_session)
    sandbox.expire_access_tokens()
    result = call(oauth_session, flow, "run_action", action, "Email grace@example.org")
    assert result.status == "success"
    assert sandbox.count("execute") == 2  # refused with 401, then run after the refresh
    assert sandbox.count("token:refresh_token") == 1
    assert sandbox.execution_count() == 1
    assert len(sandbox.sent_emails()) == 1


def test_a_wrong_api_key_is_not_retried(sandbox: Sandbox, caught: list[BaseException]) -> None:
    with Session(api_key="sbx_key_wrong-wrong-wrong", base_url=sandbox.base_url) as session:
        with pytest.raises(AuthenticationError) as info:
            session.run_action("0" * 26, "Email ada@example.com")
        caught.append(info.value)
    assert sandbox.count("execute") == 1
    assert sandbox.execution_count() == 0
