"""Login at a prompt: for the IPython terminal, scripts, and `%zapier_login --wait`.

With a loopback redirect URI the kernel also listens for the redirect: approving in a
browser on this machine completes the login by itself and closes the prompt, which
stays open meanwhile for a pasted answer.
"""

from __future__ import annotations

import getpass
import signal
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._browser_links import browser_url
from ._errors import LoginError, ZapierError
from ._login import LoginAnswer
from ._loopback import LoopbackListener, close_listener, is_loopback_redirect, listener_for

if TYPE_CHECKING:
    from ._login import LoginTarget
    from ._models import CheckAuthResponse
    from ._session import Session

__all__ = ["prompt_login", "prompt_oauth_login"]

_ATTEMPTS = 3


def prompt_login(
    session: Session,
    *,
    ask: Callable[[str], str] = input,
    ask_secret: Callable[[str], str] = getpass.getpass,
    say: Callable[[str], None] = print,
) -> CheckAuthResponse:
    """Print the consent URL and read the pasted answer, or read an API key; then check."""
    registered = session.redirect_uri
    if session.client_id and registered:
        if is_loopback_redirect(registered):
            _listen_or_paste(session, registered, ask=ask, say=say)
        else:
            _paste(session, ask=ask, say=say)
    else:
        session.use_api_key(ask_secret("Zapier AI Actions API key (input hidden): "))
    result = session.check()
    say(f"Logged in as {result.email}.")
    return result


def prompt_oauth_login(
    target: LoginTarget,
    *,
    ask: Callable[[str], str] = getpass.getpass,
    say: Callable[[str], None] = print,
) -> None:
    """The OAuth login of any `LoginTarget` (an `MCPSession`, say) at a prompt: the consent
    URL printed, the answer read back, or caught by the loopback listener."""
    registered = target.redirect_uri
    if registered and is_loopback_redirect(registered):
        _listen_or_paste(target, registered, ask=ask, say=say)
    else:
        _paste(target, ask=ask, say=say)


def _paste(target: LoginTarget, *, ask: Callable[[str], str], say: Callable[[str], None]) -> None:
    """Print the consent URL and read answers; an attempt that ended (a denial pasted
    back, say) is followed by a new one, whose URL is printed in turn."""
    shown = None
    for attempt in range(1, _ATTEMPTS + 1):
        url = target.pending_login_url or target.begin_login()
        if url != shown:
            say(
                "Open this address, approve, then paste the code or the whole address you "
                f"land on:\n\n    {browser_url(url, target.base_url)}\n"
            )
            shown = url
        try:
            target.submit_answer(LoginAnswer.from_paste(ask("Code or address: ")))
            return
        except LoginError as exc:
            if attempt == _ATTEMPTS:
                raise
            say(f"{exc.message}\n")


def _listen_or_paste(
    session: LoginTarget,
    registered: str,
    *,
    ask: Callable[[str], str],
    say: Callable[[str], None],
) -> None:
    for attempt in range(1, _ATTEMPTS + 1):
        listener = listener_for(session, registered)
        say(
            "Open this address and approve. In a browser on this machine the login then "
            "completes by itself; elsewhere, paste the code or the whole address you land on:"
            f"\n\n    {session.pending_login_url}\n"
        )
        try:
            pasted = _ask_unless_answered(listener, ask, "Code or address: ")
            if pasted is None:
                outcome = listener.outcome
                if isinstance(outcome, ZapierError):
                    raise outcome
                return
            session.submit_answer(LoginAnswer.from_paste(pasted))
            return
        except LoginError as exc:
            if attempt == _ATTEMPTS:
                raise
            say(f"{exc.message}\n")
        finally:
            close_listener(session)


def _ask_unless_answered(
    listener: LoopbackListener, ask: Callable[[str], str], prompt: str
) -> str | None:
    """Ask at the prompt; None when the listener got the answer first (the prompt is then
    interrupted, which only works on the main thread)."""
    main = threading.main_thread()
    asking = threading.Event()
    lock = threading.Lock()

    def interrupt(_outcome: object) -> None:
        with lock:
            if asking.is_set() and main.ident is not None:
                signal.pthread_kill(main.ident, signal.SIGINT)

    if threading.current_thread() is main:
        listener.on_done = interrupt
    try:
        if listener.done.is_set():
            return None
        asking.set()
        try:
            return ask(prompt)
        finally:
            with lock:
                asking.clear()
    except KeyboardInterrupt:
        if listener.done.is_set():
            return None
        raise
