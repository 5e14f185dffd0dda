"""The notebook login widget: API key or OAuth PKCE paste-back, sign-up link, logout.

The widget follows its session through `Session.subscribe`: whatever changes the
login (this widget, another one, a magic, code, a refresh on another thread, a
login ended by the server, a token another kernel refreshed), the status line and
the controls are redrawn from the session's state. The callback only reads that
state; a new login that has to be begun after a logout is begun on the kernel's main
thread once the running cell has finished (IPython's `post_execute` event). When a
cell has run, or the consent button is clicked, a widget whose session has no
credentials first takes up a login another kernel saved in the shared token cache, so
a login made in another notebook shows here without any polling. An attempt that ended
in this widget (declined, failed) is followed at once by a fresh one, so the button
never reopens an ended login.

The consent button (`LoginButton`) brings the answer back by itself where the page or
the kernel can receive it, and the paste field stays for everywhere else.

The expiry is shown as a clock time, never as a countdown: a countdown needs a
timer per widget sending messages every second, and goes wrong the moment the
notebook is saved or the kernel stops.

Secrets are typed into `SecretField`s, which never hold them in a synced trait.
Everything that comes from the server is HTML-escaped before it is shown. When the
page loses the kernel (a restart, or a notebook reopened with saved widget state),
the widget hides its controls and says to run the cell again.
"""

from __future__ import annotations

import contextlib
import html
import sys
import threading
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import ipywidgets as widgets  # type: ignore[import-untyped]

from ._browser_links import browser_url
from ._config import is_loopback
from ._display import LINK_STYLE, format_time, html_with_links
from ._errors import ZapierError
from ._login import LoginAnswer
from ._login_button import LoginButton
from ._secret_field import SecretField

if TYPE_CHECKING:
    from ._action_runner import ActionRunner
    from ._session import Session

__all__ = ["ActionRunner", "LoginWidget", "SecretField"]

_PRIMARY = (
    "display:inline-block;padding:6px 14px;border-radius:4px;background:#ff4f00;color:#fff;"
    "border:2px solid #ff4f00;font-weight:600;text-decoration:none"
)
_CREDENTIALS_URL = "https://actions.zapier.com/credentials/"

# Shown instead of the live text once the page has no kernel behind the widget: JupyterLab
# and Notebook 7 mark a widget's views with `jupyter-widgets-disconnected` then.
_STALE_STYLE = """<style>
.zapier-nb-stale { display: none; }
.jupyter-widgets-disconnected .zapier-nb-live { display: none; }
.jupyter-widgets-disconnected .zapier-nb-stale { display: block; font-style: italic; }
.zapier-nb-login.jupyter-widgets-disconnected > :not(.zapier-nb-status):not(.zapier-nb-header) {
  display: none; }
.zapier-nb-login .jupyter-widgets-disconnected::before { content: none; }
</style>"""
_STALE_TEXT = (
    "This login widget is not connected to a kernel any more (the kernel restarted, or the "
    "notebook was reopened). Run this cell again for a working one."
)


