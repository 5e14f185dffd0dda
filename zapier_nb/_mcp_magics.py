"""The Zapier MCP magics: `%zapier_mcp`, `%zapier_tools`, `%zapier_call` and `%%zapier_call`.

They use the kernel's default MCP session: built from `ZAPIER_MCP_URL` and
`ZAPIER_MCP_TOKEN` at first use, or set with `%zapier_mcp --url ... [--token-env VAR]`.
A mistake or a refused call is a one-line `UsageError`, never a traceback.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from ._errors import ZapierError
from ._shared import DefaultSession

if TYPE_CHECKING:
    from ._mcp_results import ToolList, ToolResult
    from ._mcp_session import MCPSession

__all__ = ["MCPMagics", "accept_connection_token", "get_mcp_session", "set_mcp_session"]


def _from_env() -> MCPSession:
    from ._mcp_session import MCPSession

    return MCPSession.from_env()


_default: DefaultSession[MCPSession] = DefaultSession(_from_env)


def get_mcp_session() -> MCPSession:
    """The kernel's default MCP session (from the environment until one is set)."""
    return _default.get()


def set_mcp_session(session: MCPSession) -> MCPSession:
    """Make `session` the default; the previous one is closed."""
    return _default.replace(session)


def accept_connection_token(token: str) -> str | None:
    """If `token` is a Zapier MCP connection token (the server at `ZAPIER_MCP_URL`, or
    Zapier's, accepts it), make it the kernel's MCP session and say so; else None.

    The login widget's key field asks this of a key the AI Actions API refused.
    """
    from ._mcp_session import MCPSession
    from ._redact import Secret

    try:
        session = MCPSession.from_env(token=Secret(token.strip()))
    except ZapierError:
        return None
    try:
        tools = session.list_tools()
    except ZapierError:
        session.close()
        return None
    set_mcp_session(session)
    count = f"{len(tools)} tool{'s' if len(tools) != 1 else ''}"
    return (
        f"That is a Zapier MCP connection token: connected to {session.url} ({count}). "
        "Use %zapier_tools and %zapier_call, or zapier_nb.MCPSession.from_env()."
    )


@contextlib.contextmanager
def _as_usage_errors() -> Iterator[None]:
    try:
        yield
    except ZapierError as exc:
        raise UsageError(exc.message) from None


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _value(text: str) -> Any:
    """A `key=value` value: JSON when it reads as JSON (numbers, true, lists), else the text."""
    text = _unquote(text)
    try:
        return json.loads(text)
    except ValueError:
        return text


def _pairs(pairs: list[str]) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = _unquote(pair).partition("=")
        if not sep or not key.strip():
            raise UsageError(
                f"Give arguments as key=value (quote a value with spaces), not {pair!r}."
            )
        arguments[key.strip()] = _value(value)
    return arguments


def _cell_arguments(cell: str) -> dict[str, Any]:
    try:
        arguments = json.loads(cell)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"The cell of %%zapier_call must hold the arguments as a JSON object ({exc.msg} at "
            f'line {exc.lineno}), like {{"to": "ada@example.com"}}.'
        ) from None
    if not isinstance(arguments, dict):
        raise UsageError(
            "The cell of %%zapier_call must hold a JSON object of arguments, "
            'like {"to": "ada@example.com"}.'
        )
    return arguments


@magics_class
class MCPMagics(Magics):
    """Zapier MCP from a cell: connect, list the tools, call one."""

    @magic_arguments()
    @argument("--url", help="The MCP server's URL (default: ZAPIER_MCP_URL, else Zapier's).")
    @argument(
        "--token-env",
        default="ZAPIER_MCP_TOKEN",
        metavar="VAR",
        help="The environment variable holding the connection token (default ZAPIER_MCP_TOKEN).",
    )
    @line_magic
    def zapier_mcp(self, line: str) -> MCPSession:
        """Set the kernel's MCP session: `%zapier_mcp --url URL [--token-env VAR]`.

        The token is read from the environment, never from the line, so it stays out of the
        notebook.
        """
        args = parse_argstring(self.zapier_mcp, line)
        name = args.token_env.strip()
        if not name:
            raise UsageError("--token-env names an environment variable, like ZAPIER_MCP_TOKEN.")
        if not os.environ.get(name, "").strip():
            raise UsageError(
                f"The environment variable {name} is not set. Put the connection token there "
                f"(os.environ[{name!r}] = ... from a secret store, or the sandbox's token), "
                "then run this again."
            )
        from ._mcp_session import MCPSession
        from ._redact import Secret

        url = _unquote(args.url) if args.url else None
        with _as_usage_errors():
            session = MCPSession.from_env(token=Secret(os.environ[name].strip()), url=url)
        return set_mcp_session(session)

    @line_magic
    def zapier_tools(self, line: str) -> ToolList:
        """`%zapier_tools [WORDS]`: the MCP server's tools, those matching every word if given."""
        with _as_usage_errors():
            tools = get_mcp_session().list_tools()
        words = line.casefold().split()
        if not words:
            return tools
        from ._mcp_results import ToolList

        kept = [
            t
            for t in tools
            if all(w in f"{t.name} {t.title} {t.description}".casefold() for w in words)
        ]
        return ToolList(kept, server=tools.server)

    @line_cell_magic
    def zapier_call(self, line: str, cell: str | None = None) -> ToolResult:
        """Call a tool: `%zapier_call TOOL key=value ...`, or `%%zapier_call TOOL` with the
        arguments as a JSON object in the cell. `r = %zapier_call ...` keeps the result."""
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise UsageError(
                f"%zapier_call could not read its line ({exc}); check the quotes."
            ) from None
        if not words:
            raise UsageError(
                "Name the tool: %zapier_call TOOL key=value ... (%zapier_tools lists them)."
            )
        tool, arguments = words[0], _pairs(words[1:])
        if cell is not None and cell.strip():
            if arguments:
                raise UsageError(
                    "Give the arguments either on the %%zapier_call line or in the cell, not both."
                )
            arguments = _cell_arguments(cell)
        with _as_usage_errors():
            return get_mcp_session().call_tool(tool, arguments)
