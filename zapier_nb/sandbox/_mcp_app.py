"""The sandbox's MCP server: Streamable HTTP at `/api/v1/connect`, built on the MCP SDK.

The SDK's low-level server answers the protocol; its bearer middleware checks every
request's token with `_mcp_auth`. In front of it, this module counts the requests (those
at the token endpoint by grant type: `mcp_oauth:token_request:refresh_token`), and
applies the sandbox's queued faults by JSON-RPC method (`mcp_call` for `tools/call`,
`mcp_list` for `tools/list`): a fault before the tool runs answers in its place, an
act-first fault lets the tool run and then replaces the answer (the app's `ActFirstFaults`
middleware), a delay with `status=0` makes a slow call.

The SDK's session manager needs a running task group; the sandbox's server has no
lifespan, so the manager is started on the first request, in a task of its own.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import mcp_types as types
from mcp.server.auth.provider import ProviderTokenVerifier
from mcp.server.lowlevel.server import Server
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import Receive, Scope, Send

from . import _mcp_tools
from ._guard import _replay
from ._mcp_auth import auth_settings, provider_for
from ._mcp_pages import mcp_page_routes
from ._mcp_routes import MCP_AUTH_PATHS, MCP_PATH, MCP_TOKEN_PATH
from ._state import SandboxState

__all__ = ["mcp_routes"]

FaultTaker = Callable[[str], Awaitable[Response | None]]

_FAULT_ROUTES = {"tools/call": "mcp_call", "tools/list": "mcp_list"}


def _server(state: SandboxState) -> Server[Any]:
    async def on_list_tools(
        _ctx: Any, _params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=_mcp_tools.list_tools(state.mcp))

    async def on_call_tool(_ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
        with state.mcp.running():
            if state.mcp.latency > 0:
                await asyncio.sleep(state.mcp.latency)
            return _mcp_tools.call_tool(state.mcp, params.name, dict(params.arguments or {}))

    return Server(
        "Zapier MCP sandbox",
        version="1.0",
        instructions="A local stand-in for Zapier MCP: the sandbox's demo actions as tools.",
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
    )


class _MCPEndpoint:
    """ASGI: counts and faults in front of the SDK's app, which it starts on first use."""

    def __init__(self, state: SandboxState, take_fault: FaultTaker) -> None:
        self._state = state
        self._take_fault = take_fault
        server = _server(state)
        provider = provider_for(state)
        self._app: Starlette = server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            json_response=True,
            # The sandbox's own guard already refuses every Host but its own.
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
            auth=auth_settings(state),
            auth_server_provider=provider,
            token_verifier=ProviderTokenVerifier(provider),
        )
        self._manager = server.session_manager
        self._started: asyncio.Future[None] | None = None
        self._manager_task: asyncio.Task[None] | None = None

    async def _ensure_started(self) -> None:
        if self._started is None:
            loop = asyncio.get_running_loop()
            self._started = loop.create_future()
            # A fresh context: the manager's sessions must not inherit this request's.
            self._manager_task = loop.create_task(
                self._run_manager(self._started), context=contextvars.Context()
            )
        await asyncio.shield(self._started)

    async def _run_manager(self, started: asyncio.Future[None]) -> None:
        async with self._manager.run():
            started.set_result(None)
            await asyncio.Event().wait()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._ensure_started()
        if scope["type"] == "http" and scope["path"] == MCP_PATH and scope["method"] == "POST":
            body = await _read_body(receive)
            method = _method_of(body)
            self._state.count("mcp")
            if method:
                self._state.count(f"mcp:{method}")
            route = _FAULT_ROUTES.get(method or "")
            if route is not None:
                faulted = await self._take_fault(route)
                if faulted is not None:
                    await faulted(scope, receive, send)
                    return
            receive = _replay(body, receive)
        elif scope["type"] == "http" and scope["path"] == MCP_TOKEN_PATH:
            # Every request at the token endpoint, by grant, even one the SDK refuses
            # before the provider sees it (an unknown client, a bad form).
            body = await _read_body(receive)
            grant = parse_qs(body.decode("latin-1")).get("grant_type", ["none"])[0]
            self._state.count(f"mcp_oauth:token_request:{grant}")
            receive = _replay(body, receive)
        await self._app(scope, receive, send)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _method_of(body: bytes) -> str | None:
    try:
        message = json.loads(body)
    except ValueError:
        return None
    method = message.get("method") if isinstance(message, dict) else None
    return method if isinstance(method, str) else None


def mcp_routes(state: SandboxState, take_fault: FaultTaker) -> list[BaseRoute]:
    """The MCP endpoint and the OAuth routes the SDK serves for it."""
    endpoint = _MCPEndpoint(state, take_fault)
    state.mcp.served = True
    routes: list[BaseRoute] = [Route(path, endpoint) for path in (MCP_PATH, *MCP_AUTH_PATHS)]
    return routes + mcp_page_routes(state)
