"""The paths of the sandbox's MCP server, named once."""

from __future__ import annotations

MCP_PATH = "/api/v1/connect"
# What the SDK serves for the MCP authorization flow (RFC 9728, RFC 8414, RFC 7591).
PROTECTED_RESOURCE_PATH = "/.well-known/oauth-protected-resource" + MCP_PATH
AUTHORIZATION_SERVER_PATH = "/.well-known/oauth-authorization-server"
MCP_AUTHORIZE_PATH = "/authorize"
MCP_TOKEN_PATH = "/token"
MCP_REGISTER_PATH = "/register"
MCP_REVOKE_PATH = "/revoke"
MCP_AUTH_PATHS = (
    PROTECTED_RESOURCE_PATH,
    AUTHORIZATION_SERVER_PATH,
    MCP_AUTHORIZE_PATH,
    MCP_TOKEN_PATH,
    MCP_REGISTER_PATH,
    MCP_REVOKE_PATH,
)
# The sandbox's own pages: connection tokens, and the consent screen of an MCP login.
MCP_TOKENS_PAGE_PATH = "/sandbox/mcp/"
MCP_CONSENT_PATH = "/sandbox/mcp/consent/"
