"""The session's AI Actions methods against the sandbox: list, find, run, preview, manage, rate."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest
from helpers import log_in

from zapier_nb import (
    ActionList,
    ActionLookupError,
    ActionRequestError,
    ActionResult,
    AiAction,
    APIStatusError,
    ConfigurationError,
    ParamConstraint,
    PermissionDeniedError,
    RateLimitError,
    Session,
)
from zapier_nb.sandbox import Sandbox

pytestmark = pytest.mark.usefixtures("secret_audit")

LOOKUP = "Google Sheets: Lookup Spreadsheet Row"
EMAIL = "Gmail: Send Email"
T = TypeVar("T")


def run(coro_fn: Callable[[], Awaitable[T]], session: Session) -> T:
    async def main() -> T:
        try:
            return await coro_fn()
        finally:
            await session.aclose()

    return asyncio.run(main())


@pytest.mark.parametrize("flow", ["sync", "async"])
def test_list_actions_is_a_list_with_the_configuration_link(
    key_session: Session, sandbox: Sandbox, flow: str
) -> None:
    if flow == "sync":
        actions = key_session.list_actions()
    else:
        actions = run(key_session.alist_actions, key_session)
    assert isinstance(actions, ActionList)
    assert isinstance(actions, list)
    assert len(actions) == 3
    assert all(isinstance(a, AiAction) for a in actions)
    assert actions.configuration_link.startswith(sandbox.base_url)
    lookup = actions.find("lookup row")
    assert lookup.description == LOOKUP
    assert lookup.app == "GoogleSheetsV2API"
    assert lookup.required_inputs == ["spreadsheet", "lookup_column", "lookup_value"]
    assert "Google Sheets: Lookup Spreadsheet Row" in repr(actions)
    assert "<table" in actions._repr_html_()


def test_find_action_by_id_key_description_or_words(key_session: Session) -> None:
    actions = key_session.list_actions()
    email = next(a for a in actions if a.description == EMAIL)
    assert key_session.find_action(email.id) == email
    assert key_session.find_action("googlemailv2cliapi/MESSAGE") == email
    assert key_session.find_action("gmail: send email") == email
    assert key_session.find_action("send email") == email


def test_an_ambiguous_name_lists_the_candidates(key_session: Session, sandbox: Sandbox) -> None:
    first = sandbox.add_action("Slack: Send Channel Message", app="SlackAPI", action="channel")
    second = sandbox.add_action("Slack: Send Direct Message", app="SlackAPI", action="direct")
    with pytest.raises(ActionLookupError) as info:
        key_session.find_action("slack send")
    assert {c[0] for c in info.value.candidates} == {first, second}
    assert "matches 2 actions" in info.value.message
    assert first in info.value.message
    assert key_session.find_action("slack direct").id == second
    with pytest.raises(ActionLookupError, match="No AI Action matches"):
        key_session.find_action("fax machine")


def test_run_by_id_makes_no_list_request(key_session: Session, sandbox: Sandbox) -> None:
    action_id = key_session.find_action("lookup row").id
    before = sandbox.count("list_actions")
    result = key_session.run_action(action_id, "Find the customer ada@example.com")
    assert sandbox.count("list_actions") == before
    assert sandbox.count("execute") == 1
    assert isinstance(result, ActionResult)
    assert result.status == "success"
    assert result.results == [
        {"name": "Ada Lovelace", "email": "ada@example.com", "city": "London", "plan": "Pro"}
    ]
    assert result.labels()["email"] == "Email"
    assert "<th" in result._repr_html_()
    assert "Ada Lovelace" in repr(result)


@pytest.mark.parametrize("flow", ["sync", "async"])
def test_run_and_preview_by_description(key_session: Session, sandbox: Sandbox, flow: str) -> None:
    def go(**kwargs: Any) -> ActionResult:
        if flow == "sync":
            return key_session.run_action("send email", "Email grace@example.org 'Hi'", **kwargs)
        return run(
            lambda: key_session.arun_action("send email", "Email grace@example.org 'Hi'", **kwargs),
            key_session,
        )

    preview = go(preview=True)
    assert preview.status == "preview"
    assert preview.results == []
    assert preview.resolved_params == {
        "to": "grace@example.org",
        "subject": "Hi",
        "body": "Email grace@example.org 'Hi'",
    }
    assert sandbox.sent_emails() == []
    assert sandbox.execution_count() == 0
    sent = go()
    assert sent.status == "success"
    assert [e.to for e in sandbox.sent_emails()] == ["grace@example.org"]
    assert sent.results[0]["id"] == sandbox.sent_emails()[0].id


def test_params_plain_values_are_locked_and_constraints_pass_through(
    key_session: Session,
) -> None:
    result = key_session.run_action(
        "lookup row",
        "anything",
        params={
            "spreadsheet": ParamConstraint.guess("order"),
            "lookup_column": {"mode": "locked", "value": "status"},
            "lookup_value": "shipped",
        },
    )
    assert result.resolved_params == {
        "spreadsheet": "Orders",
        "lookup_column": "status",
        "lookup_value": "shipped",
    }
    assert [r["order_id"] for r in result.results or []] == ["SO-1001", "SO-1004"]
    assert result.input_params["lookup_value"] == {"mode": "locked", "value": "shipped"}


def test_a_status_error_is_a_result_that_says_so(key_session: Session) -> None:
    result = key_session.run_action("send email", "Say hello to everyone")
    assert result.status == "error"
    assert result.error is not None
    assert "recipient" in result.error or "'to'" in result.error
    assert "FAILED" in repr(result)
    assert html.escape(result.error) in result._repr_html_()


def test_a_422_is_an_error_carrying_the_servers_message(
    key_session: Session, sandbox: Sandbox, caught: list[BaseException]
) -> None:
    with pytest.raises(ActionRequestError) as info:
        key_session.run_action("lookup row", "x", params={"colour": "blue"})
    caught.append(info.value)
    error = info.value
    assert error.status_code == 422
    assert "unknown input 'colour'" in error.error
    assert error.error in error.message
    assert error.body == {"error": error.error}
    assert "Nothing was run" in error.message
    assert sandbox.execution_count() == 0
    assert key_session.run_action("lookup row", "Find ada@example.com").status == "success"


def test_bad_arguments_are_refused_before_any_request(
    key_session: Session, sandbox: Sandbox
) -> None:
    action_id = key_session.find_action("lookup row").id
    with pytest.raises(ConfigurationError, match="instructions are empty"):
        key_session.run_action(action_id, "  ")
    with pytest.raises(ConfigurationError, match="mapping"):
        key_session.run_action(action_id, "x", params=["a"])  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="not a valid constraint"):
        key_session.run_action(action_id, "x", params={"spreadsheet": {"mode": "maybe"}})
    with pytest.raises(ConfigurationError, match="rating"):
        key_session.rate_execution("ABC", 5)
    with pytest.raises(ConfigurationError, match="not an AI Action id"):
        key_session.get_action("a/b")
    assert sandbox.count("execute") == 0


def test_an_unknown_id_says_how_to_find_one(key_session: Session) -> None:
    with pytest.raises(APIStatusError) as info:
        key_session.get_action("0" * 26)
    assert info.value.status_code == 404
    assert "list_actions()" in info.value.message


@pytest.mark.parametrize("flow", ["sync", "async"])
def test_create_get_update_delete(key_session: Session, sandbox: Sandbox, flow: str) -> None:
    s = key_session

    async def scenario() -> tuple[AiAction, AiAction, AiAction, bool, bool]:
        created = await s.acreate_action(
            "SlackAPI", "channel_message", params={"channel": ["#general", "#random"]}
        )
        fetched = await s.aget_action(created.id)
        updated = await s.aupdate_action(created.id, params={"channel": "#data"})
        return (
            created,
            fetched,
            updated,
            await s.adelete_action(created),
            await s.adelete_action(created.id),
        )

    if flow == "sync":
        created = s.create_action(
            "SlackAPI", "channel_message", params={"channel": ["#general", "#random"]}
        )
        fetched = s.get_action(created.id)
        updated = s.update_action(created, params={"channel": "#data"})
        deleted, again = s.delete_action(created), s.delete_action(created.id)
    else:
        created, fetched, updated, deleted, again = run(scenario, s)
    assert fetched == created
    assert created.meta.params["channel"].label == "#general, #random"
    assert created.action_type == "write"
    assert updated.id == created.id
    assert updated.params == {"channel": "#data"}
    assert updated.meta.params["channel"].label == "#data"
    assert (deleted, again) == (True, False)
    # the explicit get, and (async) the update fetching the action it was given by id
    assert sandbox.count("get_action") == (1 if flow == "sync" else 2)


def test_rate_execution(key_session: Session, sandbox: Sandbox) -> None:
    ran = key_session.run_action("lookup row", "Find ada@example.com")
    rated = key_session.rate_execution(ran.execution_log_id, 1, "exactly right")
    assert rated.execution_log_id == ran.execution_log_id
    assert rated.results == ran.results
    assert (sandbox.execution_logs()[0].rating, sandbox.execution_logs()[0].feedback) == (
        1,
        "exactly right",
    )
    asyncio.run(key_session.arate_execution(ran.execution_log_id, -1))
    assert sandbox.execution_logs()[0].rating == -1


def test_an_oauth_login_without_the_execute_scope_is_told_why(
    sandbox: Sandbox, caught: list[BaseException]
) -> None:
    with Session(
        client_id=sandbox.client_id,
        redirect_uri=sandbox.redirect_uri,
        base_url=sandbox.base_url,
        scope="openid",
    ) as session:
        log_in(session, sandbox)
        assert session.check().email == "ada@example.com"
        with pytest.raises(PermissionDeniedError) as info:
            session.list_actions()
        caught.append(info.value)
        assert info.value.status_code == 403
        assert "nla:exposed_actions:execute" in info.value.message


def test_oauth_session_runs_actions(oauth_session: Session, sandbox: Sandbox) -> None:
    log_in(oauth_session, sandbox)
    result = oauth_session.run_action("help center", "How do I reset my password?")
    assert result.status == "success"
    assert result.results is not None
    assert result.results[0]["title"] == "Reset your password"


def test_a_429_carries_the_servers_retry_after(
    key_session: Session, sandbox: Sandbox, caught: list[BaseException]
) -> None:
    action_id = key_session.find_action("lookup row").id
    sandbox.fail_next("execute", status=429, retry_after=30)
    with pytest.raises(RateLimitError) as info:
        key_session.run_action(action_id, "Find ada@example.com")
    caught.append(info.value)
    assert info.value.retry_after == 30
    assert sandbox.count("execute") == 1  # a long wait is the caller's (run_many waits it out)
    assert sandbox.execution_count() == 0


def test_a_429_with_a_short_retry_after_is_waited_out_once(
    key_session: Session, sandbox: Sandbox
) -> None:
    """A 429 means the action did not run, so sending it again is safe."""
    action_id = key_session.find_action("lookup row").id
    sandbox.fail_next("execute", status=429, retry_after=0.2)
    assert key_session.run_action(action_id, "Find ada@example.com").status == "success"
    assert sandbox.count("execute") == 2
    assert sandbox.execution_count() == 1
