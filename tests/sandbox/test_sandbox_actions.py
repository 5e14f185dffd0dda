"""The sandbox's AI Actions endpoints, spoken to by hand over HTTP."""

from __future__ import annotations

import re
import time
from typing import Any

import httpx2
import pytest
from wire import authorize_url, bearer, exchange, login, make_pkce, query_of

from zapier_nb.sandbox import Sandbox

ID = re.compile(r"[A-Z0-9]{26}")
ACTION_KEYS = {
    "id", "description", "account_id", "authentication_id", "app", "action", "action_type",
    "params", "meta", "needs",
}  # fmt: skip
EXECUTE_KEYS = {
    "execution_log_id", "action_used", "input_params", "resolved_params", "results",
    "full_results", "result_field_labels", "status", "error",
}  # fmt: skip


def key(sb: Sandbox) -> dict[str, str]:
    return {"x-api-key": sb.api_key}


def actions(http: httpx2.Client, sb: Sandbox) -> dict[str, dict[str, Any]]:
    response = http.get("/api/v2/ai-actions/", headers=key(sb))
    assert response.status_code == 200
    return {a["description"]: a for a in response.json()["results"]}


def action_id(http: httpx2.Client, sb: Sandbox, description: str) -> str:
    found: str = actions(http, sb)[description]["id"]
    return found


def execute(
    http: httpx2.Client, sb: Sandbox, description: str, body: Any, **query: str
) -> httpx2.Response:
    path = f"/api/v2/ai-actions/{action_id(http, sb, description)}/execute/"
    return http.post(path, json=body, params=query, headers=key(sb))


LOOKUP = "Google Sheets: Lookup Spreadsheet Row"
EMAIL = "Gmail: Send Email"
SEARCH = "Help Center: Search Articles"


def test_list_answers_the_demo_actions_in_the_documented_shape(
    sb: Sandbox, http: httpx2.Client
) -> None:
    response = http.get("/api/v2/ai-actions/", headers=key(sb))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"results", "configuration_link"}
    assert body["configuration_link"].startswith(sb.base_url)
    assert http.get(body["configuration_link"]).status_code == 200
    listed = {a["description"]: a for a in body["results"]}
    assert set(listed) == {LOOKUP, EMAIL, SEARCH}
    for action in listed.values():
        assert set(action) == ACTION_KEYS
        assert ID.fullmatch(action["id"])
        assert action["action_type"] in ("read", "write", "search", "read_bulk")
        assert {"params", "app_label", "action_label"} <= set(action["meta"])
        for need in action["needs"]:
            assert {"key", "type", "label", "required", "choices", "help_text"} <= set(need)
    assert listed[EMAIL]["app"] == "GoogleMailV2CLIAPI"
    # the ids stay the same after a reset, so a notebook can rely on them
    sb.reset()
    assert actions(http, sb)[EMAIL]["id"] == listed[EMAIL]["id"]
    assert sb.count("list_actions") == 1


def test_paths_work_without_the_trailing_slash(sb: Sandbox, http: httpx2.Client) -> None:
    assert http.get("/api/v2/ai-actions", headers=key(sb)).status_code == 200
    found = action_id(http, sb, LOOKUP)
    assert http.get(f"/api/v2/ai-actions/{found}", headers=key(sb)).json()["id"] == found
    response = http.post(
        f"/api/v2/ai-actions/{found}/execute",
        json={"instructions": "Find ada@example.com"},
        headers=key(sb),
    )
    assert response.json()["status"] == "success"


