"""The first cell of every tutorial: real Zapier when credentials are configured, else the sandbox.

`setup()` looks at the `ZAPIER_*` variables. Credentials for a non-loopback base URL
mean the real service. A loopback base URL means a sandbox that is already running
(`scripts/demo.sh` and `binder/start` start one, and pass its key as
`ZAPIER_NB_SANDBOX_API_KEY`, read by the API key lessons only). Otherwise a sandbox is started in
this kernel. Either way the kernel's default session, used by the magics, is set up
for what the notebook teaches, and in IPython the `zapier_nb` extension is loaded: the
magics, and errors shown as one line.
"""

from __future__ import annotations

import dataclasses
import getpass
import html
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from ._browser_links import sandbox_url
from ._config import Settings, is_loopback
from ._default_session import replace_default_session
from ._display import format_time
from ._redact import redact
from ._session import Session

__all__ = ["Backend", "clock_time", "masked", "setup"]

Needs = Literal["api_key", "oauth"]

_AUTOPILOT_VAR = "ZAPIER_NB_AUTOPILOT"
# `binder/start` (and so the demo) gives the kernels the sandbox's key under this name,
# not as ZAPIER_API_KEY, so that only an API key lesson logs in with it.
_SANDBOX_KEY_VAR = "ZAPIER_NB_SANDBOX_API_KEY"
_started: dict[str, Any] = {}


@dataclass
class Backend:
    """Where the tutorial's calls go, and how the consent screen gets answered."""

    kind: Literal["zapier", "sandbox"]
    base_url: str
    origin: str
    session: Session
    autopilot: bool = False
    sandbox: Any = field(default=None, repr=False)

    def consent(self, authorize_url: str) -> str:
        """The redirected address after approving: played by the sandbox, or pasted by you."""
        if self.kind == "sandbox":
            from .sandbox import approve

            return approve(authorize_url)
        print(
            f"Open this address, approve, then paste the address you land on:\n\n{authorize_url}\n"
        )
        return getpass.getpass("Code or address (hidden): ")

    def follow_login_link(self, link: str) -> str:
        """Sandbox only: sign up through a login link and approve; returns the redirected URL."""
        from .sandbox import follow_login_link

        return follow_login_link(sandbox_url(link, self.base_url))

    def describe(self) -> str:
        if self.kind == "zapier":
            return f"Using Zapier AI Actions at {self.base_url} with {self.origin}."
        text = (
            f"Using the local sandbox at {self.base_url} ({self.origin}). No Zapier account needed."
        )
        if self.autopilot:
            text += " The sandbox plays the consenting user, so the notebook runs unattended."
        if self.session.client_id:
            text += " " + self._who_shares_the_login()
        return text

    def _who_shares_the_login(self) -> str:
        if self.session.token_cache_path is not None:
            return (
                "A login here serves every notebook that uses this sandbox: it is kept in a "
                "token cache."
            )
        if self.sandbox is not None:
            return "This notebook logs in on its own: its sandbox lives in this kernel."
        return (
            "This notebook logs in on its own: each notebook has its own kernel, and no token "
            "cache is kept for a local sandbox."
        )

    def __repr__(self) -> str:
        return self.describe()

    def _repr_html_(self) -> str:
        # A bar, not a glyph: an "information" sign is an empty box in many Linux fonts.
        style = "border-left:3px solid #ff4f00;padding-left:.6em"
        text = html.escape(self.describe())
        return f'<div class="zapier-nb-backend" style="{style}">{text}</div>'


def _has_credentials(settings: Settings, needs: Needs) -> bool:
    if needs == "api_key":
        return bool(settings.api_key)
    return bool(settings.client_id and settings.redirect_uri)


def _start_sandbox() -> Any:
    if "sandbox" not in _started:
        from .sandbox import Sandbox

        sandbox = Sandbox().start()
        _started["sandbox"] = sandbox
        os.environ.update(
            ZAPIER_BASE_URL=sandbox.base_url,
            ZAPIER_API_KEY=sandbox.api_key,
            ZAPIER_CLIENT_ID=sandbox.client_id,
            ZAPIER_REDIRECT_URI=sandbox.redirect_uri,
            **sandbox.mcp.settings(),
        )
    return _started["sandbox"]


def setup(needs: Needs = "api_key") -> Backend:
    """Choose the backend and make the default session ready for an API key or OAuth lesson."""
    sandbox = None
    settings = Settings.from_env()
    local = is_loopback(urlsplit(settings.base_url).hostname or "")
    if not local and _has_credentials(settings, needs):
        kind: Literal["zapier", "sandbox"] = "zapier"
        origin = "the API key in ZAPIER_API_KEY" if needs == "api_key" else "your OAuth app"
    elif local and "sandbox" not in _started:
        kind, origin = "sandbox", "already running"
    else:
        kind, origin, sandbox = "sandbox", "started in this kernel", _start_sandbox()
        settings = Settings.from_env()
    if needs == "api_key":
        if kind == "sandbox" and not settings.api_key:
            settings = dataclasses.replace(settings, api_key=os.environ.get(_SANDBOX_KEY_VAR))
        settings = dataclasses.replace(settings, client_id=None, redirect_uri=None)
    else:
        settings = dataclasses.replace(settings, api_key=None)
    session = replace_default_session(Session.from_settings(settings))
    _load_extension()
    autopilot = kind == "sandbox" and os.environ.get(_AUTOPILOT_VAR, "0") == "1"
    return Backend(kind, session.base_url, origin, session, autopilot, sandbox)


def _load_extension() -> None:
    """In IPython, load `zapier_nb` once: the magics, and `ZapierError`s shown as one line."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and "zapier_nb" not in shell.extension_manager.loaded:
        shell.extension_manager.load_extension("zapier_nb")


def clock_time(when: datetime) -> str:
    """A moment as zapier_nb shows every time: this machine's clock, with its zone."""
    return format_time(when)


def masked(value: Any) -> Any:
    """A copy of a JSON-like value with each secret shown only as its length."""
    return redact(value, mask=lambda secret: f"*** ({len(str(secret))} characters)")
