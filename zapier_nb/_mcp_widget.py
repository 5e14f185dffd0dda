"""The Zapier MCP login widget: the same consent button and automatic return as the AI
Actions widget, the paste field, and a field for a connection token.

An MCP server registers its OAuth clients as they come, so the widget, not the person,
picks where the answer comes back: once the page has said where it runs, to this Jupyter
server's callback page (the extension), or to the kernel's loopback listener when the
browser runs on the kernel's machine; only elsewhere is the address pasted back. A redirect
URI given to `MCPSession(redirect_uri=...)` is kept as it is. Until the page reports (or
where it never does), **Prepare the login** begins one with what is known.

Secrets are typed into `SecretField`s, never held in a synced trait; the widget reads the
session's state only, and redraws whenever the session says it changed.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import ipywidgets as widgets  # type: ignore[import-untyped]

from ._display import format_time
from ._errors import ZapierError
from ._login import LoginAnswer
from ._login_button import LoginButton, site_of
from ._loopback import close_listener, listener_for
from ._redirect import LOOPBACK_URI, Environment, capture_for, last_environment
from ._secret_field import SecretField
from .widgets import follow_cells, stop_following_cells

if TYPE_CHECKING:
    from ._mcp_session import MCPSession

__all__ = ["MCPLoginWidget", "automatic_redirect_uri"]

_ERROR = '<span style="color:#b00020">&#9888;&#xFE0E; {}</span>'


def automatic_redirect_uri(environment: Environment | None) -> str | None:
    """Where an answer comes back by itself for a client registered on the spot: this
    server's callback page, else the loopback listener for a browser on this machine."""
    if environment is None or environment.colab:
        return None
    if environment.extension:
        return environment.extension_uri()
    if environment.browser_is_local and not environment.vscode:
        return LOOPBACK_URI
    return None


