"""Zapier MCP settings: the endpoint, the environment's names, and the URL check.

What is assumed about Zapier's MCP service (from its documentation, checked only against
the sandbox) is kept here: one Streamable HTTP endpoint for every client, and a
connection token sent as `Authorization: Bearer`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlsplit

from ._config import is_loopback
from ._errors import ConfigurationError
from ._paths import LOOPBACK_CALLBACK_PATH

__all__ = [
    "DEFAULT_MCP_REDIRECT_URI",
    "DEFAULT_MCP_TIMEOUT",
    "DEFAULT_MCP_URL",
    "MCP_TOKEN_ENV",
    "MCP_URL_ENV",
    "mcp_env",
    "normalize_mcp_url",
]

DEFAULT_MCP_URL = "https://mcp.zapier.com/api/v1/connect"
MCP_URL_ENV = "ZAPIER_MCP_URL"
MCP_TOKEN_ENV = "ZAPIER_MCP_TOKEN"
# Where the consent page sends the person back in an OAuth login, unless the login widget
# picks this Jupyter server's callback page: the kernel's loopback listener (on a free port,
# registered with it) where one runs; else the address bar holds the code to paste back.
DEFAULT_MCP_REDIRECT_URI = f"http://127.0.0.1{LOOPBACK_CALLBACK_PATH}"
# A tool may take a while (it runs an app's action); the connection itself is quick.
DEFAULT_MCP_TIMEOUT = 60.0


def normalize_mcp_url(url: str) -> str:
    """The MCP endpoint as given: https, or plain http on loopback only; no credentials in it."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigurationError(
            f"The MCP URL {url!r} is not an http(s) URL. Use {DEFAULT_MCP_URL}, or the MCP URL "
            "the sandbox printed."
        )
    if "@" in parts.netloc or parts.query or parts.fragment:
        raise ConfigurationError(
            "The MCP URL carries a user name, a query or a fragment, which could hold a token "
            "and would be shown in messages. Give the bare endpoint as url= and the token as "
            "token= (or ZAPIER_MCP_TOKEN)."
        )
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise ConfigurationError(
            f"The MCP URL {url!r} has a malformed port. Write it as https://host/path or "
            "http://127.0.0.1:PORT/path."
        ) from None
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigurationError(
            f"The MCP URL {url!r} uses plain http, which would send the token unencrypted. "
            "Use an https URL (plain http is allowed only on localhost)."
        )
    return url


def mcp_env(environ: Mapping[str, str] | None = None) -> tuple[str | None, str | None]:
    """`ZAPIER_MCP_URL` and `ZAPIER_MCP_TOKEN`, each None when unset or blank."""
    env = os.environ if environ is None else environ
    url = env.get(MCP_URL_ENV, "").strip() or None
    token = env.get(MCP_TOKEN_ENV, "").strip() or None
    return url, token