def test_a_lookup_runs_with_labels_and_full_results(sb: Sandbox, http: httpx2.Client) -> None:
    response = execute(http, sb, LOOKUP, {"instructions": "Find the customer ada@example.com"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == EXECUTE_KEYS
    assert body["status"] == "success"
    assert body["error"] is None
    assert body["action_used"] == LOOKUP
    assert body["resolved_params"] == {
        "spreadsheet": "Customers",
        "lookup_column": "email",
        "lookup_value": "ada@example.com",
    }
    assert body["results"] == [
        {"name": "Ada Lovelace", "email": "ada@example.com", "city": "London", "plan": "Pro"}
    ]
    assert body["full_results"] == body["results"]
    assert body["result_field_labels"]["email"] == "Email"
    assert ID.fullmatch(body["execution_log_id"])
    assert sb.execution_count() == 1


def test_no_match_answers_empty(sb: Sandbox, http: httpx2.Client) -> None:
    body = execute(http, sb, SEARCH, {"instructions": "Find articles about quantum teleportation"})
    assert body.json()["status"] == "empty"
    assert body.json()["results"] == []
    found = execute(http, sb, SEARCH, {"instructions": "Search for 'export data'"}).json()
    assert found["status"] == "success"
    assert [r["title"] for r in found["results"]] == ["Export your data as CSV"]


def test_preview_resolves_but_executes_nothing(sb: Sandbox, http: httpx2.Client) -> None:
    instructions = {"instructions": 'Email grace@example.org "Hello from the sandbox"'}
    for query, body in (({"preview_only": "true"}, instructions),
                        ({}, {**instructions, "preview_only": True})):  # fmt: skip
        preview = execute(http, sb, EMAIL, body, **query).json()
        assert preview["status"] == "preview"
        assert preview["results"] == []
        assert preview["resolved_params"]["to"] == "grace@example.org"
        assert preview["resolved_params"]["subject"] == "Hello from the sandbox"
    found = action_id(http, sb, EMAIL)
    previewed = http.post(
        f"/api/v2/ai-actions/{found}/preview/", json=instructions, headers=key(sb)
    )
    assert previewed.json()["status"] == "preview"
    assert sb.sent_emails() == []
    assert sb.execution_count() == 0
    assert sb.count("execute:preview") == 3
    sent = execute(http, sb, EMAIL, instructions).json()
    assert sent["status"] == "success"
    assert sent["results"][0]["status"] == "sent"
    [email] = sb.sent_emails()
    assert (email.to, email.subject, email.sender) == (
        "grace@example.org",
        "Hello from the sandbox",
        "ada@example.com",
    )
    assert email.execution_log_id == sent["execution_log_id"]
    assert email.id == sent["results"][0]["id"]
    assert sb.execution_count(found) == 1


def test_an_email_without_a_recipient_is_a_status_error(sb: Sandbox, http: httpx2.Client) -> None:
    body = execute(http, sb, EMAIL, {"instructions": "Say hello to the team"}).json()
    assert body["status"] == "error"
    assert "recipient" in body["error"] or "'to'" in body["error"]
    assert sb.sent_emails() == []


def test_param_modes(sb: Sandbox, http: httpx2.Client) -> None:
    def resolved(params: dict[str, Any], instructions: str = "Find Boston") -> dict[str, Any]:
        response = execute(http, sb, LOOKUP, {"instructions": instructions, "params": params})
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()["resolved_params"]
        return result

    # locked: used as given, even when it is not one of the choices
    assert resolved({"spreadsheet": {"mode": "locked", "value": "orders"}})["spreadsheet"] == (
        "orders"
    )
    # guess: the choice that matches the hint
    assert resolved({"spreadsheet": {"mode": "guess", "value": "order"}})["spreadsheet"] == (
        "Orders"
    )
    # choose_from: the listed choice the instructions mention, else the first listed
    chosen = {"mode": "choose_from", "value": ["Customers", "Orders"]}
    assert resolved({"spreadsheet": chosen}, "Check the orders of SO-1002")["spreadsheet"] == (
        "Orders"
    )
    assert resolved({"spreadsheet": chosen}, "Find Boston")["spreadsheet"] == "Customers"
    # ignored: left out
    assert "lookup_column" not in resolved({"lookup_column": {"mode": "ignored"}})
    # locked values change what runs
    body = execute(
        http,
        sb,
        LOOKUP,
        {
            "instructions": "whatever",
            "params": {
                "spreadsheet": {"mode": "locked", "value": "Orders"},
                "lookup_column": {"mode": "locked", "value": "status"},
                "lookup_value": {"mode": "locked", "value": "shipped"},
            },
        },
    ).json()
    assert [r["order_id"] for r in body["results"]] == ["SO-1001", "SO-1004"]
    assert body["input_params"]["lookup_value"] == {"mode": "locked", "value": "shipped"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "instructions is required"),
        ({"instructions": "  "}, "instructions is required"),
        ({"instructions": "x", "params": []}, "params must be an object"),
        ({"instructions": "x", "params": {"nope": {"mode": "locked", "value": "1"}}}, "unknown"),
        ({"instructions": "x", "params": {"spreadsheet": {"mode": "maybe"}}}, "mode one of"),
        ({"instructions": "x", "params": {"spreadsheet": "Orders"}}, "mode one of"),
        ({"instructions": "x", "params": {"spreadsheet": {"mode": "choose_from"}}}, "non-empty"),
        ({"instructions": "x", "params": {"spreadsheet": {"mode": "locked", "value": 3}}}, "value"),
    ],
)
def test_validation_failures_are_422_with_error(
    sb: Sandbox, http: httpx2.Client, body: dict[str, Any], message: str
) -> None:
    response = execute(http, sb, LOOKUP, body)
    assert response.status_code == 422
    assert set(response.json()) == {"error"}
    assert message in response.json()["error"]
    assert sb.execution_count() == 0


