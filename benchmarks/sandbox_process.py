"""The sandbox served from a child process, driven over a pipe.

Running it in its own interpreter keeps its event loop off the benchmark's GIL, so
the client's time is what gets measured. The pipe carries the few sandbox calls the
benchmarks need: play the consenting user, read a counter, change the token
lifetime, expire the access tokens, and for AI Actions: add actions, set the per-call
latency, queue faults, count executions and the instructions they ran.
"""

from __future__ import annotations

import multiprocessing
from collections import Counter
from multiprocessing.connection import Connection
from types import TracebackType
from typing import Any

_START_TIMEOUT = 60.0
_CALL_TIMEOUT = 60.0


def _serve(conn: Connection, token_ttl: float) -> None:
    """The child's main: serve the sandbox and answer commands until told to stop."""
    from zapier_nb.sandbox import Sandbox

    with Sandbox(token_ttl=token_ttl) as sb:
        conn.send(
            {
                "base_url": sb.base_url,
                "api_key": sb.api_key,
                "client_id": sb.client_id,
                "redirect_uri": sb.redirect_uri,
            }
        )
        while True:
            try:
                command, args = conn.recv()
            except EOFError:
                return
            if command == "stop":
                conn.send(("ok", None))
                return
            try:
                result: Any
                if command == "approve":
                    result = sb.approve(args[0])
                elif command == "count":
                    result = sb.count(args[0])
                elif command == "token_ttl":
                    sb.token_ttl = float(args[0])
                    result = None
                elif command == "expire_access_tokens":
                    sb.expire_access_tokens()
                    result = None
                elif command == "add_actions":
                    for number in range(int(args[0])):
                        sb.add_action(f"Bench: Action {number:04d}", needs=["thing"])
                    result = len(sb.actions())
                elif command == "latency":
                    sb.latency = float(args[0])
                    result = None
                elif command == "fail_next":
                    sb.fail_next(args[0], **args[1])
                    result = None
                elif command == "clear_faults":
                    sb.clear_faults()
                    result = None
                elif command == "execution_count":
                    result = sb.execution_count()
                elif command == "executed_instructions":
                    result = Counter(
                        log.instructions for log in sb.execution_logs() if not log.preview
                    )
                elif command == "reset":
                    sb.reset()
                    result = None
                elif command == "mcp":  # Sandbox.mcp: call a method, or set an attribute
                    name, *values = args
                    found = getattr(sb.mcp, name)
                    if callable(found):
                        result = found(*values)
                    else:
                        setattr(sb.mcp, name, values[0])
                        result = None
                else:
                    raise ValueError(f"unknown command {command!r}")
            except Exception as exc:
                conn.send(("error", f"{type(exc).__name__}: {exc}"))
            else:
                conn.send(("ok", result))


class SandboxProcess:
    """A `zapier_nb.sandbox.Sandbox` in a spawned child process."""

    def __init__(self, *, token_ttl: float = 3600.0) -> None:
        self._token_ttl = token_ttl
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self.base_url = ""
        self.api_key = ""
        self.client_id = ""
        self.redirect_uri = ""

    def start(self) -> SandboxProcess:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(child, self._token_ttl),
            name="sandbox",
            daemon=True,
        )
        process.start()
        child.close()
        self._conn, self._process = parent, process
        if not parent.poll(_START_TIMEOUT):
            self.stop()
            raise RuntimeError("the sandbox child process did not start")
        info: dict[str, str] = parent.recv()
        self.base_url = info["base_url"]
        self.api_key = info["api_key"]
        self.client_id = info["client_id"]
        self.redirect_uri = info["redirect_uri"]
        return self

    def _call(self, command: str, *args: Any) -> Any:
        conn = self._conn
        if conn is None:
            raise RuntimeError("the sandbox child process is not running")
        conn.send((command, args))
        if not conn.poll(_CALL_TIMEOUT):
            raise RuntimeError(f"the sandbox child process did not answer {command!r}")
        status, value = conn.recv()
        if status != "ok":
            raise RuntimeError(f"sandbox {command!r} failed: {value}")
        return value

    def approve(self, authorize_url: str) -> str:
        """Consent as the sandbox user; returns the redirected URL."""
        result: str = self._call("approve", authorize_url)
        return result

    def count(self, key: str) -> int:
        result: int = self._call("count", key)
        return result

    def set_token_ttl(self, seconds: float) -> None:
        """Lifetime of the access tokens issued from now on."""
        self._call("token_ttl", seconds)

    def expire_access_tokens(self) -> None:
        """Make the server refuse every access token issued so far (the 401 path)."""
        self._call("expire_access_tokens")

    def add_actions(self, count: int) -> int:
        """Store `count` more actions for the sandbox user; returns how many it has."""
        result: int = self._call("add_actions", count)
        return result

    def set_latency(self, seconds: float) -> None:
        self._call("latency", seconds)

    def fail_next(self, route: str, **fault: Any) -> None:
        self._call("fail_next", route, fault)

    def clear_faults(self) -> None:
        self._call("clear_faults")

    def execution_count(self) -> int:
        result: int = self._call("execution_count")
        return result

    def executed_instructions(self) -> Counter[str]:
        """How many times each instruction text was run (previews left out)."""
        result: Counter[str] = self._call("executed_instructions")
        return result

    def reset(self) -> None:
        self._call("reset")

    def mcp(self, name: str, *values: Any) -> Any:
        """`Sandbox.mcp`'s method `name(*values)`, or set its attribute `name` to a value."""
        return self._call("mcp", name, *values)

    def stop(self) -> None:
        conn, process = self._conn, self._process
        self._conn = self._process = None
        if conn is not None:
            try:
                conn.send(("stop", ()))
                if conn.poll(5):
                    conn.recv()
            except (OSError, EOFError):
                pass
            conn.close()
        if process is not None:
            process.join(10)
            if process.is_alive():
                process.terminate()
                process.join(5)

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
