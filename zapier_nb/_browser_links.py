"""A sandbox URL as the person's browser must open it: through the Jupyter server that fronts it.

The zapier_nb server extension serves a sandbox running on the server's loopback under
`{base_url}zapier-nb/sandbox/`, for browsers that cannot reach that loopback (Binder).
Every link shown to a person (the consent page, a sign-up link, the sandbox's home page,
"Configure more actions") goes through here. Where the browser's page is on this server,
the widget's report gives the address; without a report, a JupyterHub (and Binder)
single-user server's prefix does, as a path on the page's own origin. Any other URL, and
every URL when nothing says the server fronts the sandbox, is returned unchanged.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from ._config import is_loopback
from ._paths import SANDBOX_ROUTE

__all__ = ["browser_url", "sandbox_url"]

_PROXY_SWITCH = "ZAPIER_NB_SANDBOX_PROXY"


def browser_url(url: str, sandbox_base: str) -> str:
    """`url` as the browser opens it: through the proxy when `url` is on the fronted sandbox."""
    base = sandbox_base.rstrip("/")
    if url != base and not url.startswith(base + "/"):
        return url
    proxy = _proxy_for(base)
    return url if proxy is None else proxy + url[len(base) :]


def sandbox_url(url: str, sandbox_base: str) -> str:
    """The inverse: a link shown through the proxy, as the kernel reaches the sandbox."""
    base = sandbox_base.rstrip("/")
    path = urlsplit(url).path
    marker = "/" + SANDBOX_ROUTE
    if url.startswith(base) or marker not in path:
        return url
    rest = url[url.index(marker) + len(marker) :]
    return base + rest


def _proxy_for(base: str) -> str | None:
    from ._redirect import last_environment

    reported = last_environment()
    if reported is not None and reported.extension:
        # The server answered for itself: it fronts this sandbox only if it says so (it does
        # not for a sandbox another user started, whose pages it would refuse).
        if reported.sandbox is None or reported.sandbox.rstrip("/") != base:
            return None
        if reported.sandbox_proxy:
            return (reported.origin or "") + reported.sandbox_proxy.rstrip("/")
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "").strip()
    if prefix and _fronted_by_the_server(base):
        return prefix.rstrip("/") + "/" + SANDBOX_ROUTE
    return None


def _fronted_by_the_server(base: str) -> bool:
    """The server that started this kernel fronts this sandbox (its `ZAPIER_BASE_URL`)."""
    if os.environ.get(_PROXY_SWITCH, "1").strip() == "0":
        return False
    configured = os.environ.get("ZAPIER_BASE_URL", "").strip().rstrip("/")
    parts = urlsplit(configured)
    return (
        configured == base
        and parts.scheme == "http"
        and is_loopback(parts.hostname or "")
        and not parts.path
    )
