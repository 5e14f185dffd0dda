"""What the sandbox's MCP server knows: connection tokens, OAuth grants, extra tools, counts.

A connection token stands in for the one Zapier shows when a user generates a token for
an MCP server: long-lived, sent as `Authorization: Bearer`, revocable. OAuth access tokens
are short-lived and refreshed (see `_mcp_auth`). Every tool run is counted, so tests and
benchmarks can tell how many times a tool really acted.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ConnectionToken", "CustomTool", "MCPExecution", "MCPState", "ToolRun"]

ToolRun = Callable[[dict[str, Any]], Any]

DEFAULT_TOKEN_LABEL = "Default (shown on the home page)"


def new_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


@dataclass
class ConnectionToken:
    token: str
    label: str
    created: float
    revoked: bool = False


@dataclass(frozen=True)
class CustomTool:
    """A tool a test or benchmark added: `run(arguments)` answers records, text or PNG bytes."""

    name: str
    description: str
    properties: dict[str, dict[str, Any]]
    required: tuple[str, ...]
    run: ToolRun | None = None
    title: str | None = None


@dataclass(frozen=True)
class MCPExecution:
    """One tool run: its name, the arguments it got, and how it ended."""

    tool: str
    arguments: dict[str, Any]
    status: str


@dataclass
class _OAuthGrant:
    """One consent: the tokens issued from it die together."""

    client_id: str
    user_id: int
    scopes: list[str]
    resource: str | None
    revoked: bool = False


@dataclass
class _Issued:
    grant: int
    expires_at: float | None
    used: bool = False


@dataclass
class OAuthTables:
    clients: dict[str, Any] = field(default_factory=dict)
    codes: dict[str, tuple[Any, int]] = field(default_factory=dict)
    grants: list[_OAuthGrant] = field(default_factory=list)
    access: dict[str, _Issued] = field(default_factory=dict)
    refresh: dict[str, _Issued] = field(default_factory=dict)
    pending: dict[str, tuple[Any, Any]] = field(default_factory=dict)


class MCPState:
    """Guarded by one lock: the app, the test and the benchmark touch it from any thread."""

    def __init__(self, remember: Callable[[str], None]) -> None:
        self._lock = threading.RLock()
        self._remember = remember
        self.served = False  # set when the app serves MCP (the SDK is installed)
        self.default_token = new_token("sbx_mcp_")
        remember(self.default_token)
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._tokens = {
                self.default_token: ConnectionToken(
                    self.default_token, DEFAULT_TOKEN_LABEL, time.time()
                )
            }
            self._executions: list[MCPExecution] = []
            self._counts: Counter[str] = Counter()
            self._custom: dict[str, CustomTool] = {}
            self.latency = 0.0
            self.running_now = 0
            self.most_running = 0  # the most tool calls running at once since the reset
            self.access_ttl = 3600.0
            self.oauth = OAuthTables()
            self.sent_emails: list[dict[str, str]] = []

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """One tool call running (for the count of calls running at once)."""
        with self._lock:
            self.running_now += 1
            self.most_running = max(self.most_running, self.running_now)
        try:
            yield
        finally:
            with self._lock:
                self.running_now -= 1

    # -- connection tokens ------------------------------------------------------------------

    def new_connection_token(self, label: str = "Generated") -> str:
        token = new_token("sbx_mcp_")
        self._remember(token)
        with self._lock:
            self._tokens[token] = ConnectionToken(token, label, time.time())
        return token

    def revoke_connection_token(self, token: str) -> bool:
        with self._lock:
            known = self._tokens.get(token)
            if known is None or known.revoked:
                return False
            known.revoked = True
            return True

    def home_token(self) -> str:
        """The token the home page shows: the default one while it is served and not revoked."""
        if not self.served or not self.connection_token_valid(self.default_token):
            return ""
        return self.default_token

    def connection_tokens(self) -> list[ConnectionToken]:
        with self._lock:
            return list(self._tokens.values())

    def connection_token_valid(self, token: str) -> bool:
        with self._lock:
            known = self._tokens.get(token)
            return known is not None and not known.revoked

    # -- OAuth (the tables `_mcp_auth` keeps its grants in) ---------------------------------

    def remember(self, secret: str) -> None:
        self._remember(secret)

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    def add_grant(self, grant: _OAuthGrant) -> int:
        with self._lock:
            self.oauth.grants.append(grant)
            return len(self.oauth.grants) - 1

    def expire_access_tokens(self) -> None:
        with self._lock:
            for issued in self.oauth.access.values():
                issued.expires_at = 0.0

    def revoke_oauth(self) -> None:
        with self._lock:
            for grant in self.oauth.grants:
                grant.revoked = True

    # -- tools and executions ---------------------------------------------------------------

    def add_tool(self, tool: CustomTool) -> None:
        with self._lock:
            self._custom[tool.name] = tool

    def custom_tools(self) -> list[CustomTool]:
        with self._lock:
            return list(self._custom.values())

    def custom_tool(self, name: str) -> CustomTool | None:
        with self._lock:
            return self._custom.get(name)

    def record(self, execution: MCPExecution) -> None:
        with self._lock:
            self._executions.append(execution)
            self._counts[execution.tool] += 1

    def execution_count(self, tool: str | None = None) -> int:
        with self._lock:
            return len(self._executions) if tool is None else self._counts[tool]

    def executions(self) -> list[MCPExecution]:
        with self._lock:
            return list(self._executions)
