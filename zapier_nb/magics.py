"""IPython magics: `%zapier_login`, `%zapier_check`, `%zapier_status`, `%zapier_logout`,
`%zapier_login_link`, `%zapier_redirect_uri`, `%zapier_actions`, `%zapier_run` and
`%%zapier_run`. Options are traitlets, so `%config ZapierMagics.base_url = ...` works.

User mistakes and API errors become a one-line `UsageError` with the fix, not a traceback.
The session and display modules load at the first magic, keeping `%load_ext` quick.
"""

from __future__ import annotations

import contextlib
import dataclasses
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Bool, Float, Unicode
from traitlets.config import Configurable

from ._browser_links import browser_url
from ._errors import LoginRequiredError, ZapierError

if TYPE_CHECKING:
    from ._display import ResultTable
    from ._redirect import RedirectAdvice
    from ._results import ActionList, ActionResult
    from ._session import Session

__all__ = ["ZapierMagics", "load_ipython_extension"]

_WAIT = "To make Run All wait for the login, use %zapier_login --wait."
_LOG_IN_ABOVE = (
    f"Not logged in yet: log in with the widget above, then run this cell again. {_WAIT}"
)
_LOG_IN = (
    f"Not logged in: run %zapier_login to show the login widget, log in, then run this cell "
    f"again. {_WAIT}"
)


def _not_logged_in() -> str:
    """Point at a login widget only where this kernel shows one."""
    widgets = sys.modules.get("zapier_nb.widgets")
    from ._default_session import get_session

    shown = widgets is not None and widgets.shown_for(get_session())
    return _LOG_IN_ABOVE if shown else _LOG_IN


_NOT_REPORTED_YET = (
    ". This answer waits for the notebook's browser: its report comes with the login "
    "widget (%zapier_login) once the cells before have run, so under Run All run this "
    "cell again after the widget shows"
)


@contextlib.contextmanager
def _as_usage_errors() -> Iterator[None]:
    try:
        yield
    except LoginRequiredError as exc:
        message = exc.message if exc.ended else _not_logged_in()
        raise UsageError(message) from None
    except ZapierError as exc:
        raise UsageError(exc.message) from None


