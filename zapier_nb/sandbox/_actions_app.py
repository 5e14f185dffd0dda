"""Starlette routes of the AI Actions V2 endpoints: stored actions, execute, preview, rate.

Every route counts its request, then takes a queued fault, waits the per-call latency,
and checks the credentials: an API key (``x-api-key`` or ``?api_key=``) or a Bearer
token carrying the scope ``nla:exposed_actions:execute`` (403 without it). Paths are
served with and without their trailing slash. Errors are ``{"error": ...}``: 422 for a
request that does not follow the API, 404 for an id that is not the user's.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ._actions_state import StoredAction
from ._credentials import authenticate
from ._models import SandboxUser
from ._routes import AI_ACTION_PATH, AI_ACTIONS_PATH, EXECUTE_PATH, PREVIEW_PATH, RATE_PATH
from ._state import SandboxState

__all__ = ["EXECUTE_SCOPE", "action_routes"]

EXECUTE_SCOPE = "nla:exposed_actions:execute"
ACTION_TYPES = ("read", "write", "search", "read_bulk")
MODES = ("locked", "guess", "choose_from", "ignored")
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no", "")

FaultTaker = Callable[[str], Awaitable[Response | None]]
Endpoint = Callable[[Request], Awaitable[Response]]


class Refusal(Exception):
    """A request answered with an error status and ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def response(self) -> Response:
        return JSONResponse({"error": self.message}, status_code=self.status)


def action_routes(state: SandboxState, take_fault: FaultTaker) -> list[Route]:
    handlers = _ActionRoutes(state, take_fault)
    table: list[tuple[str, Endpoint, str]] = [
        (AI_ACTIONS_PATH, handlers.list_actions, "GET"),
        (AI_ACTIONS_PATH, handlers.create_action, "POST"),
        (AI_ACTION_PATH, handlers.get_action, "GET"),
        (AI_ACTION_PATH, handlers.update_action, "PUT"),
        (AI_ACTION_PATH, handlers.delete_action, "DELETE"),
        (EXECUTE_PATH, handlers.execute, "POST"),
        (PREVIEW_PATH, handlers.preview, "POST"),
        (RATE_PATH, handlers.rate, "POST"),
    ]
    routes = []
    for path in dict.fromkeys(path for path, _, _ in table):
        methods = {method: endpoint for p, endpoint, method in table if p == path}
        endpoint = _dispatch(methods)
        routes.append(Route(path, endpoint, methods=list(methods)))
        routes.append(Route(path.rstrip("/"), endpoint, methods=list(methods)))
    return routes


def _dispatch(methods: dict[str, Endpoint]) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        return await methods[request.method](request)

    return endpoint


class _ActionRoutes:
    def __init__(self, state: SandboxState, take_fault: FaultTaker) -> None:
        self.state = state
        self.actions = state.actions
        self._take_fault = take_fault

    async def _begin(self, route: str, request: Request) -> SandboxUser | Response:
        self.state.count(route)
        faulted = await self._take_fault(route)
        if faulted is not None:
            return faulted
        if self.actions.latency > 0:
            await asyncio.sleep(self.actions.latency)
        return authenticate(self.state, request, scope=EXECUTE_SCOPE)

    def _owned(self, user: SandboxUser, request: Request) -> StoredAction:
        action_id = request.path_params["ai_action_id"]
        action = self.actions.get(user.user_id, action_id)
        if action is None:
            raise Refusal(404, f"No AI Action has the id {action_id!r}.")
        return action

    # -- stored actions -----------------------------------------------------------------------

    async def list_actions(self, request: Request) -> Response:
        user = await self._begin("list_actions", request)
        if isinstance(user, Response):
            return user
        body = {
            "results": [a.wire() for a in self.actions.owned(user.user_id)],
            "configuration_link": f"{self.state.base_url}/sandbox/actions/",
        }
        return JSONResponse(body)

    async def create_action(self, request: Request) -> Response:
        user = await self._begin("create_action", request)
        if isinstance(user, Response):
            return user
        try:
            settings = _stored_settings(await _json_object(request), request)
        except Refusal as refusal:
            return refusal.response()
        return JSONResponse(self.actions.add(user.user_id, **settings).wire())

    async def get_action(self, request: Request) -> Response:
        user = await self._begin("get_action", request)
        if isinstance(user, Response):
            return user
        try:
            return JSONResponse(self._owned(user, request).wire())
        except Refusal as refusal:
            return refusal.response()

    async def update_action(self, request: Request) -> Response:
        user = await self._begin("update_action", request)
        if isinstance(user, Response):
            return user
        try:
            action = self._owned(user, request)
            settings = _stored_settings(await _json_object(request), request)
        except Refusal as refusal:
            return refusal.response()
        updated = self.actions.replace(user.user_id, action.id, **settings)
        assert updated is not None
        return JSONResponse(updated.wire())

    async def delete_action(self, request: Request) -> Response:
        user = await self._begin("delete_action", request)
        if isinstance(user, Response):
            return user
        deleted = self.actions.delete(user.user_id, request.path_params["ai_action_id"])
        return JSONResponse(deleted)

    # -- running -------------------------------------------------------------------------------

    async def execute(self, request: Request) -> Response:
        return await self._execute(request, forced_preview=False)

    async def preview(self, request: Request) -> Response:
        return await self._execute(request, forced_preview=True)

    async def _execute(self, request: Request, *, forced_preview: bool) -> Response:
        started = time.monotonic()
        user = await self._begin("execute", request)
        if isinstance(user, Response):
            return user
        try:
            action = self._owned(user, request)
            body = await _json_object(request)
            preview = forced_preview or _preview_only(request, body)
            instructions = body.get("instructions")
            if not isinstance(instructions, str) or not instructions.strip():
                raise Refusal(422, "instructions is required: a non-empty string.")
            constraints = _constraints(body.get("params"), action)
        except Refusal as refusal:
            return refusal.response()
        if preview:
            self.state.count("execute:preview")
        log = self.actions.execute(
            action,
            instructions=instructions,
            constraints=constraints,
            preview=preview,
            sender_email=user.email,
            sender_name=user.name,
            started_at=started,
        )
        return JSONResponse(log.response)

    async def rate(self, request: Request) -> Response:
        user = await self._begin("rate", request)
        if isinstance(user, Response):
            return user
        query = request.query_params
        raw = query.get("rating", "0")
        try:
            rating = int(raw)
        except ValueError:
            rating = 2
        if rating not in (-1, 0, 1):
            return Refusal(422, "rating must be -1, 0 or 1.").response()
        log_id = request.path_params["execution_log_id"]
        log = self.actions.rate(user.user_id, log_id, rating, query.get("feedback"))
        if log is None:
            return Refusal(404, f"No execution log has the id {log_id!r}.").response()
        return JSONResponse(log.response)


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError):
        raise Refusal(422, "The body must be a JSON object.") from None
    if not isinstance(body, dict):
        raise Refusal(422, "The body must be a JSON object.")
    return body


