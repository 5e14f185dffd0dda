"""Zapier AI Actions authentication for Jupyter notebooks.

`Session` holds an API key or OAuth PKCE tokens and refreshes them; the sandbox
(`zapier_nb.sandbox`) serves the API locally for tutorials and tests.

Only the error classes load with the package; `Session` and the models (and with
them httpx2 and pydantic) load on first use, so `import zapier_nb` and
`%load_ext zapier_nb` stay quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import (
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
    ZapierError,
)

if TYPE_CHECKING:
    from ._models import CheckAuthResponse, LoginLinkResponse, TokenInfo, TokenResponse
    from ._redirect import RedirectAdvice, redirect_uri
    from ._session import Session, get_session

__version__ = "0.1.0"

_LAZY = {
    "CheckAuthResponse": "._models",
    "LoginLinkResponse": "._models",
    "RedirectAdvice": "._redirect",
    "Session": "._session",
    "TokenInfo": "._models",
    "TokenResponse": "._models",
    "get_session": "._session",
    "redirect_uri": "._redirect",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'zapier_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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
    "AuthenticationError",
    "AuthorizationError",
    "CheckAuthResponse",
    "ConfigurationError",
    "ConsentDeniedError",
    "InvalidCodeError",
    "LoginError",
    "LoginLinkResponse",
    "LoginRequiredError",
    "OAuthError",
    "PermissionDeniedError",
    "RateLimitError",
    "RedirectAdvice",
    "ResponseValidationError",
    "ServerError",
    "Session",
    "SessionExpiredError",
    "StateMismatchError",
    "TokenInfo",
    "TokenResponse",
    "ZapierError",
    "get_session",
    "redirect_uri",
]
