"""A local fake of Zapier's AI Actions API, for tests and tutorial notebooks.

Needs the ``sandbox`` extra (Starlette and uvicorn). Run ``python -m zapier_nb.sandbox``, or::

    from zapier_nb.sandbox import Sandbox

    with Sandbox() as sb:
        sb.base_url, sb.api_key, sb.client_id, sb.redirect_uri
"""

from __future__ import annotations

from urllib.parse import urlsplit

from . import _browser
from ._actions_state import ExecutionLog, SentEmail
from ._mcp_facade import approve_mcp
from ._mcp_routes import MCP_AUTHORIZE_PATH
from ._models import SandboxClient, SandboxUser
from ._server import Sandbox

__all__ = [
    "ExecutionLog",
    "Sandbox",
    "SandboxClient",
    "SandboxUser",
    "SentEmail",
    "approve",
    "follow_login_link",
]


def approve(authorize_url: str, *, deny: bool = False) -> str:
    """Answer any running sandbox's consent screen (an AI Actions or an MCP login's);
    returns the address it redirects to."""
    if urlsplit(authorize_url).path == MCP_AUTHORIZE_PATH:
        return approve_mcp(authorize_url, deny=deny)
    return _browser.consent(authorize_url, deny=deny, cookie=None)


def follow_login_link(login_link: str, *, deny: bool = False) -> str:
    """Sign up through any running sandbox's login link and approve; returns the redirect."""
    return _browser.sign_up_and_consent(login_link, deny=deny)