def _preview_only(request: Request, body: dict[str, Any]) -> bool:
    raw = request.query_params.get("preview_only")
    if raw is not None:
        if raw.lower() in _TRUE:
            return True
        if raw.lower() in _FALSE:
            return False
        raise Refusal(422, "preview_only must be true or false.")
    in_body = body.get("preview_only", False)
    if not isinstance(in_body, bool):
        raise Refusal(422, "preview_only must be true or false.")
    return in_body


def _is_value(value: Any) -> bool:
    if value is None or isinstance(value, str):
        return True
    if isinstance(value, list):
        return all(isinstance(item, str) for item in value)
    if isinstance(value, dict):
        return all(isinstance(item, str) for item in value.values())
    return False


def _constraints(params: Any, action: StoredAction) -> dict[str, dict[str, Any]]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise Refusal(422, "params must be an object of input key to {mode, value}.")
    known = [str(need["key"]) for need in action.needs]
    out = {}
    for key, constraint in params.items():
        if known and key not in known:
            raise Refusal(
                422, f"params has an unknown input {key!r}; this action takes {', '.join(known)}."
            )
        if not isinstance(constraint, dict) or constraint.get("mode") not in MODES:
            raise Refusal(
                422, f"params.{key} must be {{mode, value}} with mode one of {', '.join(MODES)}."
            )
        if set(constraint) - {"mode", "value"}:
            raise Refusal(422, f"params.{key} may only have mode and value.")
        value = constraint.get("value")
        if not _is_value(value):
            raise Refusal(
                422, f"params.{key}.value must be a string, a list of strings, or an object."
            )
        if constraint["mode"] == "choose_from" and not (isinstance(value, list) and value):
            raise Refusal(422, f"params.{key}: choose_from needs a non-empty list of choices.")
        if constraint["mode"] == "locked" and value is None:
            raise Refusal(422, f"params.{key}: locked needs a value.")
        out[key] = {"mode": constraint["mode"], "value": value}
    return out


def _stored_settings(body: dict[str, Any], request: Request) -> dict[str, Any]:
    for name in ("app", "action"):
        if not isinstance(body.get(name), str) or not body[name].strip():
            raise Refusal(422, f"{name} is required: a non-empty string.")
    if body.get("action_type") not in ACTION_TYPES:
        raise Refusal(422, f"action_type is required: one of {', '.join(ACTION_TYPES)}.")
    params = body.get("params")
    if not isinstance(params, dict) or not all(
        isinstance(v, str) or (isinstance(v, list) and all(isinstance(i, str) for i in v))
        for v in params.values()
    ):
        raise Refusal(422, "params is required: an object of input key to a string or a list.")
    meta = body.get("meta")
    if not isinstance(meta, dict) or not isinstance(meta.get("params"), dict):
        raise Refusal(422, "meta is required: an object with params (a label per param).")
    for key, value in meta["params"].items():
        if not isinstance(value, dict) or not isinstance(value.get("label"), str):
            raise Refusal(422, f"meta.params.{key} must be {{label: string}}.")
    ids = {}
    for name in ("account_id", "authentication_id"):
        raw = request.query_params.get(name)
        if raw:
            try:
                ids[name] = int(raw)
            except ValueError:
                raise Refusal(422, f"{name} must be an integer.") from None
    return {
        "app": body["app"].strip(),
        "action": body["action"].strip(),
        "action_type": body["action_type"],
        "params": params,
        "meta": meta,
        **ids,
    }
