"""Callbacks that hear every change of a session's login state."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable

__all__ = ["Listeners"]

logger = logging.getLogger("zapier_nb")


class Listeners:
    """A thread-safe list of callbacks; one that raises is logged and the rest still run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def add(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Add `callback`; returns the function that removes it again."""
        with self._lock:
            self._callbacks.append(callback)

        def remove() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

        return remove

    def notify(self) -> None:
        with self._lock:
            callbacks = list(self._callbacks)
        for callback in callbacks:
            try:
                callback()
            except Exception as exc:
                logger.warning("a session listener failed (%s); ignored", type(exc).__name__)
