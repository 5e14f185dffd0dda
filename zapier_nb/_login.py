"""One login, as a state machine with no I/O: its attempts, the answer, and the one check.

An attempt is pending until an answer for it arrives, exchanging while its code is
spent, and then logged in, failed or denied. An ended attempt stays ended: the next
login is a new attempt with a new state and verifier. Whatever brings the answer back
(a paste, the terminal prompt, the browser relay, the loopback listener) reads it into
one `LoginAnswer` and hands it to the session, which asks `LoginFlow.take` for the code
to spend: the state is compared there, and only there.
"""

from __future__ import annotations

import hmac
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import parse_qs, urlsplit

from ._errors import InvalidCodeError, LoginError, OAuthError, StateMismatchError
from ._oauth import authorization_error, authorize_url
from ._pkce import create_s256_challenge, generate_code_verifier, generate_state

if TYPE_CHECKING:
    from ._models import SecretStr, TokenInfo

__all__ = [
    "MAX_ANSWER_LENGTH",
    "AlreadyAnswered",
    "AttemptStatus",
    "LoginAnswer",
    "LoginAttempt",
    "LoginFlow",
    "LoginTarget",
    "attempt_for_url",
    "start_attempt",
    "state_matches",
]

AttemptStatus = Literal["pending", "exchanging", "logged_in", "failed", "denied"]

# A redirected address is a few hundred characters; anything far longer is not one.
MAX_ANSWER_LENGTH = 4096
# Ended attempts remembered, so that a late answer is named as such.
_REMEMBERED = 16

_STRIP = " \t\r\n\"'`<>"
_WHITESPACE = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BARE_CODE = re.compile(r"[A-Za-z0-9\-._~+/%]+=*")
_CODE = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_PASTE_AGAIN = "Paste the code, or the whole address of the page you landed on after approving."
_FIELDS = ("code", "state", "error", "error_description", "iss")


class AlreadyAnswered(LoginError):
    """A second copy of an answer whose attempt is being completed, or has logged in."""


@dataclass(frozen=True, repr=False)
class LoginAnswer:
    """What came back from the consent screen: a code or an error, with the state.

    `bare` is True for a code pasted alone, the one form allowed to come without state.
    """

    code: str | None = None
    state: str | None = None
    error: str | None = None
    error_description: str | None = None
    iss: str | None = None
    bare: bool = False

    def __repr__(self) -> str:
        code = "***" if self.code else None
        return f"LoginAnswer(code={code!r}, state={self.state!r}, error={self.error!r})"

    @classmethod
    def from_paste(cls, text: object) -> LoginAnswer:
        """A bare code, `code=...`, or a whole redirected URL (query or fragment).

        The error, if any, is raised from this frame, which by then holds no copy of
        what was pasted: a traceback that shows local variables reveals no code.
        """
        outcome = _read_paste(text)
        del text
        if isinstance(outcome, LoginError):
            raise outcome
        return outcome

    @classmethod
    def from_query(cls, query: Mapping[str, object]) -> LoginAnswer:
        """The fields of a callback's query, or of a message relayed by the browser.

        A field that is not text, is empty, too long or holds control characters is
        taken as absent.
        """
        code, state, error, description, iss = (_field(query.get(name)) for name in _FIELDS)
        del query
        return cls(code, state, error, description, iss)


@dataclass(repr=False, eq=False)
class LoginAttempt:
    """One login attempt. Only `LoginFlow` changes its status. The verifier shows in no repr;
    it is None where a library (the MCP SDK) keeps the verifier itself."""

    url: str
    state: str
    redirect_uri: str
    client_id: str
    verifier: SecretStr | None = None
    issuer: str | None = None
    status: AttemptStatus = "pending"

    @property
    def open(self) -> bool:
        return self.status in ("pending", "exchanging")

    def __repr__(self) -> str:
        return f"LoginAttempt(status={self.status!r}, url={self.url!r})"


def start_attempt(base_url: str, *, client_id: str, redirect_uri: str, scope: str) -> LoginAttempt:
    """A new PKCE attempt: a fresh verifier (S256) and state, and the consent URL."""
    from . import _models

    verifier = _models.SecretStr(generate_code_verifier())
    params = _models.AuthorizeParams(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=scope,
        code_challenge=create_s256_challenge(verifier.get_secret_value()),
        state=generate_state(),
    )
    url = authorize_url(base_url, params)
    return LoginAttempt(url, params.state, redirect_uri, client_id, verifier)


def attempt_for_url(url: str, *, redirect_uri: str, client_id: str) -> LoginAttempt:
    """An attempt whose consent URL was built elsewhere (its state is read from the URL)."""
    state = parse_qs(urlsplit(url).query).get("state", [""])[0]
    if not state:
        raise LoginError("The consent URL carries no state, so its answer could not be checked.")
    return LoginAttempt(url, state, redirect_uri, client_id)


