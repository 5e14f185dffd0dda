"""One shared session of a kind, made when first asked for: the kernel's default ones."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

__all__ = ["DefaultSession"]


class _Closable(Protocol):
    def close(self) -> None: ...


S = TypeVar("S", bound=_Closable)


class DefaultSession(Generic[S]):
    """One shared session, made by `make` when first asked for; replacing it closes the old."""

    def __init__(self, make: Callable[[], S]) -> None:
        self._make = make
        self._session: S | None = None
        self._lock = threading.Lock()

    def get(self) -> S:
        with self._lock:
            if self._session is None:
                self._session = self._make()
            return self._session

    def replace(self, session: S) -> S:
        with self._lock:
            previous, self._session = self._session, session
        if previous is not None and previous is not session:
            previous.close()
        return session
