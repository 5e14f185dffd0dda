"""Login at a prompt: for the IPython terminal, scripts, and `%zapier_login --wait`."""

from __future__ import annotations

import getpass
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._errors import LoginError
from ._models import CheckAuthResponse

if TYPE_CHECKING:
    from ._session import Session

__all__ = ["prompt_login"]

_ATTEMPTS = 3


def prompt_login(
    session: Session,
    *,
    ask: Callable[[str], str] = input,
    ask_secret: Callable[[str], str] = getpass.getpass,
    say: Callable[[str], None] = print,
) -> CheckAuthResponse:
    """Print the consent URL and read the pasted answer, or read an API key; then check."""
    if session.client_id and session.redirect_uri:
        url = session.begin_login()
        say(
            "Open this address, approve, then paste the code or the whole address you land on:"
            f"\n\n    {url}\n"
        )
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                session.complete_login(ask("Code or address: "))
                break
            except LoginError as exc:
                if attempt == _ATTEMPTS:
                    raise
                say(f"{exc.message}\n")
    else:
        session.use_api_key(ask_secret("Zapier AI Actions API key (input hidden): "))
    result = session.check()
    say(f"Logged in as {result.email}.")
    return result