def test_bad_json_and_bad_preview_flag_are_422(sb: Sandbox, http: httpx2.Client) -> None:
    found = action_id(http, sb, LOOKUP)
    path = f"/api/v2/ai-actions/{found}/execute/"
    garbled = http.post(
        path, content=b"{oops", headers={**key(sb), "content-type": "application/json"}
    )
    assert garbled.status_code == 422
    flag = http.post(
        path, json={"instructions": "x"}, params={"preview_only": "maybe"}, headers=key(sb)
    )
    assert flag.status_code == 422


def test_unknown_ids_are_404_and_delete_answers_false(sb: Sandbox, http: httpx2.Client) -> None:
    missing = "0" * 26
    assert http.get(f"/api/v2/ai-actions/{missing}/", headers=key(sb)).status_code == 404
    ran = http.post(
        f"/api/v2/ai-actions/{missing}/execute/", json={"instructions": "x"}, headers=key(sb)
    )
    assert ran.status_code == 404
    assert "error" in ran.json()
    deleted = http.delete(f"/api/v2/ai-actions/{missing}/", headers=key(sb))
    assert (deleted.status_code, deleted.json()) == (200, False)
    rated = http.post(f"/api/v2/execute/log/{missing}/rate/", params={"rating": 1}, headers=key(sb))
    assert rated.status_code == 404


def test_create_get_update_delete(sb: Sandbox, http: httpx2.Client) -> None:
    body = {
        "app": "SlackAPI",
        "action": "channel_message",
        "action_type": "write",
        "params": {"channel": ["#general", "#random"]},
        "meta": {"params": {"channel": {"label": "#general or #random"}}, "app_label": "Slack"},
    }
    created = http.post(
        "/api/v2/ai-actions/", json=body, params={"account_id": "7"}, headers=key(sb)
    )
    assert created.status_code == 200
    action = created.json()
    assert set(action) == ACTION_KEYS
    assert ID.fullmatch(action["id"])
    assert action["account_id"] == 7
    assert action["params"] == body["params"]
    assert action["description"] == "Slack: channel_message"
    path = f"/api/v2/ai-actions/{action['id']}/"
    assert http.get(path, headers=key(sb)).json() == action
    # the stored list is a choose_from: the instructions pick #random
    ran = http.post(path + "execute/", json={"instructions": "post in #random"}, headers=key(sb))
    assert ran.json()["resolved_params"] == {"channel": "#random"}
    replaced = http.put(path, json={**body, "params": {"channel": "#data"}}, headers=key(sb)).json()
    assert replaced["id"] == action["id"]
    assert replaced["params"] == {"channel": "#data"}
    assert http.delete(path, headers=key(sb)).json() is True
    assert http.get(path, headers=key(sb)).status_code == 404
    counts = sb.counts()
    assert (counts["create_action"], counts["update_action"], counts["delete_action"]) == (1, 1, 1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"app": ""}, "app is required"),
        ({"action_type": "dance"}, "action_type"),
        ({"params": {"x": 1}}, "params is required"),
        ({"meta": {}}, "meta is required"),
    ],
)
def test_create_validation(
    sb: Sandbox, http: httpx2.Client, change: dict[str, Any], message: str
) -> None:
    body = {"app": "A", "action": "b", "action_type": "write", "params": {}, "meta": {"params": {}}}
    response = http.post("/api/v2/ai-actions/", json={**body, **change}, headers=key(sb))
    assert response.status_code == 422
    assert message in response.json()["error"]


def test_rate_merges_into_the_log(sb: Sandbox, http: httpx2.Client) -> None:
    ran = execute(http, sb, LOOKUP, {"instructions": "Find ada@example.com"}).json()
    path = f"/api/v2/execute/log/{ran['execution_log_id']}/rate/"
    rated = http.post(path, params={"rating": "1", "feedback": "spot on"}, headers=key(sb))
    assert rated.status_code == 200
    assert rated.json() == ran
    assert http.post(path, params={"rating": "5"}, headers=key(sb)).status_code == 422
    [log] = [
        entry for entry in sb.execution_logs() if entry.execution_log_id == ran["execution_log_id"]
    ]
    assert (log.rating, log.feedback) == (1, "spot on")
    http.post(path, params={"rating": "-1"}, headers=key(sb))
    assert [e.rating for e in sb.execution_logs()] == [-1]


