"""Every path the package sends requests to or serves, written once."""

from __future__ import annotations

__all__ = [
    "ACTIONS_PATH",
    "AUTHORIZE_PATH",
    "CALLBACK_ROUTE",
    "CHECK_PATH",
    "LOGIN_LINK_PATH",
    "LOOPBACK_CALLBACK_PATH",
    "PING_ROUTE",
    "RATE_PATH",
    "SANDBOX_CALLBACK_PATH",
    "SANDBOX_ROUTE",
    "TOKEN_PATH",
]

# The AI Actions API.
AUTHORIZE_PATH = "/oauth/authorize/"
TOKEN_PATH = "/oauth/token/"
CHECK_PATH = "/api/v2/auth/check/"
LOGIN_LINK_PATH = "/api/v2/auth/login-link/"
ACTIONS_PATH = "/api/v2/ai-actions/"
RATE_PATH = "/api/v2/execute/log/{execution_log_id}/rate/"

# The server extension's routes, under a Jupyter server's base_url: the page a login's
# answer comes back to (the kernel's loopback listener serves it at its root), the
# widget's ping, and the sandbox's pages as the browser reaches them (`ping` is also
# written in `_static/login_button.js`).
CALLBACK_ROUTE = "zapier-nb/callback"
PING_ROUTE = "zapier-nb/ping"
SANDBOX_ROUTE = "zapier-nb/sandbox"
LOOPBACK_CALLBACK_PATH = "/" + CALLBACK_ROUTE

# The bundled sandbox's own redirect URI path, served through the extension too.
SANDBOX_CALLBACK_PATH = "/sandbox/callback/"
