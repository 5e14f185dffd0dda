"""AI Actions V2: each operation's request built and its answer read, with no I/O.

A builder checks its arguments (refusing anything that would change the endpoint) and
returns a `Call`: the `httpx.Request` and the reader of its answer. The session sends
every call through its one send path, which translates transport errors and masks its
secrets in errors; readers mask them in successful answers. Nothing here retries: the
session's transport retries GETs, and anything else only when the server said it did
not act (a 429 or 503 with a short `Retry-After`); its bearer auth retries once after a
401 (which proves the action did not run). Execute, create, update, delete and rate are
never sent twice once they may have acted.

The models load on first use, so that a session can be made without pydantic.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

from ._errors import (
    ActionRequestError,
    ConfigurationError,
    RateLimitError,
    ResponseValidationError,
    ZapierError,
    error_for_status,
)
from ._http import Call, SecretSource, httpx, json_or_none, retry_after_seconds, scrubbed_json
from ._paths import ACTIONS_PATH, RATE_PATH
from ._redact import printable

if TYPE_CHECKING:
    from ._action_models import ActionType, AiAction, AiActionMeta
    from ._results import ActionList, ActionResult

__all__ = [
    "ID_PATTERN",
    "create_call",
    "delete_call",
    "get_call",
    "id_of",
    "list_call",
    "looks_like_id",
    "needs_lookup",
    "rate_call",
    "run_call",
    "update_call",
]

# The API's ids (stored actions and execution logs) are ULIDs: 26 capitals and digits.
ID_PATTERN = re.compile(r"[0-9A-Z]{26}")
_REFUSALS = (400, 412, 422)

T = TypeVar("T")


# -- the calls ----------------------------------------------------------------------------------


def list_call(base_url: str) -> Call[ActionList]:
    """`GET /api/v2/ai-actions/`."""
    return _call("GET", base_url + ACTIONS_PATH, "listing the AI Actions", _action_list)


def get_call(base_url: str, action_id: str) -> Call[AiAction]:
    """`GET /api/v2/ai-actions/{id}/`."""
    return _call("GET", _action_url(base_url, action_id), "getting an AI Action", _action)


def delete_call(base_url: str, action: str | AiAction) -> Call[bool]:
    """`DELETE /api/v2/ai-actions/{id}/`: the answer is true, or false for an unknown id."""
    url = _action_url(base_url, id_of(action))
    return _call("DELETE", url, "deleting an AI Action", _deleted)


def create_call(
    base_url: str,
    *,
    account_id: int | None,
    authentication_id: int | None,
    app: str,
    action: str,
    action_type: ActionType,
    params: Mapping[str, str | list[str]] | None,
    meta: AiActionMeta | Mapping[str, Any] | None,
) -> Call[AiAction]:
    """`POST /api/v2/ai-actions/`: store an action."""
    body = _stored(app=app, action=action, action_type=action_type, params=params, meta=meta)
    query = _account_query(account_id, authentication_id)
    url = base_url + ACTIONS_PATH
    return _call("POST", url, "creating an AI Action", _action, params=query, json=body)


def update_call(
    base_url: str,
    current: AiAction,
    *,
    account_id: int | None,
    authentication_id: int | None,
    **changes: Any,
) -> Call[AiAction]:
    """`PUT /api/v2/ai-actions/{id}/`: the settings not given are kept from `current`."""
    given = {k: v for k, v in changes.items() if v is not None}
    body = _stored(
        app=given.get("app", current.app),
        action=given.get("action", current.action),
        action_type=given.get("action_type", current.action_type),
        params=given.get("params", current.params),
        meta=given.get("meta", current.meta if "params" not in given else None),
    )
    url = _action_url(base_url, current.id)
    query = _account_query(account_id, authentication_id)
    return _call("PUT", url, "updating an AI Action", _action, params=query, json=body)


def run_call(
    base_url: str,
    action: str | AiAction,
    instructions: str,
    params: Mapping[str, Any] | None,
    preview: bool,
) -> Call[ActionResult]:
    """`POST /api/v2/ai-actions/{id}/execute/`, with `preview_only=true` for a preview."""
    from ._action_models import ExecuteRequest, constraints_from

    if not isinstance(instructions, str) or not instructions.strip():
        raise ConfigurationError(
            "The instructions are empty. Say in plain words what the action should do."
        )
    url = _action_url(base_url, id_of(action), "execute/")
    constraints = constraints_from(params)
    body: dict[str, Any] = {"instructions": instructions}
    if constraints is not None:
        body = ExecuteRequest(instructions=instructions, params=constraints).body()
    what = "previewing an AI Action" if preview else "running an AI Action"
    query = {"preview_only": "true"} if preview else {}
    return _call("POST", url, what, _result, params=query, json=body)


def rate_call(
    base_url: str, execution_log_id: str, rating: int, feedback: str | None
) -> Call[ActionResult]:
    """`POST /api/v2/execute/log/{id}/rate/?rating=-1|0|1&feedback=...`."""
    if isinstance(rating, bool) or rating not in (-1, 0, 1):
        raise ConfigurationError("rating must be -1 (bad), 0 (neutral) or 1 (good).")
    log_id = _checked_id(
        execution_log_id, "an execution log id; take it from a result's execution_log_id"
    )
    query = {"rating": str(rating)}
    if feedback:
        query["feedback"] = feedback
    url = base_url + RATE_PATH.format(execution_log_id=log_id)
    return _call("POST", url, "rating an execution", _result, params=query)


# -- naming an action ---------------------------------------------------------------------------


def id_of(action: str | AiAction) -> str:
    return action if isinstance(action, str) else action.id


def looks_like_id(text: str) -> bool:
    """AI Action ids are 26 upper-case letters and digits (ULIDs)."""
    return bool(ID_PATTERN.fullmatch(text.strip()))


def needs_lookup(action: object) -> TypeGuard[str]:
    """Whether `action` names an action to look up (one list request): a string that is
    not an id. An `AiAction` or an id is used as it is."""
    if isinstance(action, str):
        return not looks_like_id(action)
    from ._action_models import AiAction

    if isinstance(action, AiAction):
        return False
    raise ConfigurationError(
        f"An action is named by its id, app/action key or description (a string) or given "
        f"as an AiAction, not a {type(action).__name__}."
    )


def _checked_id(value: object, what: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if not ID_PATTERN.fullmatch(text):
        shown = repr(value) if len(repr(value)) <= 60 else f"{repr(value)[:57]}..."
        raise ConfigurationError(
            f"{shown} is not {what} (26 capital letters and digits). Nothing was sent."
        )
    return text


def _action_url(base_url: str, action_id: object, suffix: str = "") -> str:
    checked = _checked_id(
        action_id,
        "an AI Action id. Pass an id from list_actions(), or find one with find_action()",
    )
    return f"{base_url}{ACTIONS_PATH}{checked}/{suffix}"


# -- building ---------------------------------------------------------------------------------


def _call(
    method: str,
    url: str,
    what: str,
    parse: Callable[[Any, str], T],
    *,
    params: dict[str, str] | None = None,
    json: Any = None,
) -> Call[T]:
    def read(response: httpx.Response, secrets: SecretSource) -> T:
        # No local here holds the answer's body: a traceback that shows local
        # variables must not show what the server echoed.
        if response.status_code != 200:
            raise _failure(response, what)
        return parse(scrubbed_json(response, secrets, what=what), what)

    return Call(httpx.Request(method, url, params=params or None, json=json), read)


def _stored(
    *,
    app: str | None,
    action: str | None,
    action_type: str | None,
    params: Mapping[str, str | list[str]] | None,
    meta: AiActionMeta | Mapping[str, Any] | None,
) -> dict[str, Any]:
    from ._action_models import CreateAiActionRequest

    values = dict(params or {})
    if meta is None:
        meta = {
            "params": {
                k: {"label": v if isinstance(v, str) else ", ".join(v)} for k, v in values.items()
            }
        }
    try:
        request = CreateAiActionRequest.model_validate(
            {"app": app, "action": action, "action_type": action_type, "params": values,
             "meta": meta}
        )  # fmt: skip
    except ValueError as exc:
        problem = _first_problem(exc)
    else:
        return request.body()
    raise ConfigurationError(
        f"The action's settings are not valid ({problem}). app and action are strings, "
        "action_type one of read, write, search, read_bulk, params maps input keys to a "
        "string or a list of strings."
    )


def _first_problem(exc: ValueError) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors(include_input=False, include_url=False)[0]
        return f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(exc)


def _account_query(account_id: int | None, authentication_id: int | None) -> dict[str, str]:
    query = {}
    if account_id is not None:
        query["account_id"] = str(account_id)
    if authentication_id is not None:
        query["authentication_id"] = str(authentication_id)
    return query


# -- reading ----------------------------------------------------------------------------------


_HINTS = {
    401: "The credentials were not accepted: log in again, or check the API key.",
    403: (
        "These credentials may not run AI Actions. An OAuth login needs the scope "
        "nla:exposed_actions:execute: log in again with the default scope."
    ),
    404: "Nothing has this id here. List the actions with list_actions() or %zapier_actions.",
    429: "Too many requests: wait a little, then try again.",
}


def _failure(response: httpx.Response, what: str) -> ZapierError:
    """The error an answer other than 200 means; returned, not raised, so that this frame
    (which holds the server's body) is not part of the traceback."""
    method, path = response.request.method, response.request.url.path
    body = json_or_none(response)
    status = response.status_code
    message = body.get("error") if isinstance(body, dict) else None
    if status in _REFUSALS and isinstance(message, str) and message:
        message = printable(message)
        return ActionRequestError(
            f"{what[:1].upper()}{what[1:]} was refused (HTTP {status}): "
            f"{message.rstrip('.')}. Nothing was run; fix the request and try again.",
            error=message,
            status_code=status,
            body=body,
            method=method,
            path=path,
        )
    error = error_for_status(
        status, body=body, method=method, path=path, hint=_HINTS.get(status, "")
    )
    if isinstance(error, RateLimitError):
        error.retry_after = retry_after_seconds(response.headers.get("retry-after"))
    return error


def _action(body: Any, what: str) -> AiAction:
    from ._action_models import AiAction
    from ._models import parse_response

    return parse_response(AiAction, body, what=what)


def _result(body: Any, what: str) -> ActionResult:
    from ._models import parse_response
    from ._results import ActionResult

    return parse_response(ActionResult, body, what=what)


def _action_list(body: Any, _what: str) -> ActionList:
    from ._results import ActionList

    what = "the list of AI Actions"
    results = body.get("results") if isinstance(body, dict) else None
    link = body.get("configuration_link") if isinstance(body, dict) else None
    del body  # a traceback that shows local variables shows no more of the answer than needed
    if not isinstance(results, list):
        raise ResponseValidationError(
            f"The server's answer to {what} does not match the API (results: a list is "
            "required). Check that the base URL points at Zapier AI Actions."
        )
    actions = [_action(item, what) for item in results]
    return ActionList(actions, link if isinstance(link, str) else "")


def _deleted(body: Any, _what: str) -> bool:
    if not isinstance(body, bool):
        del body
        raise ResponseValidationError(
            "The server's answer to deleting an AI Action was not true or false, as the API "
            "documents. Check that the base URL points at Zapier AI Actions."
        )
    return body
