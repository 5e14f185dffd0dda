"""The kernel's default session: the one the magics and the tutorials share."""

from __future__ import annotations

import threading

from ._session import Session

__all__ = ["get_session", "replace_default_session"]

_default_session: Session | None = None
_default_lock = threading.Lock()


def get_session() -> Session:
    """The kernel's default session (from the environment), shared by the magics."""
    global _default_session
    with _default_lock:
        if _default_session is None:
            _default_session = Session.from_env()
        return _default_session


def replace_default_session(session: Session) -> Session:
    """Make `session` the one `get_session()` returns; the previous one is closed."""
    global _default_session
    with _default_lock:
        previous, _default_session = _default_session, session
    if previous is not None and previous is not session:
        previous.close()
    return session
