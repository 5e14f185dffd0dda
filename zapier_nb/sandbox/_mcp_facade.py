"""`Sandbox.mcp`: what tests, benchmarks and tutorials see of the sandbox's MCP server."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urljoin

from . import _browser
from ._mcp_routes import MCP_CONSENT_PATH, MCP_PATH
from ._mcp_state import CustomTool, MCPExecution, MCPState, ToolRun
from ._state import SandboxState

__all__ = ["SandboxMCP", "approve_mcp"]


class SandboxMCP:
    """The sandbox's Zapier MCP server: its URL, connection tokens, tools and counters.

    Faults go through `Sandbox.fail_next` with the routes `mcp_call` (a `tools/call`) and
    `mcp_list` (a `tools/list`): `status=429, retry_after=1`, `status=500` (before the
    tool runs), `status=502, act_first=True` (after it ran), `delay=2, status=0` (slow).
    """

    def __init__(self, state: SandboxState) -> None:
        self._state = state

    @property
    def _mcp(self) -> MCPState:
        return self._state.mcp

    def __repr__(self) -> str:
        return f"<SandboxMCP {self.url}>"

    @property
    def url(self) -> str:
        """The server's Streamable HTTP endpoint (Zapier's is https://mcp.zapier.com/api/v1/connect)."""
        return self._state.base_url + MCP_PATH

    @property
    def served(self) -> bool:
        """Whether the sandbox serves MCP (the MCP SDK, extra `mcp`, is installed)."""
        return self._mcp.served

    def settings(self) -> dict[str, str]:
        """`ZAPIER_MCP_URL` and `ZAPIER_MCP_TOKEN` for `MCPSession.from_env()` (none unserved)."""
        if not self.served:
            return {}
        return {"ZAPIER_MCP_URL": self.url, "ZAPIER_MCP_TOKEN": self.token}

    @property
    def token(self) -> str:
        """The connection token shown on the home page (restored by `Sandbox.reset()`)."""
        return self._mcp.default_token

    def new_token(self, label: str = "Generated") -> str:
        """Generate one more connection token, as the "Generate token" button does."""
        return self._mcp.new_connection_token(label)

    def revoke(self, token: str) -> bool:
        """Revoke a connection token; True if it was active."""
        return self._mcp.revoke_connection_token(token)

    @property
    def latency(self) -> float:
        """Seconds every tool call waits before it runs (0 after a reset)."""
        return self._mcp.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency must not be negative")
        self._mcp.latency = float(seconds)

    @property
    def most_concurrent_calls(self) -> int:
        """The most tool calls that ran at once since the last reset."""
        return self._mcp.most_running

    @property
    def access_ttl(self) -> float:
        """Seconds an OAuth access token lives (3600 after a reset)."""
        return self._mcp.access_ttl

    @access_ttl.setter
    def access_ttl(self, seconds: float) -> None:
        self._mcp.access_ttl = float(seconds)

    def add_tool(
        self,
        name: str,
        *,
        description: str = "",
        arguments: Mapping[str, Mapping[str, Any]] | Sequence[str] = (),
        required: Sequence[str] = (),
        run: ToolRun | None = None,
        title: str | None = None,
    ) -> None:
        """Serve one more tool. `arguments` are JSON schemas by name (or names of strings);
        `run(arguments)` answers records (a list of dicts, or one), text, or PNG bytes, and
        an exception it raises is the tool's error. Without `run` it echoes its arguments."""
        if isinstance(arguments, Mapping):
            properties = {key: dict(schema) for key, schema in arguments.items()}
        else:
            properties = {key: {"type": "string"} for key in arguments}
        self._mcp.add_tool(CustomTool(name, description, properties, tuple(required), run, title))

    def add_tools(self, count: int, *, prefix: str = "bench_tool") -> list[str]:
        """Serve `count` echo tools (`bench_tool_0001`, ...), each with one required argument."""
        names = [f"{prefix}_{number:04d}" for number in range(1, count + 1)]
        for name in names:
            self.add_tool(
                name,
                description=f"Echoes its arguments ({name}).",
                arguments={"text": {"type": "string", "description": "Anything."}},
                required=["text"],
            )
        return names

    def execution_count(self, tool: str | None = None) -> int:
        """Tool runs the server really performed, for one tool or all of them."""
        return self._mcp.execution_count(tool)

    def executions(self) -> list[MCPExecution]:
        return self._mcp.executions()

    def sent_emails(self) -> list[dict[str, str]]:
        """Messages the `gmail_send_email` tool sent, oldest first."""
        with self._mcp.lock:
            return list(self._mcp.sent_emails)

    def expire_access_tokens(self) -> None:
        """Make every OAuth access token expired (connection tokens are not affected)."""
        self._mcp.expire_access_tokens()

    def revoke_logins(self) -> None:
        """End every OAuth login: its access and refresh tokens stop working."""
        self._mcp.revoke_oauth()

    def approve(self, authorize_url: str, *, deny: bool = False) -> str:
        """Answer an MCP login's consent page as a user would; returns the redirect URL."""
        return approve_mcp(authorize_url, deny=deny)


def approve_mcp(authorize_url: str, *, deny: bool = False) -> str:
    """Answer any running sandbox's MCP consent page; returns the address it redirects to."""
    page = _browser._get(authorize_url, None)
    if page.status in (302, 303) and MCP_CONSENT_PATH in page.location:
        page = _browser._get(page.location, None)
    if page.status in (302, 303):
        return page.location
    if page.status != 200:
        raise page.fail("the MCP authorization page")
    form = page.form(MCP_CONSENT_PATH)
    form.fields["decision"] = "deny" if deny else "approve"
    answer = _browser._fetch("POST", urljoin(page.url, form.action), form=form.fields)
    if answer.status not in (302, 303):
        raise answer.fail("the MCP consent form")
    return answer.location
