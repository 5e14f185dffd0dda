"""One entry point for logging in: the widget in a notebook, a prompt anywhere else."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING

from ._terminal import prompt_login

if TYPE_CHECKING:
    from ._session import Session

__all__ = ["in_notebook", "login"]


def in_notebook() -> bool:
    """True inside a Jupyter kernel that can show widgets."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return getattr(get_ipython(), "kernel", None) is not None


def login(session: Session, *, wait: bool = False) -> None:
    """Show the login widget; or, with `wait` or outside a notebook, ask at the prompt.

    In a notebook the prompt hides what is typed: an echoed answer would be saved.
    """
    notebook = in_notebook()
    if notebook and not wait:
        from IPython.display import display

        from .widgets import LoginWidget

        display(LoginWidget(session))  # type: ignore[no-untyped-call]
        return
    ask = getpass.getpass if notebook else input
    prompt_login(session, ask=ask)