def test_credentials_and_scopes(sb: Sandbox, http: httpx2.Client) -> None:
    assert http.get("/api/v2/ai-actions/").status_code == 401
    assert http.get("/api/v2/ai-actions/", headers={"x-api-key": "nope"}).status_code == 401
    assert http.get("/api/v2/ai-actions/", params={"api_key": sb.api_key}).status_code == 200
    full = _token(http, sb, "openid nla:exposed_actions:execute")
    assert http.get("/api/v2/ai-actions/", headers=bearer(full)).status_code == 200
    narrow = _token(http, sb, "openid")
    refused = http.get("/api/v2/ai-actions/", headers=bearer(narrow))
    assert refused.status_code == 403
    assert "nla:exposed_actions:execute" in refused.json()["detail"]
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    found = action_id(http, sb, EMAIL)
    sent = http.post(
        f"/api/v2/ai-actions/{found}/execute/",
        json={"instructions": "Email ada@example.com"},
        headers=bearer(narrow),
    )
    assert sent.status_code == 403
    assert sb.sent_emails() == []
    # the narrow token still answers the auth check
    assert http.get("/api/v2/auth/check/", headers=bearer(narrow)).status_code == 200


def _token(http: httpx2.Client, sb: Sandbox, scope: str) -> str:
    code, verifier = login(sb, scope=scope)
    token: str = exchange(http, sb, code, verifier).json()["access_token"]
    return token


def test_each_user_sees_only_their_own_actions(sb: Sandbox, http: httpx2.Client) -> None:
    mine = sb.add_action("Mine: only for Ada", needs=["thing"])
    assert mine in {a["id"] for a in sb.actions()}
    signed_up = _signed_up_key(http, sb)
    theirs = http.get("/api/v2/ai-actions/", headers={"x-api-key": signed_up}).json()["results"]
    assert {a["description"] for a in theirs} == {LOOKUP, EMAIL, SEARCH}
    assert (
        http.get(f"/api/v2/ai-actions/{mine}/", headers={"x-api-key": signed_up}).status_code == 404
    )


def _signed_up_key(http: httpx2.Client, sb: Sandbox) -> str:
    link = http.get(
        "/api/v2/auth/login-link/",
        params={"sign_up_email": "newcomer@example.org", "sign_up_first_name": "New"},
    ).json()["login_link"]
    sb.follow_login_link(link)
    user = next(u for u in sb.users if u.email == "newcomer@example.org")
    assert user.api_key is not None
    return user.api_key


def test_python_api_adds_actions_with_their_own_rule(sb: Sandbox, http: httpx2.Client) -> None:
    def shout(params: dict[str, Any], instructions: str) -> list[dict[str, str]]:
        if params["word"] == "fail":
            raise ValueError("cannot shout that")
        return [{"shout": params["word"].upper()}]

    added = sb.add_action(
        "Megaphone: Shout",
        app="MegaphoneAPI",
        action="shout",
        needs=[{"key": "word", "label": "Word", "required": True}],
        run=shout,
    )
    path = f"/api/v2/ai-actions/{added}/execute/"
    ok = http.post(
        path,
        json={"instructions": "x", "params": {"word": {"mode": "locked", "value": "hey"}}},
        headers=key(sb),
    ).json()
    assert (ok["status"], ok["results"]) == ("success", [{"shout": "HEY"}])
    failed = http.post(
        path,
        json={"instructions": "x", "params": {"word": {"mode": "locked", "value": "fail"}}},
        headers=key(sb),
    ).json()
    assert (failed["status"], failed["error"]) == ("error", "cannot shout that")
    missing = http.post(path, json={"instructions": "x"}, headers=key(sb)).json()
    assert missing["status"] == "error"
    assert "'word'" in missing["error"]
    assert sb.execution_count(added) == 3
    echo = sb.add_action(app="GoogleMailV2CLIAPI", action="message")
    assert next(a for a in sb.actions() if a["id"] == echo)["description"] == EMAIL


