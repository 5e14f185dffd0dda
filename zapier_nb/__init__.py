"""Zapier AI Actions authentication for Jupyter notebooks.

`Session` holds an API key or OAuth PKCE tokens and refreshes them; the sandbox
(`zapier_nb.sandbox`) serves the API locally for tutorials and tests.
"""

from __future__ import annotations

from typing import Any

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
from ._models import CheckAuthResponse, LoginLinkResponse, TokenInfo, TokenResponse
from ._session import Session, get_session

__version__ = "0.1.0"


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
    "ResponseValidationError",
    "ServerError",
    "Session",
    "SessionExpiredError",
    "StateMismatchError",
    "TokenInfo",
    "TokenResponse",
    "ZapierError",
    "get_session",
]
