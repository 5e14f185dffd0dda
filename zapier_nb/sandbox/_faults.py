"""Queued failures that replace the normal handling of a route.

A fault with ``act_first`` lets the route do its work (an execute really runs, a token
is really issued) and then replaces the answer: the route hands the fault to
``defer()``, and the app's middleware applies it once the route has answered.
"""

from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass

ACTION_FAULT_ROUTES: tuple[str, ...] = (
    "create_action",
    "delete_action",
    "execute",
    "get_action",
    "list_actions",
    "rate",
    "update_action",
)
# The MCP server's requests, by JSON-RPC method: tools/call and tools/list.
MCP_FAULT_ROUTES: tuple[str, ...] = ("mcp_call", "mcp_list")
FAULT_ROUTES: tuple[str, ...] = (
    "authorize",
    "check",
    "login_link",
    "token",
    *ACTION_FAULT_ROUTES,
    *MCP_FAULT_ROUTES,
)

UNTIL_CLEARED = -1


@dataclass(frozen=True)
class Fault:
    """What to do instead of answering: wait, then drop, answer normally (status 0), or fail."""

    status: int = 500
    body: str | bytes | None = None
    content_type: str = "application/json"
    delay: float = 0.0
    drop: bool = False
    act_first: bool = False
    retry_after: float | None = None
    headers: tuple[tuple[str, str], ...] = ()

    @property
    def answers_normally(self) -> bool:
        return not self.drop and self.status == 0


@dataclass(frozen=True)
class DeferredFault:
    route: str
    fault: Fault


_deferred: contextvars.ContextVar[list[DeferredFault] | None] = contextvars.ContextVar(
    "zapier_nb_sandbox_deferred_fault", default=None
)


def open_deferral() -> tuple[list[DeferredFault], contextvars.Token[list[DeferredFault] | None]]:
    """Start collecting the act-first faults of one request (called by the middleware)."""
    box: list[DeferredFault] = []
    return box, _deferred.set(box)


def close_deferral(token: contextvars.Token[list[DeferredFault] | None]) -> None:
    _deferred.reset(token)


def defer(route: str, fault: Fault) -> None:
    """Apply ``fault`` once the route has done its work and answered."""
    box = _deferred.get()
    if box is None:
        raise RuntimeError("an act-first fault needs the sandbox app's fault middleware")
    box.append(DeferredFault(route, fault))


@dataclass
class _Pending:
    fault: Fault
    remaining: int


class FaultQueue:
    """Thread-safe per-route FIFO of faults, each good for a number of requests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, list[_Pending]] = {}

    def add(self, route: str, fault: Fault, times: int) -> None:
        if route not in FAULT_ROUTES:
            raise ValueError(f"route must be one of {', '.join(FAULT_ROUTES)}, not {route!r}")
        if times == 0 or times < UNTIL_CLEARED:
            raise ValueError("times must be a positive count, or -1 for until clear_faults()")
        if fault.delay < 0:
            raise ValueError("delay must not be negative")
        if fault.status != 0 and not 100 <= fault.status <= 599:
            raise ValueError("status must be an HTTP status code, or 0 to answer normally")
        if fault.status == 0 and fault.body is not None:
            raise ValueError("a body needs a status; status=0 means answer normally")
        if fault.act_first and fault.answers_normally:
            raise ValueError("act_first needs a failure after the work: a status, or drop=True")
        if fault.retry_after is not None and fault.retry_after < 0:
            raise ValueError("retry_after must not be negative")
        with self._lock:
            self._queues.setdefault(route, []).append(_Pending(fault, times))

    def take(self, route: str) -> Fault | None:
        with self._lock:
            queue = self._queues.get(route)
            if not queue:
                return None
            head = queue[0]
            if head.remaining != UNTIL_CLEARED:
                head.remaining -= 1
                if head.remaining == 0:
                    queue.pop(0)
            return head.fault

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()
