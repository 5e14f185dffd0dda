"""What the core asks of the notebook layer: the interactive login, and a progress bar.

`Session.login()` and `run_many`'s progress are part of the core's API, but the widget,
the prompt and the bars belong to the notebook layer, which the core never imports.
The package's `__init__` (loaded before any module of it) hands them over here instead;
until it has, the login says so and progress is silent.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from ._errors import ConfigurationError

__all__ = [
    "Progress",
    "Silent",
    "interactive_login",
    "progress_bar",
    "provide_interactive_login",
    "provide_progress_bar",
]


class Progress(Protocol):
    def update(self, done: int, failed: int) -> None: ...

    def close(self, ending: str, summary: str, *, ok: bool) -> None:
        """`ending` says what happened ("Done: 5 ran, 1 failed", "Stopped: 3 did not run")."""


LoginUI = Callable[..., None]
ProgressUI = Callable[..., Progress]

_login: LoginUI | None = None
_progress: ProgressUI | None = None


class Silent:
    """No progress shown."""

    def update(self, done: int, failed: int) -> None:
        pass

    def close(self, ending: str, summary: str, *, ok: bool) -> None:
        pass


def provide_interactive_login(login: LoginUI) -> None:
    global _login
    _login = login


def provide_progress_bar(factory: ProgressUI) -> None:
    global _progress
    _progress = factory


def interactive_login(target: Any, *, wait: bool = False) -> None:
    """Log `target` in with the widget in a notebook, or at the prompt elsewhere."""
    if _login is None:
        raise ConfigurationError(
            "No interactive login is available here; use zapier_nb.login(session)."
        )
    _login(target, wait=wait)


def progress_bar(total: int, *, show: bool | None, description: str) -> Progress:
    """A notebook bar, a terminal line, or nothing."""
    if _progress is None or show is False or total == 0:
        return Silent()
    return _progress(total, show=show, description=description)