class LoginWidget(widgets.VBox):  # type: ignore[misc]
    """Log a session in from a notebook, and show who is logged in, whoever changes it."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._lock = threading.RLock()
        self._note: str | None = None  # what this widget's own last action should say
        self._own_change = False  # a change under way that this widget made itself
        self._was_logged_in = False
        self._key_owner: str | None = None  # whose key this widget checked, if it did
        self._oauth: widgets.VBox | None = None
        self.header = widgets.HTML(
            f"<b>Zapier AI Actions</b> &middot; <code>{html.escape(session.base_url)}</code>"
        ).add_class("zapier-nb-header")
        self.status = widgets.HTML().add_class("zapier-nb-status")
        self.key_hint = widgets.HTML().add_class("zapier-nb-key-hint")
        self.key_field = SecretField(
            self._submit_key,
            placeholder="Paste your AI Actions API key and press Enter",
            button_label="Use key",
        ).add_class("zapier-nb-key")
        self.sandbox_key_button = widgets.Button(
            description="Use the sandbox's key", icon="key"
        ).add_class("zapier-nb-sandbox-key")
        self.sandbox_key_button.on_click(lambda _: self._use_sandbox_key())
        self.logout_button = widgets.Button(description="Log out", icon="sign-out")
        self.logout_button.on_click(lambda _: self._logout())
        super().__init__()
        self.add_class("zapier-nb-login")
        if self._has_oauth():
            self._oauth_box()  # built here, on the kernel's main thread
        session.take_up_shared_login()
        self._begin_login_if_needed()
        self._render()
        self._unsubscribe: Callable[[], None] | None = session.subscribe(self._on_session_change)
        follow_cells(self)

    def __repr__(self) -> str:
        return f"Zapier AI Actions login widget for {self.session!r} (shown in Jupyter)"

    def close(self) -> None:
        """Stop following the session, and close the widget and its parts."""
        unsubscribe, self._unsubscribe = self._unsubscribe, None
        if unsubscribe is not None:
            unsubscribe()
        stop_following_cells(self)
        if self._oauth is not None:
            self.login_button.forget()
        for part in [*self._parts(), self]:
            for attached in (getattr(part, "layout", None), getattr(part, "style", None)):
                if attached is not None:
                    attached.close()
            if part is not self:
                part.close()
        super().close()

    # -- following the session ------------------------------------------------------------

    def _on_session_change(self) -> None:
        """The session's subscription: redraw from its state (maybe on another thread)."""
        if self._key_owner is not None and not self._own_change:
            self._key_owner = None  # the key may have changed: whose it is is unknown again
        if self._oauth is not None and self.session.auth_method is not None:
            self.login_button.forget()  # no answer is awaited any more
        self._render()

    def _render(self) -> None:
        session = self.session
        with self._lock, self.hold_sync():
            logged_in = session.auth_method is not None
            if logged_in:
                self._note = None
                self.children = (self.header, self.status, self.logout_button)
                self._show(self._logged_in_text())
            else:
                if self._was_logged_in and self._note is None and not self._own_change:
                    self._note = (
                        "Not logged in any more: logged out elsewhere, or the login ended. "
                        "Log in again below."
                    )
                self.children = self._login_controls()
                self._show(self._note or self._login_hint())
            self._was_logged_in = logged_in

    def _show(self, text_html: str) -> None:
        self.status.value = (
            f'{_STALE_STYLE}<div class="zapier-nb-live" data-testid="zapier-nb-status">'
            f'{text_html}</div><div class="zapier-nb-stale">{html.escape(_STALE_TEXT)}</div>'
        )

    def _say(self, text_html: str, error: bool) -> None:
        """What the consent button has to say about an answer that came back."""
        color = "#b00020" if error else "inherit"
        self._show(f'<span style="color:{color}">{text_html}</span>')

    def _logged_in_text(self) -> str:
        session = self.session
        info = session.token_info
        if session.auth_method == "oauth" and info is not None:
            who = html.escape(info.email or "your Zapier account")
            until = html.escape(format_time(info.expires_at))
            return (
                f"Logged in as <b>{who}</b>. The access token is valid until {until} and is "
                "refreshed automatically."
            )
        if self._key_owner is not None:
            return f"Logged in as <b>{html.escape(self._key_owner)}</b> with an API key."
        return (
            "Using an API key (sent as the <code>x-api-key</code> header). "
            "<code>%zapier_check</code> shows whose it is."
        )

    def _login_hint(self) -> str:
        if self._has_oauth():
            return (
                "Not logged in. Click <b>Log in with Zapier</b> and approve; the line under the "
                "button says whether the answer comes back by itself or goes in the field below."
            )
        return "Not logged in. Paste your API key below and press Enter."

    def _login_controls(self) -> tuple[Any, ...]:
        parts: list[Any] = [self.header, self.status]
        if self._has_oauth():
            parts.append(self._oauth_box())
        self.key_hint.value = self._key_hint()
        parts += [self.key_hint, self.key_field]
        if self._sandbox_here() is not None:
            parts.append(self.sandbox_key_button)
        return tuple(parts)

    def _key_hint(self) -> str:
        prefix = "Or use" if self._has_oauth() else "Use"
        if self._sandbox_here() is not None:
            return (
                f"{prefix} an API key. The sandbox serving this kernel has one: press "
                "<b>Use the sandbox's key</b>, or paste a key."
            )
        base_url = self.session.base_url
        if is_loopback(urlsplit(base_url).hostname or ""):
            home = html.escape(browser_url(base_url, base_url), quote=True)
            return (
                f"{prefix} the local sandbox's API key: <code>scripts/demo.sh</code> printed it, "
                f'and <a href="{home}/" target="_blank" rel="noopener noreferrer" '
                f'style="{LINK_STYLE}">the sandbox\'s home page</a> shows it.'
            )
        return f"{prefix} an API key: copy yours from {html_with_links(_CREDENTIALS_URL)}."

    def _oauth_box(self) -> widgets.VBox:
        """The OAuth part: the consent button for the login in progress, the paste field, and
        the sign-up form for people without an account."""
        if self._oauth is None:
            self.login_button = LoginButton(
                self.session, say=self._say, on_login=self._render, on_opened=self._opened
            ).add_class("zapier-nb-login-link")
            self.new_login_button = widgets.Button(
                description="Prepare a new login", icon="refresh"
            ).add_class("zapier-nb-new-login")
            self.new_login_button.on_click(lambda _: self._begin_login_now())
            self.code_field = SecretField(
                self._submit_code,
                placeholder="Paste the code, or the whole address you landed on, and press Enter",
                button_label="Log in",
                revealable=True,
                testid="zapier-nb-paste",
            ).add_class("zapier-nb-code")
            self.first_name = widgets.Text(description="First name").add_class("zapier-nb-first")
            self.last_name = widgets.Text(description="Last name").add_class("zapier-nb-last")
            self.email = widgets.Text(description="Email").add_class("zapier-nb-email")
            self.signup_button = widgets.Button(description="Get a sign-up link")
            self.signup_button.on_click(lambda _: self._get_signup_link())
            self.signup_message = widgets.HTML().add_class("zapier-nb-signup-message")
            self.signup_link = widgets.HTML().add_class("zapier-nb-signup-link")
            for field in (self.first_name, self.last_name, self.email):
                field.observe(lambda _: setattr(self.signup_message, "value", ""), "value")
                field.on_msg(self._enter_in_signup_field)
            self.signup_form = widgets.VBox(
                [self.first_name, self.last_name, self.email, self.signup_button,
                 self.signup_message, self.signup_link]
            )  # fmt: skip
            self.signup = widgets.Accordion(
                children=[self.signup_form], titles=("No Zapier account?",)
            )
            self._oauth = widgets.VBox().add_class("zapier-nb-oauth")
            self._shown_url: str | None = None
        url = self.session.pending_login_url
        if url != self._shown_url:
            self.signup_link.value = ""  # a sign-up link belongs to the login it was made for
            self._shown_url = url
        if url is None:
            first: Any = self.new_login_button
        else:
            # One primary button at a time: the sign-up link, once there is one.
            self.login_button.show_pending(primary=not self.signup_link.value)
            first = self.login_button
        self._oauth.children = (first, self.code_field, self.signup)
        return self._oauth

    def _parts(self) -> list[Any]:
        parts = [self.header, self.status, self.key_hint, self.key_field]
        parts += [self.sandbox_key_button, self.logout_button]
        if self._oauth is not None:
            parts += [self.login_button, self.new_login_button, self.code_field, self.signup]
            parts += [self.first_name, self.last_name, self.email, self.signup_button]
            parts += [self.signup_message, self.signup_link, self.signup_form, self._oauth]
        return parts

    # -- actions ------------------------------------------------------------------------

    def _submit_code(self, pasted: str) -> None:
        field = self.code_field
        if not pasted.strip():
            field.warn(
                "The field was empty. Paste the code, or the whole address of the page you "
                "landed on after approving, then press Enter."
            )
            return
        field.say("Exchanging the code for a token…")
        field.disabled = True
        try:
            answer = LoginAnswer.from_paste(pasted)
            del pasted
            self.session.submit_answer(answer)
        except ZapierError as exc:
            field.warn(exc.message)
            if self._needs_login_begun():
                self._begin_login_now()  # that attempt is over: offer a fresh one
            return
        finally:
            field.disabled = False
        field.say("")

    def _submit_key(self, key: str) -> None:
        if not key.strip():
            self.key_field.warn("The field was empty. Paste your API key, then press Enter.")
            return
        self._check_key(key)

    def _use_sandbox_key(self) -> None:
        sandbox = self._sandbox_here()
        if sandbox is None:
            self.key_field.warn("The sandbox is not running in this kernel any more.")
            return
        self._check_key(sandbox.api_key)

    def _check_key(self, key: str) -> None:
        """Check the key first, and use it only if the server accepts it: a refused key
        leaves the session (and a login other kernels share) as it was."""
        field = self.key_field
        field.say("Checking the key…")
        with self._acting():
            try:
                result = self.session.check_api_key(key)
                self.session.use_api_key(key)
            except ZapierError as exc:
                from ._mcp_magics import accept_connection_token  # a Zapier MCP token?

                refused = getattr(exc, "status_code", None) == 401
                connected = accept_connection_token(key) if refused else None
                if connected:
                    field.say(connected)
                else:
                    field.warn(exc.message)
                return
            self._key_owner = result.email
        field.say("")
        self._render()

    def _enter_in_signup_field(self, _: Any, content: Any, __: Any) -> None:
        """Enter in a sign-up field asks for the link, as in the key and code fields."""
        if isinstance(content, dict) and content.get("event") == "submit":
            self._get_signup_link()

    def _get_signup_link(self) -> None:
        email = self.email.value.strip()
        if not email:
            self._signup_warn("Enter the person's email.")
            return
        if "@" not in email:
            self._signup_warn("Enter the person's email address, like grace@example.org.")
            return
        try:
            link = self.session.login_link(
                first_name=self.first_name.value, last_name=self.last_name.value, email=email
            )
        except ZapierError as exc:
            self._signup_warn(exc.message)
            return
        href = html.escape(link, quote=True)
        with self.hold_sync():
            self.signup_message.value = ""
            self.signup_link.value = (
                f'<a class="zapier-nb-signup-button" href="{href}" target="_blank" '
                f'rel="noopener noreferrer" style="{_PRIMARY}">Create the account and log in</a>'
                "<br>It ends at the consent screen; then paste what you get back above."
            )
            self._render()

    def _signup_warn(self, text: str) -> None:
        self.signup_message.value = (
            f'<span style="color:#b00020">&#9888;&#xFE0E; {html.escape(text)}</span>'
        )

    def _logout(self) -> None:
        with self._acting(note="Logged out. Log in again below."):
            self.session.logout()

    def _opened(self) -> None:
        """The consent page was opened: an earlier answer's message is stale now."""
        self._note = None
        if not self.session.take_up_shared_login():
            self._render()

    def _after_cell(self) -> None:
        """A cell has run: take up a login saved elsewhere, and offer one if none is open."""
        if not self.session.take_up_shared_login() and self._needs_login_begun():
            self._begin_login_now()

    def _begin_login_now(self) -> None:
        """Begin a login for the consent button; on the kernel's main thread only."""
        try:
            self._begin_login_if_needed()
        except ZapierError as exc:
            self._show(f"&#9888;&#xFE0E; {html_with_links(exc.message)}")

    # -- helpers ------------------------------------------------------------------------

    @contextlib.contextmanager
    def _acting(self, note: str | None = None) -> Iterator[None]:
        """A change this widget makes itself: not reported as made elsewhere."""
        self._own_change = True
        try:
            if note is not None:
                self._note = note
            yield
        finally:
            self._own_change = False

    def _has_oauth(self) -> bool:
        return bool(self.session.client_id and self.session.redirect_uri)

    def _needs_login_begun(self) -> bool:
        session = self.session
        return (
            self._has_oauth() and session.auth_method is None and session.pending_login_url is None
        )

    def _begin_login_if_needed(self) -> None:
        """Offer a login: begun now if none is in progress, and listened for on loopback."""
        if self._has_oauth() and self.session.auth_method is None:
            self._oauth_box()
            self.login_button.prepare()

    def _sandbox_here(self) -> Any:
        """The sandbox serving this session's base URL from this kernel, if one does."""
        server = sys.modules.get("zapier_nb.sandbox._server")
        return None if server is None else server.serving_here(self.session.base_url)


