"""MCP failures as the toolkit's errors: one line each, saying what happened and what to do.

`Exchange` (what the HTTP layer saw) decides: a transport error, an HTTP error status
(mapped by `_errors.error_for_status`, as for AI Actions), else the server's JSON-RPC error.
"""

from __future__ import annotations

from typing import Any

from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    RateLimitError,
    ToolError,
    ZapierError,
    error_for_status,
)
from ._http import httpx
from ._mcp_transport import Exchange

__all__ = ["MAY_HAVE_RUN", "call_failed", "tool_error"]

MAY_HAVE_RUN = "It may have run: check before calling it again."
_TOOL_TEXT_CAP = 500

_AUTH_HINT = (
    "The MCP server refused the token: it is wrong, revoked or expired. Generate a new "
    "connection token for your MCP server (mcp.zapier.com, or the sandbox's home page) and "
    "pass it as MCPSession(token=...) or ZAPIER_MCP_TOKEN; an OAuth login logs in again "
    "with mcp.login()."
)


def call_failed(what: str, where: str, exchange: Exchange, rpc: Any = None) -> ZapierError:
    """The error for `what` (`tools/call NAME`, `connecting`) sent to `where` (the URL)."""
    if exchange.error is not None:
        return _transport(what, where, exchange.error)
    status = exchange.status
    if status is not None and status >= 400:
        if status == 401:
            return AuthenticationError(
                f"{what} failed with HTTP 401. {_AUTH_HINT}",
                status_code=401,
                body=exchange.body,
                method="POST",
                path=where,
            )
        error = error_for_status(status, body=exchange.body, method="POST", path=where)
        if isinstance(error, RateLimitError):
            error.retry_after = exchange.retry_after
        return _named(error, what, where)
    code = getattr(rpc, "code", None)
    message = str(getattr(rpc, "message", "") or "no message").rstrip(".")
    return APIStatusError(
        f"The MCP server refused {what}: {message} (JSON-RPC error {code}). Check the tool "
        "name and arguments against list_tools().",
        status_code=status or 200,
        body={"code": code, "message": message},
        method="POST",
        path=where,
    )


def _named(error: APIStatusError, what: str, where: str) -> APIStatusError:
    """Say which MCP call failed rather than `POST <url>`."""
    prefix = f"POST {where}".strip()
    if error.message.startswith(prefix):
        error.message = what + error.message[len(prefix) :]
        error.args = (error.message,)
    if error.status_code >= 500 and what.startswith("tools/call"):
        error.message += f" {MAY_HAVE_RUN}"
        error.args = (error.message,)
    return error


def _transport(what: str, where: str, exc: httpx.TransportError) -> ZapierError:
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return APIConnectionError(
            f"{what}: could not reach {where} ({type(exc).__name__}). Check the MCP URL and "
            "your network, then try again."
        )
    acted = f" {MAY_HAVE_RUN}" if what.startswith("tools/call") else ""
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(
            f"{what} timed out: {where} did not answer in time.{acted} A larger timeout= may "
            "help for a slow tool."
        )
    return APIConnectionError(
        f"{what}: the connection to {where} broke before the answer came "
        f"({type(exc).__name__}).{acted or ' Try again.'}"
    )


def tool_error(tool: str, text: str) -> ToolError:
    shown = " ".join(text.split()) or "no details"
    if len(shown) > _TOOL_TEXT_CAP:
        shown = shown[: _TOOL_TEXT_CAP - 1] + "…"
    return ToolError(
        f"The tool {tool!r} reported an error: {shown.rstrip('.')}. Check its arguments "
        "(list_tools() shows what it needs); the full text is on this error's .text.",
        tool=tool,
        text=text,
    )