class MCPLoginWidget(widgets.VBox):  # type: ignore[misc]
    """Log an `MCPSession` in from a notebook, and show how it is logged in."""

    def __init__(self, session: MCPSession) -> None:
        self.session = session
        self._lock = threading.RLock()
        self.header = widgets.HTML(
            f"<b>Zapier MCP</b> &middot; <code>{html.escape(session.url)}</code>"
        ).add_class("zapier-nb-header")
        self.status = widgets.HTML().add_class("zapier-nb-status")
        self.login_button = LoginButton(
            session,
            say=self._say,
            on_login=self._render,
            on_opened=self._render,
            on_environment=self._environment_reported,
        ).add_class("zapier-nb-login-link")
        self.prepare_button = widgets.Button(
            description="Prepare the login", icon="refresh"
        ).add_class("zapier-nb-new-login")
        self.prepare_button.on_click(lambda _: self._begin(last_environment()))
        self.code_field = SecretField(
            self._submit_code,
            placeholder="Paste the code, or the whole address you landed on, and press Enter",
            button_label="Log in",
            revealable=True,
            testid="zapier-nb-paste",
        ).add_class("zapier-nb-code")
        self.token_hint = widgets.HTML(
            "Or use a connection token: at mcp.zapier.com, your MCP server, client "
            "<i>Other</i>, <b>Generate token</b>."
        )
        self.token_field = SecretField(
            self._submit_token,
            placeholder="Paste a connection token and press Enter",
            button_label="Use token",
        ).add_class("zapier-nb-key")
        super().__init__()
        self.add_class("zapier-nb-login")
        self._message: str | None = None
        if session.auth_method is None and session.pending_login_url is None:
            found = last_environment()
            if found is not None:
                self.login_button.environment = found
                self._begin(found)
        self._render()
        self._unsubscribe: Callable[[], None] | None = session.subscribe(self._on_change)
        follow_cells(self)

    def __repr__(self) -> str:
        return f"Zapier MCP login widget for {self.session!r} (shown in Jupyter)"

    def close(self) -> None:
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()
        stop_following_cells(self)
        close_listener(self.session)
        for part in (self.header, self.status, self.login_button, self.prepare_button,
                     self.code_field, self.token_hint, self.token_field):  # fmt: skip
            part.close()
        super().close()

    # -- the login to offer ----------------------------------------------------------------

    def _after_cell(self) -> None:
        """A cell has run: a login another kernel saved (or a call's refresh) shows here."""
        self._render()

    def _environment_reported(self) -> None:
        session = self.session
        if session.auth_method is None and session.pending_login_url is None:
            self._begin(self.login_button.environment)

    def _begin(self, environment: Environment | None) -> None:
        """Begin a login whose answer comes back by itself where it can."""
        session = self.session
        chosen = None if session._redirect_fixed else automatic_redirect_uri(environment)
        uri = chosen or session.redirect_uri
        self._message = None
        try:
            if capture_for(uri, site_of(session.url), environment).mode == "loopback":
                listener_for(session, uri, on_done=self._listened)
            else:
                session.begin_login(redirect_uri=uri)
        except ZapierError as exc:
            self._message = _ERROR.format(html.escape(exc.message))
        self.login_button.show_pending()
        self._render()

    def _listened(self, outcome: object) -> None:
        if isinstance(outcome, ZapierError):
            self._say(html.escape(outcome.message), True)
        else:
            self._render()

    # -- drawing -------------------------------------------------------------------------

    def _on_change(self) -> None:
        if self.session.auth_method is not None:
            self.login_button.forget()
        self._render()

    def _render(self) -> None:
        session = self.session
        with self._lock, self.hold_sync():
            if session.auth_method is not None:
                self._message = None
                self.children = (self.header, self.status)
                self._show(self._logged_in_text())
                return
            # The button stays shown: its page reports where it runs, which picks the login.
            waiting = () if session.pending_login_url else (self.prepare_button,)
            self.children = (
                self.header, self.status, self.login_button, *waiting, self.code_field,
                self.token_hint, self.token_field,
            )  # fmt: skip
            self._show(self._message or self._hint())

    def _hint(self) -> str:
        if self.session.pending_login_url is None:
            return "Not logged in. Preparing the login&hellip;"
        return (
            "Not logged in. Click <b>Log in with Zapier</b> and approve; the line under the "
            "button says whether the answer comes back by itself or goes in the field below."
        )

    def _logged_in_text(self) -> str:
        session = self.session
        if session.auth_method == "token":
            return "Connected with a connection token. <code>%zapier_tools</code> lists the tools."
        info = session.token_info
        until = "" if info is None else html.escape(format_time(info.expires_at))
        return (
            f"Logged in to Zapier MCP. The access token is valid until {until} and is refreshed "
            "automatically. <code>mcp.list_tools()</code> lists the tools."
        )

    def _show(self, text_html: str) -> None:
        self.status.value = f'<div data-testid="zapier-nb-status">{text_html}</div>'

    def _say(self, text_html: str, error: bool) -> None:
        """What the consent button has to say about an answer that came back."""
        self._message = _ERROR.format(text_html) if error else text_html
        self._render()

    # -- fields --------------------------------------------------------------------------

    def _submit_code(self, pasted: str) -> None:
        field = self.code_field
        if not pasted.strip():
            field.warn("The field was empty. Paste the code, or the whole address you landed on.")
            return
        field.say("Exchanging the code for a token…")
        try:
            answer = LoginAnswer.from_paste(pasted)
            del pasted
            self.session.submit_answer(answer)
        except ZapierError as exc:
            field.warn(exc.message)
            if self.session.pending_login_url is None and self.session.auth_method is None:
                self._begin(self.login_button.environment)
            return
        field.say("")
        self._render()

    def _submit_token(self, token: str) -> None:
        """Use the token once the server accepted it: a refused one changes nothing."""
        from ._mcp_session import MCPSession
        from ._redact import Secret

        field = self.token_field
        secret = Secret(token.strip())
        del token
        if not secret.reveal():
            field.warn("The field was empty. Paste the connection token, then press Enter.")
            return
        field.say("Checking the token…")
        try:
            with MCPSession(token=secret, url=self.session.url) as probe:  # type: ignore[arg-type]
                count = len(probe.list_tools())
            self.session.use_token(secret)
        except ZapierError as exc:
            field.warn(exc.message)
            return
        field.say(f"Connected: {count} tool{'s' if count != 1 else ''}.")
        self._render()
