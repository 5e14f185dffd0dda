"""Where the login's answer can come back, and which redirect URI to register for it.

The browser reports where the notebook runs (the login button sends an `Environment`);
the kernel's own environment fills in what it knows before that (JupyterHub, Binder,
Colab). From those, `capture_for` says how a login with the configured redirect URI
will come back, and `redirect_uri` says which URI to register where you are, and why.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from ._config import is_loopback
from ._loopback import is_loopback_redirect
from ._paths import CALLBACK_ROUTE, LOOPBACK_CALLBACK_PATH, SANDBOX_CALLBACK_PATH
from ._tables import pairs_html, pairs_text

__all__ = [
    "LOOPBACK_URI",
    "Capture",
    "Environment",
    "RedirectAdvice",
    "capture_for",
    "last_environment",
    "redirect_uri",
    "remember_environment",
]

LOOPBACK_URI = f"http://127.0.0.1{LOOPBACK_CALLBACK_PATH}"
FIXED_PORT_URI = f"http://127.0.0.1:8020{LOOPBACK_CALLBACK_PATH}"

CaptureMode = Literal["extension", "sandbox-proxy", "loopback", "paste"]


def _text(value: Any, limit: int = 300) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Environment:
    """What the browser said about the page that shows the widget."""

    origin: str | None = None
    base_url: str = "/"
    hub_prefix: str | None = None
    hub_user: str | None = None
    hub_host: str | None = None
    hub_server_name: str | None = None
    extension_callback: str | None = None
    sandbox: str | None = None
    sandbox_proxy: str | None = None
    vscode: bool = False
    colab: bool = False

    @classmethod
    def from_report(cls, report: Mapping[str, Any]) -> Environment:
        """Read the button's report, keeping only well-formed fields."""
        extension = report.get("extension")
        extension = extension if isinstance(extension, Mapping) else {}
        base = _text(report.get("base_url")) or "/"
        origin = _text(report.get("origin"))
        schemes = ("http", "https", "vscode-webview")
        if origin is not None and urlsplit(origin).scheme not in schemes:
            origin = None
        return cls(
            origin=origin,
            base_url=base if base.endswith("/") else base + "/",
            hub_prefix=_text(report.get("hub_prefix")),
            hub_user=_text(report.get("hub_user")),
            hub_host=_text(report.get("hub_host")),
            hub_server_name=_text(report.get("hub_server_name")),
            extension_callback=_text(extension.get("callback")),
            sandbox=_text(extension.get("sandbox")),
            sandbox_proxy=_text(extension.get("sandbox_proxy")),
            vscode=report.get("vscode") is True,
            colab=report.get("colab") is True,
        )

    @property
    def extension(self) -> bool:
        return self.extension_callback is not None

    @property
    def hub(self) -> bool:
        return self.hub_prefix is not None

    @property
    def browser_is_local(self) -> bool:
        """The page is served from loopback: the browser runs where the server does."""
        host = urlsplit(self.origin or "").hostname
        return host is not None and is_loopback(host)

    def extension_uri(self) -> str | None:
        if self.origin is None or not self.extension:
            return None
        return f"{self.origin}{self.base_url}{CALLBACK_ROUTE}"

    def hub_uri(self) -> str | None:
        if self.origin is None or self.hub_prefix is None:
            return None
        prefix = self.hub_prefix if self.hub_prefix.endswith("/") else self.hub_prefix + "/"
        host = self.hub_host or self.origin
        return f"{host}{prefix}user-redirect/{CALLBACK_ROUTE}"


_last: Environment | None = None


def remember_environment(environment: Environment) -> None:
    global _last
    _last = environment


def last_environment() -> Environment | None:
    """What the newest login widget's browser reported in this kernel, if any."""
    return _last


