"""Every path the package sends requests to or serves, written once."""

from __future__ import annotations

__all__ = [
    "AUTHORIZE_PATH",
    "CALLBACK_ROUTE",
    "CHECK_PATH",
    "LOGIN_LINK_PATH",
    "LOOPBACK_CALLBACK_PATH",
    "TOKEN_PATH",
]

# The AI Actions API.
AUTHORIZE_PATH = "/oauth/authorize/"
TOKEN_PATH = "/oauth/token/"
CHECK_PATH = "/api/v2/auth/check/"
LOGIN_LINK_PATH = "/api/v2/auth/login-link/"

# Where a login's answer comes back: under a Jupyter server's base_url (the server
# extension's page), and at the root of the kernel's loopback listener.
CALLBACK_ROUTE = "zapier-nb/callback"
LOOPBACK_CALLBACK_PATH = "/" + CALLBACK_ROUTE
