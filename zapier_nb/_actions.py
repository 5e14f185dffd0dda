"""AI Actions V2 requests: build them, send them through the session's clients, read the answers.

Each operation is a `_Call` (what to send) and a reader (what the answer means), shared by
the sync and async twins. Nothing here retries: the session's transport retries GETs, and
anything else only when the server said it did not act (a 429 or 503 with a short
`Retry-After`); its bearer auth retries once after a 401 (which proves the action did not
run). Execute, create, update, delete and rate are never sent twice once they may have
acted. Errors are scrubbed of the session's secrets here, on every path.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ._action_models import (
    ActionType,
    AiAction,
    AiActionMeta,
    CreateAiActionRequest,
    ExecuteRequest,
    constraints_from,
)
from ._errors import (
    ActionRequestError,
    ConfigurationError,
    RateLimitError,
    ResponseValidationError,
    error_for_status,
)
from ._http import httpx, json_or_none, read_json, retry_after_seconds, translate_transport_errors
from ._models import parse_response
from ._results import ActionList, ActionResult, find_action

__all__ = [
    "ACTIONS_PATH",
    "RATE_PATH",
    "ActionRef",
    "Host",
    "acreate_action",
    "adelete_action",
    "aget_action",
    "alist_actions",
    "alookup_action",
    "arate_execution",
    "aresolve_action",
    "arun_action",
    "aupdate_action",
    "create_action",
    "delete_action",
    "get_action",
    "id_of",
    "list_actions",
    "looks_like_id",
    "lookup_action",
    "rate_execution",
    "resolve_action",
    "run_action",
    "update_action",
]


class Host(Protocol):
    """What these calls need of a session: its base URL and its authenticated clients."""

    @property
    def base_url(self) -> str: ...

    @property
    def client(self) -> httpx.Client: ...

    @property
    def async_client(self) -> httpx.AsyncClient: ...

    def _scrubbing(self) -> AbstractContextManager[None]: ...


ACTIONS_PATH = "/api/v2/ai-actions/"
RATE_PATH = "/api/v2/execute/log/{execution_log_id}/rate/"
_ID_SHAPE = re.compile(r"[0-9A-Z]{26}")
_REFUSALS = (400, 412, 422)

ActionRef = str | AiAction
T = TypeVar("T")


@dataclass(frozen=True)
class _Call:
    method: str
    path: str
    what: str
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None


# -- sending ----------------------------------------------------------------------------------


def _request(client: httpx.Client | httpx.AsyncClient, base_url: str, call: _Call) -> httpx.Request:
    # An absolute URL spares the client joining it to its base URL on every call.
    return client.build_request(
        call.method, base_url + call.path, params=call.params or None, json=call.json
    )


def _send(session: Host, call: _Call) -> httpx.Response:
    client = session.client
    with translate_transport_errors(call.method, call.path, session.base_url):
        return client.send(_request(client, session.base_url, call))


async def _asend(session: Host, call: _Call) -> httpx.Response:
    client = session.async_client
    with translate_transport_errors(call.method, call.path, session.base_url):
        return await client.send(_request(client, session.base_url, call))


def _do(session: Host, call: _Call, read: Callable[[Any], T]) -> T:
    # Scrubbed here, where every caller passes (run_many's workers included): a server
    # that echoes a key or token must not put it in an error or a result row.
    with session._scrubbing():
        return read(_answer(call, _send(session, call)))


async def _ado(session: Host, call: _Call, read: Callable[[Any], T]) -> T:
    with session._scrubbing():
        return read(_answer(call, await _asend(session, call)))


# -- answers ----------------------------------------------------------------------------------


_HINTS = {
    401: "The credentials were not accepted: log in again, or check the API key.",
    403: (
        "These credentials may not run AI Actions. An OAuth login needs the scope "
        "nla:exposed_actions:execute: log in again with the default scope."
    ),
    404: "Nothing has this id here. List the actions with list_actions() or %zapier_actions.",
    429: "Too many requests: wait a little, then try again.",
}


def _answer(call: _Call, response: httpx.Response) -> Any:
    if response.status_code == 200:
        return read_json(response, what=call.what)
    body = json_or_none(response)
    status = response.status_code
    message = body.get("error") if isinstance(body, dict) else None
    if status in _REFUSALS and isinstance(message, str) and message:
        raise ActionRequestError(
            f"{call.what[:1].upper()}{call.what[1:]} was refused (HTTP {status}): "
            f"{message.rstrip('.')}. "
            "Nothing was run; fix the request and try again.",
            error=message,
            status_code=status,
            body=body,
            method=call.method,
            path=call.path,
        )
    error = error_for_status(
        status, body=body, method=call.method, path=call.path, hint=_HINTS.get(status, "")
    )
    if isinstance(error, RateLimitError):
        error.retry_after = retry_after_seconds(response.headers.get("retry-after"))
    raise error


def _action(what: str) -> Callable[[Any], AiAction]:
    return lambda body: parse_response(AiAction, body, what=what)


def _result(what: str) -> Callable[[Any], ActionResult]:
    return lambda body: parse_response(ActionResult, body, what=what)


def _action_list(body: Any) -> ActionList:
    what = "the list of AI Actions"
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise ResponseValidationError(
            f"The server's answer to {what} does not match the API (results: a list is "
            "required). Check that the base URL points at Zapier AI Actions.",
            body=None,
        )
    actions = [parse_response(AiAction, item, what=what) for item in body["results"]]
    link = body.get("configuration_link")
    return ActionList(actions, link if isinstance(link, str) else "")


def _deleted(body: Any) -> bool:
    if not isinstance(body, bool):
        raise ResponseValidationError(
            "The server's answer to deleting an AI Action was not true or false, as the API "
            "documents. Check that the base URL points at Zapier AI Actions.",
            body=None,
        )
    return body


# -- building the calls -------------------------------------------------------------------------


def _action_path(action_id: str, suffix: str = "") -> str:
    action_id = action_id.strip()
    if not action_id or "/" in action_id or "?" in action_id:
        raise ConfigurationError(
            f"{action_id!r} is not an AI Action id. Pass an id from list_actions(), or find "
            "one with find_action()."
        )
    return f"{ACTIONS_PATH}{action_id}/{suffix}"


def _list_call() -> _Call:
    return _Call("GET", ACTIONS_PATH, "listing the AI Actions")


def _get_call(action_id: str) -> _Call:
    return _Call("GET", _action_path(action_id), "getting an AI Action")


def _delete_call(action_id: str) -> _Call:
    return _Call("DELETE", _action_path(action_id), "deleting an AI Action")


def _run_call(
    action_id: str, instructions: str, params: Mapping[str, Any] | None, preview: bool
) -> _Call:
    if not isinstance(instructions, str) or not instructions.strip():
        raise ConfigurationError(
            "The instructions are empty. Say in plain words what the action should do."
        )
    constraints = constraints_from(params)
    body: dict[str, Any] = {"instructions": instructions}
    if constraints is not None:
        body = ExecuteRequest(instructions=instructions, params=constraints).body()
    return _Call(
        "POST",
        _action_path(action_id, "execute/"),
        "previewing an AI Action" if preview else "running an AI Action",
        params={"preview_only": "true"} if preview else {},
        json=body,
    )


def _rate_call(execution_log_id: str, rating: int, feedback: str | None) -> _Call:
    if isinstance(rating, bool) or rating not in (-1, 0, 1):
        raise ConfigurationError("rating must be -1 (bad), 0 (neutral) or 1 (good).")
    log_id = execution_log_id.strip()
    if not log_id or "/" in log_id or "?" in log_id:
        raise ConfigurationError(
            f"{execution_log_id!r} is not an execution log id; take it from a result's "
            "execution_log_id."
        )
    params = {"rating": str(rating)}
    if feedback:
        params["feedback"] = feedback
    return _Call(
        "POST", RATE_PATH.format(execution_log_id=log_id), "rating an execution", params=params
    )


def _stored_request(
    *,
    app: str,
    action: str,
    action_type: ActionType,
    params: Mapping[str, str | list[str]] | None,
    meta: AiActionMeta | Mapping[str, Any] | None,
) -> dict[str, Any]:
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
        raise ConfigurationError(
            f"The action's settings are not valid ({_first_problem(exc)}). app and action are "
            "strings, action_type one of read, write, search, read_bulk, params maps input keys "
            "to a string or a list of strings."
        ) from None
    return request.body()


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


def _create_call(body: dict[str, Any], query: dict[str, str]) -> _Call:
    return _Call("POST", ACTIONS_PATH, "creating an AI Action", params=query, json=body)


def _update_call(action_id: str, body: dict[str, Any], query: dict[str, str]) -> _Call:
    return _Call("PUT", _action_path(action_id), "updating an AI Action", params=query, json=body)


def _merged(current: AiAction, changes: dict[str, Any]) -> dict[str, Any]:
    given = {k: v for k, v in changes.items() if v is not None}
    return {
        "app": given.get("app", current.app),
        "action": given.get("action", current.action),
        "action_type": given.get("action_type", current.action_type),
        "params": given.get("params", current.params),
        "meta": given.get("meta", current.meta if "params" not in given else None),
    }


# -- the operations -----------------------------------------------------------------------------


def list_actions(session: Host) -> ActionList:
    return _do(session, _list_call(), _action_list)


async def alist_actions(session: Host) -> ActionList:
    return await _ado(session, _list_call(), _action_list)


def get_action(session: Host, action_id: str) -> AiAction:
    return _do(session, _get_call(action_id), _action("getting an AI Action"))


async def aget_action(session: Host, action_id: str) -> AiAction:
    return await _ado(session, _get_call(action_id), _action("getting an AI Action"))


def create_action(
    session: Host,
    *,
    account_id: int | None = None,
    authentication_id: int | None = None,
    **settings: Any,
) -> AiAction:
    call = _create_call(_stored_request(**settings), _account_query(account_id, authentication_id))
    return _do(session, call, _action("creating an AI Action"))


async def acreate_action(
    session: Host,
    *,
    account_id: int | None = None,
    authentication_id: int | None = None,
    **settings: Any,
) -> AiAction:
    call = _create_call(_stored_request(**settings), _account_query(account_id, authentication_id))
    return await _ado(session, call, _action("creating an AI Action"))


def update_action(
    session: Host,
    ref: ActionRef,
    *,
    account_id: int | None = None,
    authentication_id: int | None = None,
    **changes: Any,
) -> AiAction:
    current = ref if isinstance(ref, AiAction) else get_action(session, ref)
    body = _stored_request(**_merged(current, changes))
    call = _update_call(current.id, body, _account_query(account_id, authentication_id))
    return _do(session, call, _action("updating an AI Action"))


async def aupdate_action(
    session: Host,
    ref: ActionRef,
    *,
    account_id: int | None = None,
    authentication_id: int | None = None,
    **changes: Any,
) -> AiAction:
    current = ref if isinstance(ref, AiAction) else await aget_action(session, ref)
    body = _stored_request(**_merged(current, changes))
    call = _update_call(current.id, body, _account_query(account_id, authentication_id))
    return await _ado(session, call, _action("updating an AI Action"))


def delete_action(session: Host, action: ActionRef) -> bool:
    return _do(session, _delete_call(id_of(action)), _deleted)


async def adelete_action(session: Host, action: ActionRef) -> bool:
    return await _ado(session, _delete_call(id_of(action)), _deleted)


def run_action(
    session: Host,
    action_id: str,
    instructions: str,
    params: Mapping[str, Any] | None = None,
    preview: bool = False,
) -> ActionResult:
    call = _run_call(action_id, instructions, params, preview)
    return _do(session, call, _result(call.what))


async def arun_action(
    session: Host,
    action_id: str,
    instructions: str,
    params: Mapping[str, Any] | None = None,
    preview: bool = False,
) -> ActionResult:
    call = _run_call(action_id, instructions, params, preview)
    return await _ado(session, call, _result(call.what))


def rate_execution(
    session: Host, execution_log_id: str, rating: int, feedback: str | None = None
) -> ActionResult:
    call = _rate_call(execution_log_id, rating, feedback)
    return _do(session, call, _result(call.what))


async def arate_execution(
    session: Host, execution_log_id: str, rating: int, feedback: str | None = None
) -> ActionResult:
    call = _rate_call(execution_log_id, rating, feedback)
    return await _ado(session, call, _result(call.what))


# -- naming an action ---------------------------------------------------------------------------


def id_of(action: ActionRef) -> str:
    return action.id if isinstance(action, AiAction) else action


def looks_like_id(text: str) -> bool:
    """AI Action ids are 26 upper-case letters and digits (ULIDs)."""
    return bool(_ID_SHAPE.fullmatch(text.strip()))


def lookup_action(session: Host, query: str) -> AiAction:
    return find_action(list_actions(session), query)


async def alookup_action(session: Host, query: str) -> AiAction:
    return find_action(await alist_actions(session), query)


def resolve_action(session: Host, action: ActionRef) -> AiAction | str:
    """An id-shaped string is used as it is (no request); anything else is looked up."""
    if isinstance(action, AiAction):
        return action
    _check_ref(action)
    return action.strip() if looks_like_id(action) else lookup_action(session, action)


async def aresolve_action(session: Host, action: ActionRef) -> AiAction | str:
    if isinstance(action, AiAction):
        return action
    _check_ref(action)
    return action.strip() if looks_like_id(action) else await alookup_action(session, action)


def _check_ref(action: object) -> None:
    if not isinstance(action, str):
        raise ConfigurationError(
            f"An action is named by its id, app/action key or description (a string) or "
            f"given as an AiAction, not a {type(action).__name__}."
        )