@dataclass(frozen=True)
class Capture:
    """How a login with the configured redirect URI comes back, in one line for the widget."""

    mode: CaptureMode
    line: str
    browser_base: str | None = None  # the sandbox's pages as this browser reaches them

    def browser_url(self, consent_url: str, sandbox_base: str) -> str:
        """The consent URL as the browser must open it."""
        if self.browser_base is None or not consent_url.startswith(sandbox_base):
            return consent_url
        return self.browser_base + consent_url[len(sandbox_base) :]


_PASTE = "After approving, paste the address you land on into the field below."


def capture_for(
    redirect_uri: str | None, base_url: str, environment: Environment | None
) -> Capture:
    """How the answer to a login with `redirect_uri` reaches this kernel."""
    if not redirect_uri:
        return Capture("paste", _PASTE)
    if (
        environment is not None
        and environment.extension
        and redirect_uri
        in (
            environment.extension_uri(),
            environment.hub_uri(),
        )
    ):
        return Capture("extension", "The code comes back automatically after you approve.")
    if is_loopback_redirect(redirect_uri):
        return _loopback_capture(redirect_uri, environment)
    if environment is None:
        return Capture("paste", "Checking how the code can come back&hellip; " + _PASTE)
    sandbox_callback = base_url + SANDBOX_CALLBACK_PATH
    if (
        redirect_uri == sandbox_callback
        and environment.sandbox == base_url
        and environment.sandbox_proxy
        and environment.origin
    ):
        return Capture(
            "sandbox-proxy",
            "The code comes back automatically (the sandbox's pages open through this Jupyter "
            "server).",
            browser_base=environment.origin + environment.sandbox_proxy,
        )
    if urlsplit(redirect_uri).path.endswith("/" + CALLBACK_ROUTE) and environment.origin:
        if not environment.extension:
            why = "this Jupyter server does not have the zapier_nb extension loaded"
        else:
            why = f"the redirect URI is not on this page's address ({environment.origin})"
        return Capture("paste", f"The code cannot come back by itself: {why}. " + _PASTE)
    return Capture("paste", _PASTE)


def _loopback_capture(redirect_uri: str, environment: Environment | None) -> Capture:
    page = urlsplit(environment.origin or "") if environment is not None else None
    if page is not None and page.hostname and not is_loopback(page.hostname):
        return Capture(
            "paste",
            "The redirect URI is this kernel's loopback address, but this browser seems to "
            "run on another machine: " + _PASTE[0].lower() + _PASTE[1:],
        )
    if page is not None and page.port is not None and page.port == urlsplit(redirect_uri).port:
        return Capture(
            "paste",
            f"The redirect URI is this Jupyter server's port under another host name than "
            f"{html.escape(page.netloc)}, where this browser is not logged in to Jupyter: "
            + _PASTE[0].lower()
            + _PASTE[1:],
        )
    return Capture(
        "loopback",
        "The code comes back to the kernel by itself when this browser runs on the "
        "kernel's machine; otherwise paste the address you land on below.",
    )


@dataclass(frozen=True)
class RedirectAdvice:
    """The redirect URI to register where you are, how the code comes back, and why."""

    uri: str | None
    where: str
    how: str
    fallback: str
    why: str

    def __str__(self) -> str:
        return self.uri or ""

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("Register", self.uri or "(none can be registered here)"),
            ("Where you are", self.where),
            ("How the code comes back", self.how),
            ("If it cannot", self.fallback),
            ("Why", self.why),
        ]

    def __repr__(self) -> str:
        return pairs_text(_ADVICE_TITLE, self.rows())

    def _repr_html_(self) -> str:
        return pairs_html(_ADVICE_TITLE, self.rows(), code=("Register",))


_ADVICE_TITLE = "Zapier AI Actions: redirect URI to register"
_PASTE_FALLBACK = "Paste the address you land on into the login widget (or at the prompt)."


