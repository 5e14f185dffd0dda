"""A private event loop on a thread of its own, where the MCP SDK's async client lives.

The sync API must work in a Jupyter kernel, whose main thread already runs an event loop;
nothing here patches that loop. Every MCP coroutine runs on this thread's loop, and both
the sync methods (waiting on a lock) and the async ones (awaiting a future of the caller's
loop) hand their work over to it.

`run` and `arun` carry one call each way with one wake-up: once the task is done, the
loop releases the waiting thread, or wakes the caller's loop. (`run_coroutine_threadsafe`
chains two futures and a condition, which costs about a tenth of a loopback MCP call.)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

__all__ = ["LoopThread"]

T = TypeVar("T")


class _Call(Generic[T]):
    """One coroutine handed to the loop; `wake()` runs on the loop once it has ended."""

    __slots__ = ("_coro", "_wake", "cancelled", "task")

    def __init__(self, coro: Coroutine[Any, Any, T], wake: Callable[[], None]) -> None:
        self._coro = coro
        self._wake = wake
        self.task: asyncio.Task[T] | None = None
        self.cancelled = False

    def start(self) -> None:
        """On the loop: run the coroutine as a task (unless cancelled on the way)."""
        if self.cancelled:
            self._coro.close()
            self._wake()
            return
        self.task = asyncio.get_running_loop().create_task(self._coro)
        self.task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[T]) -> None:
        # One turn later, once the callbacks the call left behind (its connection handed
        # back, its stream closed) have run, the waiter no longer competes with them.
        asyncio.get_running_loop().call_soon(self._wake)

    def cancel(self) -> None:
        """On the loop: cancel the task, or keep it from starting."""
        self.cancelled = True
        if self.task is not None:
            self.task.cancel()

    def outcome(self, cancelled: type[BaseException]) -> T:
        """Once woken: the task's result, or its error (`cancelled` if it was cancelled)."""
        if self.task is None or self.task.cancelled():
            raise cancelled()
        return self.task.result()


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
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            return loop  # the common case, without the lock
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
        self._refuse_own_thread(coro)
        return asyncio.run_coroutine_threadsafe(coro, self._started())

    def call_soon(self, callback: Any, *args: Any) -> None:
        """Run `callback(*args)` on the loop's thread (when it is running)."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback, *args)

    def _refuse_own_thread(self, coro: Coroutine[Any, Any, Any]) -> None:
        if threading.current_thread() is self._thread:
            coro.close()
            raise RuntimeError("an MCPSession's sync method was called from its own loop")

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` there and wait; an interrupt cancels it and is raised again."""
        self._refuse_own_thread(coro)
        done = threading.Lock()
        done.acquire()
        call = _Call(coro, done.release)
        loop = self._started()
        loop.call_soon_threadsafe(call.start)
        try:
            done.acquire()
        except KeyboardInterrupt:
            _quietly(loop.call_soon_threadsafe, call.cancel)
            raise
        return call.outcome(concurrent.futures.CancelledError)

    async def arun(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run `coro` there and await it from the caller's loop; cancelling cancels it."""
        self._refuse_own_thread(coro)
        caller = asyncio.get_running_loop()
        woken: asyncio.Future[None] = caller.create_future()

        def wake() -> None:
            _quietly(caller.call_soon_threadsafe, _settle, woken)

        call = _Call(coro, wake)
        loop = self._started()
        loop.call_soon_threadsafe(call.start)
        try:
            await woken
        except asyncio.CancelledError:
            _quietly(loop.call_soon_threadsafe, call.cancel)
            raise
        return call.outcome(asyncio.CancelledError)

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


def _settle(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)


def _quietly(schedule: Callable[..., Any], *args: Any) -> None:
    """Schedule on a loop that may have closed meanwhile (then there is nothing to do)."""
    with contextlib.suppress(RuntimeError):
        schedule(*args)
