"""Where the MCP SDK is loaded: on first use, with a one-line error naming the extra."""

from __future__ import annotations

import importlib.util

from ._errors import ZapierError

__all__ = ["MISSING_SDK", "require_sdk"]

MISSING_SDK = (
    "Zapier MCP needs the MCP Python SDK, which is not installed here. Install it with "
    "pip install 'zapier_nb[mcp]', restart the kernel, and try again."
)


def require_sdk() -> None:
    """Raise the one-line error when the SDK cannot be imported (it is not imported here)."""
    try:
        found = importlib.util.find_spec("mcp") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ZapierError(MISSING_SDK)