def redirect_uri(
    environment: Environment | None = None, *, environ: Mapping[str, str] | None = None
) -> RedirectAdvice:
    """The exact redirect URI to register for where this notebook runs, and why.

    It uses what the newest login widget's browser reported (show `%zapier_login` first
    for the most exact answer), then the kernel's environment.
    """
    env = os.environ if environ is None else environ
    found = environment if environment is not None else last_environment()
    if (found is not None and found.colab) or env.get("COLAB_RELEASE_TAG"):
        return RedirectAdvice(
            None,
            "Google Colab",
            "It cannot come back by itself: Colab gives the kernel no address a browser can "
            "be sent to.",
            "Register an https page you control that shows its own address, and paste that "
            "address; or use an API key (Colab Secrets).",
            "Only a page on the notebook's own address, or the kernel's own machine, can hand "
            "the code over; Colab offers neither.",
        )
    if env.get("BINDER_REPO_URL") or env.get("BINDER_LAUNCH_HOST"):
        return RedirectAdvice(
            None,
            "Binder",
            "Against the bundled sandbox it comes back by itself, through this Jupyter server "
            "(nothing to register).",
            _PASTE_FALLBACK + " Against real Zapier, register an https page you control.",
            "Binder's address changes at every launch, so no URI can be registered for it.",
        )
    hub_uri = _hub_uri(found, env)
    if hub_uri is not None:
        return RedirectAdvice(
            hub_uri,
            "JupyterHub",
            "The hub sends each user to their own server's callback page, which hands the code "
            "to the widget (zapier_nb must be installed in the single-user image).",
            _PASTE_FALLBACK,
            "One URI serves every user of the hub: /hub/user-redirect/ leads to the logged-in "
            "user's own server.",
        )
    if found is not None and found.vscode:
        return RedirectAdvice(
            LOOPBACK_URI,
            "VS Code",
            "A listener in the kernel receives it when the browser runs on the kernel's "
            "machine (a local kernel).",
            _PASTE_FALLBACK + " With a remote kernel, paste unless VS Code forwards the "
            "listener's port to the same port on your machine.",
            _LOOPBACK_WHY,
        )
    if found is not None and found.origin and not found.browser_is_local:
        uri = found.extension_uri() or f"{found.origin}{found.base_url}{CALLBACK_ROUTE}"
        how = "This server's callback page hands it to the widget."
        if not found.extension:
            how += " The zapier_nb server extension is not loaded on this server yet: install "
            how += "zapier_nb where the Jupyter server runs, then restart it."
        return RedirectAdvice(
            uri,
            f"a Jupyter server at {found.origin}{found.base_url}",
            how,
            _PASTE_FALLBACK,
            "The page must be on the notebook's own address to reach the widget.",
        )
    where = (
        f"a local Jupyter server ({found.origin}{found.base_url})"
        if found is not None and found.origin
        else "this machine (a terminal, a script, or a notebook whose browser has not reported)"
    )
    return RedirectAdvice(
        LOOPBACK_URI,
        where,
        "A listener in the kernel, on a free port of 127.0.0.1, receives it.",
        _PASTE_FALLBACK + f" If Zapier refuses a URI without a port, register {FIXED_PORT_URI} "
        "instead (that port must then be free).",
        _LOOPBACK_WHY,
    )


_LOOPBACK_WHY = (
    "The browser runs on the kernel's machine, so the kernel itself can listen; "
    "RFC 8252 lets a loopback URI registered without a port match any port (an assumption "
    "about Zapier that is not documented)."
)


def _hub_uri(found: Environment | None, env: Mapping[str, str]) -> str | None:
    if found is not None and found.hub:
        return found.hub_uri()
    if not env.get("JUPYTERHUB_SERVICE_PREFIX") or not env.get("JUPYTERHUB_API_URL"):
        return None
    public = env.get("JUPYTERHUB_PUBLIC_HUB_URL", "").strip()
    if public:
        return public.rstrip("/") + "/user-redirect/" + CALLBACK_ROUTE
    hub_prefix = env.get("JUPYTERHUB_BASE_URL", "/").rstrip("/") + "/hub/"
    host = env.get("JUPYTERHUB_HOST", "").strip() or "https://HUB"
    return f"{host}{hub_prefix}user-redirect/{CALLBACK_ROUTE}"
