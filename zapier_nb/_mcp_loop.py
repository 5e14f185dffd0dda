"""A private event loop on a thread of its own, where the MCP SDK's async client lives.

The sync API must work in a Jupyter kernel, whose main thread already runs an event loop;
nothing here patches that loop. Every MCP coroutine runs on this thread's loop, and both
the sync methods (waiting on a future) and the async ones (awaiting it from the caller's
loop) hand their work over to it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")


class LoopThread:
    """Starts on first use; `close()` stops it. One per `MCPSession`."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return f"<LoopThread {self._name} {'running' if self.running else 'stopped'}>"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def serve() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=serve, name=self._name, daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule `coro` on the loop; refuses to be called from the loop's own thread."""
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("an MCPSession's sync method was called from its own loop")
        return asyncio.run_coroutine_threadsafe(coro, self._started())

    def call_soon(self, callback: Any, *args: Any) -> None:
        """Run `callback(*args)` on the loop's thread (when it is running)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback, *args)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` there and wait; an interrupt cancels it and is raised again."""
        future = self.submit(coro)
        try:
            return future.result()
        except KeyboardInterrupt:
            future.cancel()
            raise

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` there and await it from the caller's loop; cancelling cancels it."""
        return await asyncio.wrap_future(self.submit(coro))

    def close(self, cleanup: Coroutine[Any, Any, None] | None = None) -> None:
        """Run `cleanup` (bounded), then stop the loop and its thread."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            if cleanup is not None:
                cleanup.close()
            return
        if cleanup is not None and thread.is_alive():
            if threading.current_thread() is thread:
                cleanup.close()
            else:
                future = asyncio.run_coroutine_threadsafe(cleanup, loop)
                try:
                    future.result(timeout=5)
                except Exception:  # closing must not fail; what it would close is gone anyway
                    future.cancel()
        loop.call_soon_threadsafe(loop.stop)
        if threading.current_thread() is not thread:
            thread.join(5)
            if not thread.is_alive():
                loop.close()
