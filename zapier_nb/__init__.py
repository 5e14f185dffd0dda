"""Zapier AI Actions for Jupyter notebooks: log in, run actions, see the results as tables.

`Session` holds an API key or OAuth PKCE tokens and refreshes them; the sandbox
(`zapier_nb.sandbox`) serves the API locally for tutorials and tests.

Only the error classes load with the package; `Session` and the models (and with
them httpx2 and pydantic) load on first use, and so do the submodules
(`zapier_nb.widgets`, `zapier_nb.magics`, `zapier_nb.sandbox`, `zapier_nb.tutorial`),
so `import zapier_nb` and `%load_ext zapier_nb` stay quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import (
    ActionLookupError,
    ActionRequestError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    ConsentDeniedError,
    InvalidCodeError,
    LoginError,
    LoginRequiredError,
    OAuthError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    SessionExpiredError,
    StateMismatchError,
    TokenCacheError,
    ToolError,
    ZapierError,
)
from ._interactive import provide_interactive_login, provide_progress_bar
from ._version import __version__ as __version__

if TYPE_CHECKING:
    from . import magics as magics
    from . import sandbox as sandbox
    from . import tutorial as tutorial
    from . import widgets as widgets
    from ._action_models import AiAction, ParamConstraint
    from ._default_session import get_session
    from ._login_ui import login
    from ._mcp_results import ToolInfo, ToolList, ToolResult, ToolRunResult, ToolRunRow
    from ._mcp_session import MCPSession
    from ._models import CheckAuthResponse, LoginLinkResponse, TokenInfo, TokenResponse
    from ._redirect import RedirectAdvice, redirect_uri
    from ._results import ActionList, ActionResult, RunManyResult, RunRow
    from ._session import Session


_LAZY = {
    "ActionList": "._results",
    "ActionResult": "._results",
    "AiAction": "._action_models",
    "CheckAuthResponse": "._models",
    "LoginLinkResponse": "._models",
    "MCPSession": "._mcp_session",
    "ParamConstraint": "._action_models",
    "RedirectAdvice": "._redirect",
    "RunManyResult": "._results",
    "RunRow": "._results",
    "Session": "._session",
    "TokenInfo": "._models",
    "TokenResponse": "._models",
    "ToolInfo": "._mcp_results",
    "ToolList": "._mcp_results",
    "ToolResult": "._mcp_results",
    "ToolRunResult": "._mcp_results",
    "ToolRunRow": "._mcp_results",
    "get_session": "._default_session",
    "login": "._login_ui",
    "redirect_uri": "._redirect",
}

# Submodules a user may reach as attributes after a plain `import zapier_nb`.
_SUBMODULES = frozenset({"magics", "pytest_plugin", "sandbox", "tutorial", "widgets"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'zapier_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)


def _interactive_login(target: Any, *, wait: bool = False) -> None:
    from ._login_ui import login

    login(target, wait=wait)


def _progress_bar(total: int, *, show: bool | None, description: str) -> Any:
    from ._progress import progress_bar

    return progress_bar(total, show=show, description=description)


# The core reaches the notebook layer through these hand-overs, never by import.
provide_interactive_login(_interactive_login)
provide_progress_bar(_progress_bar)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """The Jupyter server extension: the login callback page under the server's base_url."""
    return [{"module": "zapier_nb._server_extension"}]


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext zapier_nb`: register the magics (widgets load only when shown)."""
    from .magics import load_ipython_extension as load

    load(ipython)


__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "ActionList",
    "ActionLookupError",
    "ActionRequestError",
    "ActionResult",
    "AiAction",
    "AuthenticationError",
    "AuthorizationError",
    "CheckAuthResponse",
    "ConfigurationError",
    "ConsentDeniedError",
    "InvalidCodeError",
    "LoginError",
    "LoginLinkResponse",
    "LoginRequiredError",
    "MCPSession",
    "OAuthError",
    "ParamConstraint",
    "PermissionDeniedError",
    "RateLimitError",
    "RedirectAdvice",
    "ResponseValidationError",
    "RunManyResult",
    "RunRow",
    "ServerError",
    "Session",
    "SessionExpiredError",
    "StateMismatchError",
    "TokenCacheError",
    "TokenInfo",
    "TokenResponse",
    "ToolError",
    "ToolInfo",
    "ToolList",
    "ToolResult",
    "ToolRunResult",
    "ToolRunRow",
    "ZapierError",
    "get_session",
    "login",
    "redirect_uri",
]
