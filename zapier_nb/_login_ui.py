"""One entry point for logging in: the widget in a notebook, a prompt anywhere else."""

from __future__ import annotations

import getpass
from typing import TYPE_CHECKING

from ._kernel import in_notebook
from ._terminal import prompt_login, prompt_oauth_login

if TYPE_CHECKING:
    from ._login import LoginTarget
    from ._session import Session

__all__ = ["login"]


def login(session: Session | LoginTarget | None = None, *, wait: bool = False) -> None:
    """Log `session` (the kernel's default one when None) in: the widget in a notebook; with
    `wait`, or outside a notebook, a prompt. An `MCPSession` gets its own widget; another
    login target logs in by OAuth at the prompt.

    In a notebook the prompt hides what is typed: an echoed answer would be saved.
    """
    from ._session import Session

    if session is None:
        from ._default_session import get_session

        session = get_session()
    notebook = in_notebook()
    if not isinstance(session, Session):
        if notebook and not wait and _is_mcp(session):
            from IPython.display import display

            from ._mcp_widget import MCPLoginWidget

            display(MCPLoginWidget(session))  # type: ignore[no-untyped-call,arg-type]
            return
        prompt_oauth_login(session, ask=getpass.getpass if notebook else input)
        return
    if notebook and not wait:
        from IPython.display import display

        from .widgets import LoginWidget

        display(LoginWidget(session))  # type: ignore[no-untyped-call]
        return
    ask = getpass.getpass if notebook else input
    prompt_login(session, ask=ask)


def _is_mcp(target: object) -> bool:
    from ._mcp_session import MCPSession

    return isinstance(target, MCPSession)
