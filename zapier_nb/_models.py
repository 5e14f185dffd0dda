"""The request and response models, loaded at first use.

pydantic's model machinery costs more to import than the rest of the package, and a
session needs it only at its first call: `from . import _models` is free, and
`_models.TokenResponse` (or `from ._models import TokenResponse`) loads `_schema`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import SecretStr

    from ._schema import (
        AuthorizationCodeTokenRequest,
        AuthorizeParams,
        CheckAuthResponse,
        LoginLinkParams,
        LoginLinkResponse,
        OAuthErrorResponse,
        RefreshTokenRequest,
        Token,
        TokenInfo,
        TokenResponse,
        parse_response,
    )

__all__ = [
    "DEFAULT_SCOPE",
    "AuthorizationCodeTokenRequest",
    "AuthorizeParams",
    "CheckAuthResponse",
    "LoginLinkParams",
    "LoginLinkResponse",
    "OAuthErrorResponse",
    "RefreshTokenRequest",
    "SecretStr",
    "Token",
    "TokenInfo",
    "TokenResponse",
    "parse_response",
]

DEFAULT_SCOPE = "openid nla:exposed_actions:execute"


def __getattr__(name: str) -> Any:
    if name == "SecretStr":
        from pydantic import SecretStr

        value: Any = SecretStr
    elif name in __all__:
        value = getattr(importlib.import_module("._schema", __package__), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value