@magics_class
class ZapierMagics(Magics, Configurable):
    """Magics that log the kernel's default session in and show what it can do."""

    base_url = Unicode(
        None, allow_none=True, help="The API's base URL; ZAPIER_BASE_URL when unset."
    ).tag(config=True)
    client_id = Unicode(
        None, allow_none=True, help="OAuth public client id; ZAPIER_CLIENT_ID when unset."
    ).tag(config=True)
    redirect_uri = Unicode(
        None, allow_none=True, help="OAuth redirect URI; ZAPIER_REDIRECT_URI when unset."
    ).tag(config=True)
    timeout = Float(15.0, help="Seconds to wait for each answer.").tag(config=True)

    # -- how errors are shown (zapier_nb._short_errors) --
    short_errors = Bool(
        True,
        help="Show a ZapierError raised in a cell as one line (its message says what to do); "
        "False shows the full traceback.",
    ).tag(config=True)

    def __init__(self, shell: Any) -> None:
        Configurable.__init__(self, config=shell.config)
        Magics.__init__(self, shell=shell)
        shell.configurables.append(self)

    def _session(self, **options: str | None) -> Session:
        """The default session, replaced when the options or config ask for other settings."""
        from ._config import Settings, normalize_base_url
        from ._default_session import get_session, replace_default_session
        from ._session import Session

        with _as_usage_errors():
            base_url = options.get("base_url") or self.base_url
            wanted = {
                "base_url": normalize_base_url(base_url) if base_url else None,
                "client_id": options.get("client_id") or self.client_id,
                "redirect_uri": options.get("redirect_uri") or self.redirect_uri,
            }
            current = get_session()
            have = {
                "base_url": current.base_url,
                "client_id": current.client_id,
                "redirect_uri": current.redirect_uri,
            }
            if all(v is None or have[k] == v for k, v in wanted.items()):
                return current
            settings = Settings.from_env(None, timeout=self.timeout, **wanted)
            if wanted["client_id"]:
                # An OAuth client asked for by name means OAuth, even with ZAPIER_API_KEY set.
                settings = dataclasses.replace(settings, api_key=None)
            return replace_default_session(Session.from_settings(settings))

    @magic_arguments()
    @argument("--client-id", help="OAuth public client id (default: ZAPIER_CLIENT_ID).")
    @argument("--redirect-uri", help="OAuth redirect URI (default: ZAPIER_REDIRECT_URI).")
    @argument("--base-url", help="API base URL (default: ZAPIER_BASE_URL or actions.zapier.com).")
    @argument("--wait", action="store_true", help="Ask at a hidden prompt; Run All waits.")
    @line_magic
    def zapier_login(self, line: str) -> None:
        """Show the login widget (API key or OAuth PKCE), or ask at a prompt with --wait."""
        from ._login_ui import login

        args = parse_argstring(self.zapier_login, line)
        session = self._session(
            client_id=args.client_id, redirect_uri=args.redirect_uri, base_url=args.base_url
        )
        with _as_usage_errors():
            login(session, wait=args.wait)

    @line_magic
    def zapier_check(self, line: str) -> ResultTable:
        """Call /api/v2/auth/check/ and show who the session is logged in as."""
        from ._display import check_table

        session = self._session()
        with _as_usage_errors():
            return check_table(session.check(), session)

    @line_magic
    def zapier_status(self, line: str) -> ResultTable:
        """Show how the session is authenticated and when its token expires (never the token)."""
        from ._display import status_table

        return status_table(self._session())

    @line_magic
    def zapier_logout(self, line: str) -> None:
        """Forget the session's credentials."""
        self._session().logout()
        print("Logged out of Zapier AI Actions.")

    @magic_arguments()
    @argument("--first-name", required=True, help="The new user's first name.")
    @argument("--last-name", required=True, help="The new user's last name.")
    @argument("--email", required=True, help="The new user's email address.")
    @line_magic
    def zapier_login_link(self, line: str) -> ResultTable:
        """Get a sign-up link for someone without a Zapier account (needs OAuth settings)."""
        from ._display import login_link_table

        args = parse_argstring(self.zapier_login_link, line)
        session = self._session()
        with _as_usage_errors():
            link = session.login_link(
                first_name=args.first_name, last_name=args.last_name, email=args.email
            )
        return login_link_table(link, args.email)

    @line_magic
    def zapier_redirect_uri(self, line: str) -> RedirectAdvice:
        """The OAuth redirect URI to register for where this notebook runs, and why."""
        from ._redirect import last_environment, redirect_uri

        advice = redirect_uri()
        if last_environment() is None and getattr(self.shell, "kernel", None) is not None:
            # A notebook's browser reports through the login widget, whose message the
            # kernel reads only between cells: under Run All, after this cell has run.
            advice = dataclasses.replace(advice, where=advice.where + _NOT_REPORTED_YET)
        return advice

    # -- AI Actions -------------------------------------------------------------------

    @line_magic
    def zapier_actions(self, line: str) -> ActionList:
        """Show the stored AI Actions: id, app, action, type, description, required inputs.

        Words after the magic keep only the actions whose description or app/action has
        them all: `%zapier_actions gmail`.
        """
        from ._results import ActionList

        session = self._session()
        with _as_usage_errors():
            actions = session.list_actions()
        words = line.casefold().split()
        kept = [
            a for a in actions if all(w in f"{a.description} {a.key}".casefold() for w in words)
        ]
        return ActionList(kept, browser_url(actions.configuration_link, session.base_url))

    @magic_arguments()
    @argument("action", help="The action: its id, app/action, or words of its description.")
    @argument("instructions", nargs="?", help="What to do, in plain words (quoted).")
    @argument("--preview", action="store_true", help="Only show what would be done.")
    @argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Use this value for an input (repeatable).",
    )
    @line_cell_magic
    def zapier_run(self, line: str, cell: str | None = None) -> ActionResult:
        """Run (or with --preview, only preview) an AI Action.

        `%zapier_run ACTION "instructions" [--preview] [--param key=value ...]`, or
        `%%zapier_run ACTION [--preview]` with the instructions as the cell's body.
        `r = %zapier_run ...` keeps the result.
        """
        args = parse_argstring(self.zapier_run, line)
        on_line = None if args.instructions is None else _unquote(args.instructions)
        instructions = _run_instructions(on_line, cell)
        params = _run_params([_unquote(pair) for pair in args.param])
        session = self._session()
        with _as_usage_errors():
            return session.run_action(
                _unquote(args.action), instructions, params=params or None, preview=args.preview
            )


def _unquote(text: str) -> str:
    """IPython's argument splitting keeps quotes around an argument; drop one matching pair."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _run_instructions(on_line: str | None, cell: str | None) -> str:
    if cell is not None and cell.strip():
        if on_line:
            raise UsageError(
                "Give the instructions either on the %%zapier_run line or in the cell, not both."
            )
        return cell.strip()
    if not on_line or not on_line.strip():
        raise UsageError(
            'Say what to do: %zapier_run ACTION "instructions", or %%zapier_run ACTION with '
            "the instructions in the cell."
        )
    return on_line


def _run_params(pairs: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param takes KEY=VALUE, not {pair!r}.")
        params[key.strip()] = _unquote(value)
    return params


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext zapier_nb` registers the magics."""
    ipython.register_magics(ZapierMagics(ipython))
    from ._mcp_magics import MCPMagics  # %zapier_mcp, %zapier_tools, %zapier_call

    ipython.register_magics(MCPMagics(ipython))
    _install_short_errors(ipython)


def _install_short_errors(ipython: Any) -> None:
    """A ZapierError raised in a cell is shown as one line (`ZapierMagics.short_errors`)."""
    from ._short_errors import install_short_errors

    install_short_errors(ipython)