class _FollowsCells(Protocol):
    session: object

    def _after_cell(self) -> None: ...

    def _show(self, text_html: str) -> None: ...


# Login widgets that follow the cells run in their kernel (IPython's `post_execute`).
_live: weakref.WeakSet[_FollowsCells] = weakref.WeakSet()
_hooked_shells: weakref.WeakSet[Any] = weakref.WeakSet()


def stop_following_cells(widget: _FollowsCells) -> None:
    _live.discard(widget)


def follow_cells(widget: _FollowsCells) -> None:
    """Call `widget._after_cell()` after each cell this kernel runs, while it lives."""
    _live.add(widget)
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - the widget lives in IPython kernels
        return
    shell = get_ipython()
    if shell is not None and shell not in _hooked_shells:
        _hooked_shells.add(shell)
        shell.events.register("post_execute", _after_cell)


def _after_cell() -> None:
    for widget in list(_live):
        try:
            widget._after_cell()
        except ZapierError as exc:
            widget._show(f"&#9888;&#xFE0E; {html_with_links(exc.message)}")


def shown_for(session: object) -> bool:
    """True when a live login widget for this session is shown in this kernel."""
    return any(widget.session is session for widget in list(_live))


def __getattr__(name: str) -> Any:
    # The AI Actions runner (and the models it needs) loads only when it is asked for.
    if name == "ActionRunner":
        from ._action_runner import ActionRunner

        return ActionRunner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
