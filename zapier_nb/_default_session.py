"""The kernel's default session: the one the magics and the tutorials share."""

from __future__ import annotations

from ._session import Session
from ._shared import DefaultSession

__all__ = ["get_session", "replace_default_session"]

_default = DefaultSession(Session.from_env)


def get_session() -> Session:
    """The kernel's default session (from the environment), shared by the magics."""
    return _default.get()


def replace_default_session(session: Session) -> Session:
    """Make `session` the one `get_session()` returns; the previous one is closed."""
    return _default.replace(session)
