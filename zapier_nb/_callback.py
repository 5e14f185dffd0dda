"""A login answer that came back by itself (a relayed redirect, or the loopback listener).

`complete_from_callback` is the one place such an answer completes a login: it checks,
before any request, that a login is in progress and that the answer carries its `state`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._errors import LoginError, StateMismatchError

if TYPE_CHECKING:
    from ._models import TokenInfo
    from ._session import Session

__all__ = ["CallbackAnswer", "complete_from_callback", "pending_state"]


@dataclass(frozen=True, repr=False)
class CallbackAnswer:
    """What the redirect carried: a code or an OAuth error, and the state."""

    state: str
    code: str | None = None
    error: str | None = None
    error_description: str | None = None

    def __repr__(self) -> str:
        code = "***" if self.code else None
        return f"CallbackAnswer(code={code!r}, state=..., error={self.error!r})"


def pending_state(session: Session) -> str | None:
    """The `state` of the login in progress."""
    pending = session.pending_login
    return None if pending is None else pending.state


def check_answer(session: Session, answer: CallbackAnswer) -> None:
    """Refuse, before any request, an answer that is not for the login in progress."""
    expected = pending_state(session)
    if expected is None:
        if session.auth_method is not None:
            raise LoginError(
                "You are already logged in; a second answer from the consent page was ignored."
            )
        raise LoginError(
            "An answer came back, but no login is in progress. Click Log in with Zapier to "
            "start one."
        )
    if not hmac.compare_digest(answer.state.encode(), expected.encode()):
        raise StateMismatchError(
            "An answer came back for another login (its state does not match the one in "
            "progress) and was ignored. Use the newest Log in with Zapier button."
        )


def complete_from_callback(session: Session, answer: CallbackAnswer) -> TokenInfo:
    """Exchange the relayed code for tokens; the state is checked first, then again by the
    session, before the one token request."""
    check_answer(session, answer)
    if answer.error is None and not answer.code:
        raise LoginError("The answer that came back holds no code. Log in again.")
    return session.complete_callback(
        {
            "state": answer.state,
            "code": answer.code or "",
            "error": answer.error or "",
            "error_description": answer.error_description or "",
        }
    )
