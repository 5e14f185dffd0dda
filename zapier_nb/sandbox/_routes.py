"""The sandbox's paths, named once: the API's own, and the sandbox's pages."""

from __future__ import annotations

from ._mcp_routes import MCP_AUTHORIZE_PATH, MCP_CONSENT_PATH, MCP_TOKENS_PAGE_PATH

AUTHORIZE_PATH = "/oauth/authorize/"
TOKEN_PATH = "/oauth/token/"
CHECK_PATH = "/api/v2/auth/check/"
LOGIN_LINK_PATH = "/api/v2/auth/login-link/"
SIGN_UP_PATH = "/sandbox/sign-up/"
CALLBACK_PATH = "/sandbox/callback/"
LOGIN_SUCCESS_PATH = "/config/login-success/"
AI_ACTIONS_PATH = "/api/v2/ai-actions/"
AI_ACTION_PATH = "/api/v2/ai-actions/{ai_action_id}/"
EXECUTE_PATH = "/api/v2/ai-actions/{ai_action_id}/execute/"
PREVIEW_PATH = "/api/v2/ai-actions/{ai_action_id}/preview/"
RATE_PATH = "/api/v2/execute/log/{execution_log_id}/rate/"
ACTIONS_PAGE_PATH = "/sandbox/actions/"
SWITCH_USER_PATH = "/sandbox/switch-user/"
PROOF_PATH = "/sandbox/proof/"

# The pages a person's browser visits (what a proxy in front of the sandbox may forward),
# and the cookie by which the sandbox's browser pages tell its users apart.
BROWSER_PATHS = (
    "/",
    AUTHORIZE_PATH,
    SIGN_UP_PATH,
    CALLBACK_PATH,
    LOGIN_SUCCESS_PATH,
    ACTIONS_PAGE_PATH,
    SWITCH_USER_PATH,
    MCP_TOKENS_PAGE_PATH,
    MCP_AUTHORIZE_PATH,
    MCP_CONSENT_PATH,
)
USER_COOKIE = "sandbox_user"
# Set by the one-time home page link: this browser is the owner's.
OWNER_COOKIE = "sandbox_owner"
