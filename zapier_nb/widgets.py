"""The notebook login widget: API key or OAuth PKCE paste-back, sign-up link, logout.

Secrets are typed into `SecretField`s, which never hold them in a synced trait.
Everything that comes from the server is HTML-escaped before it is shown.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets  # type: ignore[import-untyped]

from ._action_runner import ActionRunner
from ._display import describe_auth, expiry_text
from ._errors import ZapierError
from ._login_button import LoginButton
from ._secret_field import SecretField

if TYPE_CHECKING:
    from ._session import Session

__all__ = ["ActionRunner", "LoginWidget", "SecretField"]

_BUTTON_STYLE = (
    "display:inline-block;padding:6px 14px;border-radius:4px;background:#ff4f00;color:#fff;"
    "font-weight:600;text-decoration:none"
)


class LoginWidget(widgets.VBox):  # type: ignore[misc]
    """Log a session in from a notebook, and show who is logged in."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.status = widgets.HTML().add_class("zapier-nb-status")
        self.login_button = LoginButton(
            session, say=self._say, on_login=self._refresh_view
        ).add_class("zapier-nb-login-link")
        self.code_field = SecretField(
            self._submit_code,
            placeholder="Paste the code, or the whole address you landed on",
            button_label="Log in",
            testid="zapier-nb-paste",
        ).add_class("zapier-nb-code")
        self.key_field = SecretField(
            self._submit_key, placeholder="Paste your AI Actions API key", button_label="Use key"
        ).add_class("zapier-nb-key")
        self.first_name = widgets.Text(description="First name").add_class("zapier-nb-first")
        self.last_name = widgets.Text(description="Last name").add_class("zapier-nb-last")
        self.email = widgets.Text(description="Email").add_class("zapier-nb-email")
        self.signup_button = widgets.Button(description="Get a sign-up link")
        self.signup_link = widgets.HTML().add_class("zapier-nb-signup-link")
        self.logout_button = widgets.Button(description="Log out", icon="sign-out")
        self.signup_button.on_click(lambda _: self._guarded(self._get_signup_link))
        self.logout_button.on_click(lambda _: self._guarded(self._logout))
        super().__init__()
        self.add_class("zapier-nb-login")
        self._refresh_view()

    def __repr__(self) -> str:
        return f"Zapier AI Actions login widget for {self.session!r} (shown in Jupyter)"

    # -- views --------------------------------------------------------------------------

    def _oauth_box(self) -> widgets.VBox:
        # A login already begun (for example by login_link()) is kept, not replaced.
        self.login_button.prepare()
        signup = widgets.Accordion(
            children=[
                widgets.VBox(
                    [self.first_name, self.last_name, self.email, self.signup_button,
                     self.signup_link]
                )
            ],
            titles=("No Zapier account?",),
        )  # fmt: skip
        return widgets.VBox([self.login_button, self.code_field, signup])

    def _refresh_view(self, message: str | None = None) -> None:
        session = self.session
        header = widgets.HTML(
            f"<b>Zapier AI Actions</b> &middot; <code>{html.escape(session.base_url)}</code>"
        )
        if session.auth_method is not None:
            self.children = (header, self.status, self.logout_button)
            self._show(message or self._logged_in_text())
            return
        parts: list[Any] = [header, self.status]
        if session.client_id and session.redirect_uri:
            parts += [self._oauth_box(), widgets.HTML("Or use an API key:")]
            hint = "Click <b>Log in with Zapier</b> and approve."
        else:
            hint = "Paste your API key (from actions.zapier.com/credentials) and press Use key."
        parts.append(self.key_field)
        self.children = tuple(parts)
        self._show(message or hint)

    def _show(self, text_html: str, *, error: bool = False) -> None:
        color = "#b00020" if error else "inherit"
        self.status.value = (
            f'<span data-testid="zapier-nb-status" style="color:{color}">{text_html}</span>'
        )

    def _say(self, text_html: str, error: bool) -> None:
        self._show(text_html, error=error)

    def _logged_in_text(self) -> str:
        info = self.session.token_info
        if info is None:
            return f"Logged in with {html.escape(describe_auth(self.session))}."
        who = html.escape(info.email or "your Zapier account")
        return (
            f"Logged in as <b>{who}</b>, token valid until {html.escape(expiry_text(info))}; "
            "it is refreshed automatically."
        )

    # -- actions ------------------------------------------------------------------------

    def _guarded(self, action: Callable[[], None]) -> None:
        try:
            action()
        except ZapierError as exc:
            self._show(f"&#9888; {html.escape(exc.message)}", error=True)

    def _submit_code(self, pasted: str) -> None:
        self._show("Exchanging the code for a token&hellip;")

        def run() -> None:
            self.session.complete_login(pasted)
            self.login_button.forget()
            self._refresh_view()

        self._guarded(run)

    def _submit_key(self, key: str) -> None:
        self._show("Checking the key&hellip;")

        def run() -> None:
            self.session.use_api_key(key)
            try:
                result = self.session.check()
            except ZapierError:
                self.session.logout()
                raise
            who = html.escape(result.email)
            self._refresh_view(f"Logged in as <b>{who}</b> with an API key.")

        self._guarded(run)

    def _get_signup_link(self) -> None:
        link = self.session.login_link(
            first_name=self.first_name.value,
            last_name=self.last_name.value,
            email=self.email.value,
        )
        href = html.escape(link, quote=True)
        self.signup_link.value = (
            f'<a href="{href}" target="_blank" rel="noopener noreferrer" style="{_BUTTON_STYLE}">'
            "Create the account and log in</a><br>Afterwards, paste the code above."
        )

    def _logout(self) -> None:
        self.session.logout()
        self.login_button.forget()
        self.signup_link.value = ""
        self._refresh_view("Logged out.")