def state_matches(answer: LoginAnswer, state: str) -> bool:
    """The one comparison of an answer's state with an attempt's, in constant time."""
    return answer.state is not None and hmac.compare_digest(
        answer.state.encode("utf-8", "surrogatepass"), state.encode("utf-8", "surrogatepass")
    )


class LoginFlow:
    """The attempts of one session: the newest, and the states of those recently ended."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._current: LoginAttempt | None = None
        self._ended: OrderedDict[str, AttemptStatus] = OrderedDict()

    @property
    def current(self) -> LoginAttempt | None:
        """The newest attempt, whatever its status."""
        return self._current

    @property
    def open_attempt(self) -> LoginAttempt | None:
        """The newest attempt while it is pending or exchanging."""
        attempt = self._current
        return attempt if attempt is not None and attempt.open else None

    def begin(self, attempt: LoginAttempt) -> None:
        """Make `attempt` the one in progress; a pending one it replaces is over."""
        with self._lock:
            previous = self._current
            if previous is not None and previous.status == "exchanging":
                raise LoginError(
                    "A login is being completed right now. Wait a moment for it to finish."
                )
            if previous is not None and previous.open:
                self._end(previous, "failed")
            self._current = attempt

    def cancel(self) -> None:
        """End the attempt in progress (a logout)."""
        with self._lock:
            attempt = self._current
            if attempt is not None and attempt.status == "pending":
                self._end(attempt, "failed")

    def take(self, answer: LoginAnswer) -> tuple[LoginAttempt, SecretStr]:
        """The attempt this answer completes and the code to spend, or the reason not.

        The attempt then stays `exchanging` until `finish`, so a second copy of the same
        answer (a paste while the page relays, say) cannot spend the code again.
        """
        from . import _models

        with self._lock:
            attempt = self._attempt_for(answer)
            if attempt.status == "exchanging":
                raise AlreadyAnswered(
                    "This login is being completed already; the second answer was ignored."
                )
            if attempt.issuer and answer.iss and answer.iss != attempt.issuer:
                raise StateMismatchError(
                    f"The answer came from another server ({answer.iss[:100]}) than the one "
                    "this login was sent to, and was ignored. Start the login again."
                )
            if answer.error is not None:
                self._end(attempt, "denied" if answer.error == "access_denied" else "failed")
                raise authorization_error(answer.error, answer.error_description)
            if not answer.code:
                raise LoginError(
                    "The answer holds no code. Paste the code or the whole address you landed on."
                )
            attempt.status = "exchanging"
            return attempt, _models.SecretStr(answer.code)

    def finish(self, attempt: LoginAttempt, error: BaseException | None = None) -> None:
        """The code exchange is over: logged in, failed, or open again.

        Only a token endpoint that refuses the client itself (`invalid_client`, say) ends
        the attempt. After a refused code, a timeout, a dropped connection or a broken
        answer it is pending again: the server alone knows whether the code was spent,
        so the same answer may be brought back, or a new one from approving again.
        """
        with self._lock:
            if error is None:
                self._end(attempt, "logged_in")
            elif attempt is not self._current or (
                isinstance(error, OAuthError) and not isinstance(error, InvalidCodeError)
            ):
                self._end(attempt, "failed")
            else:
                attempt.status = "pending"

    # -- internals ----------------------------------------------------------------------

    def _attempt_for(self, answer: LoginAnswer) -> LoginAttempt:
        attempt = self._current
        if (
            attempt is not None
            and attempt.open
            and (answer.bare or state_matches(answer, attempt.state))
        ):
            return attempt
        ended = self._ended_status(answer)
        if ended == "logged_in":
            raise AlreadyAnswered(_ENDED[ended])
        if ended is not None:
            raise LoginError(_ENDED[ended])
        if attempt is None or not attempt.open:
            raise LoginError(
                "No login is in progress for this answer. Start one (the login button, "
                "session.login() or begin_login()), approve, then bring back the new answer."
            )
        if not answer.state:
            raise StateMismatchError(
                "The pasted address carries no state, so it cannot be told apart from an "
                "answer meant for someone else. Paste the whole address you landed on, or "
                "only the code."
            )
        raise StateMismatchError(
            "This answer belongs to a different login attempt (its state does not match the "
            "one in progress) and was ignored. Approve on the newest consent page and bring "
            "back its answer."
        )

    def _ended_status(self, answer: LoginAnswer) -> AttemptStatus | None:
        for state, status in self._ended.items():
            if state_matches(answer, state):
                return status
        return None

    def _end(self, attempt: LoginAttempt, status: AttemptStatus) -> None:
        attempt.status = status
        self._ended[attempt.state] = status
        while len(self._ended) > _REMEMBERED:
            self._ended.popitem(last=False)


_ENDED: dict[AttemptStatus, str] = {
    "logged_in": "That login already ended: it logged you in. Nothing more to do.",
    "denied": "That login already ended: access was declined there. Start a new login and "
    "choose to allow access.",
    "failed": "That login already ended (it failed, or a newer one replaced it). Start a new "
    "login and bring back its answer.",
}


class LoginTarget(Protocol):
    """What a channel that brings an answer back sees of a session."""

    @property
    def base_url(self) -> str: ...

    @property
    def client_id(self) -> str | None: ...

    @property
    def redirect_uri(self) -> str | None: ...

    @property
    def auth_method(self) -> str | None: ...

    @property
    def login_attempt(self) -> LoginAttempt | None: ...

    @property
    def pending_login_url(self) -> str | None: ...

    def begin_login(self, *, redirect_uri: str | None = None) -> str: ...

    def submit_answer(self, answer: LoginAnswer) -> TokenInfo: ...

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]: ...


# -- reading a paste ---------------------------------------------------------------------


def _field(value: object) -> str | None:
    if isinstance(value, list | tuple):
        value = value[0] if len(value) == 1 else None
    if not isinstance(value, str) or not value or len(value) > MAX_ANSWER_LENGTH:
        return None
    return None if _CONTROL.search(value) or not _encodable(value) else value


def _read_paste(text: object) -> LoginAnswer | LoginError:
    if not isinstance(text, str):
        return LoginError(f"Paste text, not {type(text).__name__}. {_PASTE_AGAIN}")
    if len(text) > MAX_ANSWER_LENGTH:
        return LoginError(
            f"The pasted text is {len(text)} characters long; an address from the consent "
            f"screen is far shorter. {_PASTE_AGAIN}"
        )
    if _CONTROL.search(text) or not _encodable(text):
        return LoginError(f"The pasted text holds characters no address has. {_PASTE_AGAIN}")
    cleaned = _WHITESPACE.sub("", text.strip(_STRIP)).strip(_STRIP)
    if not cleaned:
        return LoginError(f"Nothing was pasted. {_PASTE_AGAIN}")
    if cleaned.count("://") > 1 or cleaned.count("code=") > 1:
        return LoginError(
            "The address seems to be pasted twice. Clear the field and paste it once."
        )
    if not any(mark in cleaned for mark in "=?#") and "://" not in cleaned:
        if not _BARE_CODE.fullmatch(cleaned):
            return LoginError(f"That does not look like an authorization code. {_PASTE_AGAIN}")
        return LoginAnswer(code=cleaned, bare=True)
    return _answer_from_fields(_query_fields(cleaned))


def _answer_from_fields(fields: dict[str, list[str]]) -> LoginAnswer | LoginError:
    codes = list(dict.fromkeys(value for value in fields.get("code", []) if value))
    states = list(dict.fromkeys(fields.get("state", [])))
    if len(states) > 1 or len(codes) > 1:
        return LoginError(
            "The pasted text carries two different answers (two codes or two states). Paste "
            "the address of the page you landed on once, alone."
        )
    state = states[0] if states else None
    if state is not None and ("://" in state or "%3a%2f%2f" in state.lower()):
        return LoginError(
            "Another address is glued to the end of the pasted one. Clear the field and paste "
            "the address once, alone."
        )
    code = codes[0] if codes else None
    error = _first(fields, "error")
    if code is None and error is None:
        return LoginError(
            "The pasted text has no code in it. After approving, copy the whole address of the "
            "page you land on (it contains 'code='), and paste it again."
        )
    if code is not None and not _CODE.fullmatch(code):
        return LoginError(
            f"The code in the pasted text has characters a code never has. {_PASTE_AGAIN}"
        )
    return LoginAnswer(
        code, state, error, _first(fields, "error_description"), _first(fields, "iss")
    )


def _first(fields: dict[str, list[str]], name: str) -> str | None:
    values = fields.get(name)
    return values[0] if values else None


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _query_fields(text: str) -> dict[str, list[str]]:
    """The `key=value` fields of an answer: the query and fragment of a URL (with or
    without a scheme), or the text itself when it starts with the fields."""
    if "://" in text:
        parts = urlsplit(text)
        raw = [parts.query, parts.fragment]
    else:
        cut = min((i for i in (text.find("?"), text.find("#")) if i >= 0), default=-1)
        head, rest = (text, "") if cut < 0 else (text[:cut], text[cut + 1 :])
        raw = [head if "=" in head else "", *rest.split("#")]
    return parse_qs("&".join(part for part in raw if part), keep_blank_values=True)