def test_faults_and_counters_on_the_actions_routes(sb: Sandbox, http: httpx2.Client) -> None:
    sb.fail_next("list_actions", status=503)
    failed = http.get("/api/v2/ai-actions/", headers=key(sb))
    assert failed.status_code == 503
    assert set(failed.json()) == {"error"}
    sb.fail_next("execute", status=429, retry_after=2)
    limited = execute(http, sb, LOOKUP, {"instructions": "Find ada@example.com"})
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    assert sb.execution_count() == 0  # a 429 runs nothing
    assert sb.count("execute") == 1
    assert sb.count("list_actions") == 2  # the failed one, and the one finding the id


def test_act_first_executes_then_fails(sb: Sandbox, http: httpx2.Client) -> None:
    sb.fail_next("execute", status=502, act_first=True)
    answer = execute(http, sb, EMAIL, {"instructions": "Email ada@example.com"})
    assert answer.status_code == 502
    assert sb.execution_count() == 1
    assert len(sb.sent_emails()) == 1
    sb.fail_next("execute", drop=True, act_first=True)
    with pytest.raises(httpx2.RemoteProtocolError):
        execute(http, sb, EMAIL, {"instructions": "Email ada@example.com again"})
    assert len(sb.sent_emails()) == 2


def test_act_first_works_on_the_token_route(sb: Sandbox, http: httpx2.Client) -> None:
    code, verifier = login(sb)
    sb.fail_next("token", status=502, act_first=True)
    assert exchange(http, sb, code, verifier).status_code == 502
    # the code was spent: the server issued tokens whose answer was lost
    again = exchange(http, sb, code, verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    assert sb.count("token:authorization_code") == 2


def test_act_first_with_a_delay_answers_late(sb: Sandbox, http: httpx2.Client) -> None:
    sb.fail_next("rate", status=504, act_first=True, delay=0.3)
    ran = execute(http, sb, LOOKUP, {"instructions": "Find ada@example.com"}).json()
    started = time.monotonic()
    path = f"/api/v2/execute/log/{ran['execution_log_id']}/rate/"
    assert http.post(path, params={"rating": "1"}, headers=key(sb)).status_code == 504
    assert time.monotonic() - started >= 0.3
    assert sb.execution_logs()[0].rating == 1


def test_act_first_refuses_nonsense() -> None:
    sandbox = Sandbox()
    with pytest.raises(ValueError, match="act_first"):
        sandbox.fail_next("execute", status=0, act_first=True)
    with pytest.raises(ValueError, match="retry_after"):
        sandbox.fail_next("execute", status=429, retry_after=-1)


def test_latency_delays_every_actions_call(sb: Sandbox, http: httpx2.Client) -> None:
    sb.latency = 0.2
    started = time.monotonic()
    http.get("/api/v2/ai-actions/", headers=key(sb))
    assert time.monotonic() - started >= 0.2
    sb.reset()
    assert sb.latency == 0
    with pytest.raises(ValueError, match="latency"):
        sb.latency = -1


def test_reset_forgets_actions_logs_and_emails(sb: Sandbox, http: httpx2.Client) -> None:
    sb.add_action("Extra: action")
    execute(http, sb, EMAIL, {"instructions": "Email ada@example.com"})
    sb.reset()
    assert len(sb.actions()) == 3
    assert sb.sent_emails() == []
    assert sb.execution_logs() == []
    assert sb.execution_count() == 0


# --- the login link: redirect_uri or redirect_to, or neither ---------------------------------


@pytest.mark.parametrize("spelling", ["redirect_uri", "redirect_to", "both"])
def test_login_link_honours_either_spelling(
    sb: Sandbox, http: httpx2.Client, spelling: str
) -> None:
    _, challenge = make_pkce()
    target = authorize_url(sb, challenge)
    names = ["redirect_uri", "redirect_to"] if spelling == "both" else [spelling]
    params = {name: target for name in names}
    link = http.get(
        "/api/v2/auth/login-link/", params={**params, "sign_up_email": "lin@example.org"}
    ).json()["login_link"]
    redirected = sb.follow_login_link(link)
    assert "code" in query_of(redirected)
    assert query_of(redirected)["state"] == "st-123"


def test_login_link_without_a_target_lands_on_the_login_success_page(
    sb: Sandbox, http: httpx2.Client
) -> None:
    link = http.get(
        "/api/v2/auth/login-link/", params={"sign_up_email": "solo@example.org"}
    ).json()["login_link"]
    landed = sb.follow_login_link(link)
    assert landed == f"{sb.base_url}/config/login-success/"
    page = http.get(landed, headers={"Cookie": "sandbox_user=1"})
    assert page.status_code == 200
    assert "You are logged in" in page.text
    assert any(u.email == "solo@example.org" for u in sb.users)
