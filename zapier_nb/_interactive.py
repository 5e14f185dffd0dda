"""Where the core finds the interactive login that the notebook layer provides.

`Session.login()` is part of the core's API, but the widget and the prompt belong to
the notebook layer, which the core never imports. The package's `__init__` (loaded
before any module of it) hands the entry point over here instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._errors import ConfigurationError

__all__ = ["interactive_login", "provide_interactive_login"]

LoginUI = Callable[..., None]

_provided: LoginUI | None = None


def provide_interactive_login(login: LoginUI) -> None:
    global _provided
    _provided = login


def interactive_login(target: Any, *, wait: bool = False) -> None:
    """Log `target` in with the widget in a notebook, or at the prompt elsewhere."""
    if _provided is None:
        raise ConfigurationError(
            "No interactive login is available here; use zapier_nb.login(session)."
        )
    _provided(target, wait=wait)
