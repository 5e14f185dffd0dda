"""The "Log in with Zapier" button, and the automatic return of the login's answer.

The button always offers an open login attempt: when one ends (declined, failed) it
begins the next at once, so a click never reopens an ended one. Its browser half
(`_static/login_button.js`) relays the callback page's message for any state this
button offered, never in a synced trait; here it becomes a `LoginAnswer` handed to the
session, which alone judges it. On render the page reports where it runs, so the
kernel can say how the code will come back and, against a sandbox on this server's
loopback, open the sandbox's pages through the server. A loopback redirect URI is
answered by a listener in the kernel instead.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import anywidget
import traitlets

from ._browser_links import browser_url
from ._errors import ConsentDeniedError, ZapierError
from ._login import AlreadyAnswered, LoginAnswer
from ._loopback import close_listener, listener_for
from ._redirect import Capture, Environment, capture_for, remember_environment

if TYPE_CHECKING:
    from ._login import LoginTarget
    from ._models import TokenInfo

__all__ = ["LoginButton", "site_of"]

_STATIC = Path(__file__).with_name("_static")

Say = Callable[[str, bool], None]


class LoginButton(anywidget.AnyWidget):
    """Opens the consent page and receives the answer; `on_login()` runs after a login,
    `on_opened()` when the person opens the consent page, and `on_environment()` once the
    page has said where it runs (`environment`)."""

    # Read here, not given as paths: anywidget would watch a path outside site-packages
    # for changes, with a thread that keeps every button alive.
    _esm = (_STATIC / "login_button.js").read_text(encoding="utf-8")
    _css = (_STATIC / "login_button.css").read_text(encoding="utf-8")
    url = traitlets.Unicode("").tag(sync=True)
    state = traitlets.Unicode("").tag(sync=True)  # the offered attempt's; not a secret
    label = traitlets.Unicode("Log in with Zapier").tag(sync=True)
    how = traitlets.Unicode("").tag(sync=True)
    disabled = traitlets.Bool(False).tag(sync=True)
    primary = traitlets.Bool(True).tag(sync=True)

    def __init__(
        self,
        target: LoginTarget,
        *,
        say: Say,
        on_login: Callable[[], None],
        on_opened: Callable[[], None],
        on_environment: Callable[[], None] | None = None,
    ) -> None:
        super().__init__()
        self.target = target
        self.environment: Environment | None = None
        self.capture: Capture | None = None
        self._say = say
        self._on_login = on_login
        self._on_opened = on_opened
        self._on_environment = on_environment
        self.on_msg(self._handle_message)

    # -- the login to offer --------------------------------------------------------------

    def prepare(self) -> None:
        """Offer an open login attempt (the one in progress, or a new one), opened the way
        its answer can come back."""
        registered = self.target.redirect_uri
        capture = capture_for(registered, site_of(self.target.base_url), self.environment)
        if registered and capture.mode == "loopback":
            # Not this Jupyter server's own callback page, which is on loopback too.
            listener_for(self.target, registered, on_done=self._listener_done)
        elif self.target.pending_login_url is None:
            self.target.begin_login()
        self.show_pending()

    def forget(self) -> None:
        """Stop offering a login (after a logout, or once logged in)."""
        close_listener(self.target)
        self.url = ""

    def show_pending(self, *, primary: bool | None = None) -> None:
        """Offer the login in progress, opened the way its answer can come back."""
        if primary is not None:
            self.primary = primary
        target = self.target
        attempt = target.login_attempt
        consent = target.pending_login_url or ""
        site = site_of(target.base_url)
        self.capture = capture_for(target.redirect_uri, site, self.environment)
        with self.hold_sync():
            self.url = browser_url(self.capture.browser_url(consent, site), site)
            self.state = attempt.state if attempt is not None and consent else ""
            self.how = self.capture.line

    # -- messages from the page ----------------------------------------------------------

    def _handle_message(self, _widget: object, content: Any, _buffers: object) -> None:
        if not isinstance(content, dict):
            return
        event = content.get("event")
        if event == "environment":
            self.environment = Environment.from_report(content)
            remember_environment(self.environment)
            if self.url:
                self.show_pending()
            if self._on_environment is not None:
                self._on_environment()
        elif event == "opened":
            self._on_opened()
        elif event == "oauth-refused":
            origin = html.escape(str(content.get("origin", "another site"))[:200])
            self._say(f"&#9888; A login answer from another site ({origin}) was ignored.", True)
        elif event == "oauth-callback":
            self._callback(LoginAnswer.from_query(content))

    def _callback(self, answer: LoginAnswer) -> None:
        self._say("Exchanging the code for a token&hellip;", False)
        try:
            self.target.submit_answer(answer)
        except ZapierError as exc:
            self._failed(exc)
            return
        self._logged_in()

    def _listener_done(self, outcome: TokenInfo | ZapierError) -> None:
        if isinstance(outcome, ZapierError):
            self._failed(outcome)
            return
        self._logged_in()

    def _failed(self, error: ZapierError) -> None:
        target = self.target
        if isinstance(error, AlreadyAnswered) and target.auth_method is not None:
            self._on_login()  # a second copy of the answer that logged in: nothing to say
            return
        if target.auth_method is None and target.pending_login_url is None:
            self.prepare()  # that attempt is over: the button offers a fresh one
        if isinstance(error, ConsentDeniedError):
            message = (
                "Access was declined on the Zapier consent page. To log in, click "
                "<b>Log in with Zapier</b> again and choose to allow access."
            )
        else:
            message = html.escape(error.message)
        self._say(f"&#9888; {message}", True)

    def _logged_in(self) -> None:
        self.forget()
        self._on_login()


def site_of(url: str) -> str:
    """The server a login target names (an MCP endpoint's scheme and host): its pages are
    the consent page and the sandbox's callback."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else url
