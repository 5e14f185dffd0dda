"""Who may use the sandbox's MCP server: connection tokens, and OAuth as MCP specifies it.

The SDK serves the routes (protected resource and authorization server metadata, dynamic
client registration, authorize, token, revoke) and checks PKCE S256, the redirect URI and
the `resource`; this provider keeps the clients, codes and tokens, and sends the person to
the sandbox's own consent page (`_mcp_pages`). Access tokens live `MCPState.access_ttl`
seconds; refresh tokens rotate, and presenting a used one again is refused.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    OAuthAuthorizationServerProvider,
    RefreshToken,
    TokenError,
    construct_redirect_uri,
)
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from ._mcp_routes import MCP_CONSENT_PATH, MCP_PATH
from ._mcp_state import _Issued, _OAuthGrant, new_token
from ._state import SandboxState

__all__ = ["CONNECTION_CLIENT", "MCP_SCOPE", "SandboxMCPProvider", "auth_settings", "provider_for"]

MCP_SCOPE = "mcp"
CONNECTION_CLIENT = "connection-token"
CODE_TTL = 600.0


def auth_settings(state: SandboxState) -> AuthSettings:
    return AuthSettings(
        issuer_url=state.base_url,  # type: ignore[arg-type]
        resource_server_url=state.base_url + MCP_PATH,  # type: ignore[arg-type]
        validate_token_resource=True,
        client_registration_options=ClientRegistrationOptions(
            enabled=True, valid_scopes=[MCP_SCOPE], default_scopes=[MCP_SCOPE]
        ),
        revocation_options=RevocationOptions(enabled=True),
        required_scopes=[MCP_SCOPE],
    )


def provider_for(state: SandboxState) -> SandboxMCPProvider:
    return SandboxMCPProvider(state)


class SandboxMCPProvider(
    OAuthAuthorizationServerProvider[AuthorizationCode, RefreshToken, AccessToken]
):
    """The SDK's `OAuthAuthorizationServerProvider`, over `MCPState`'s tables."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state
        self._mcp = state.mcp

    @property
    def _resource(self) -> str:
        return self._state.base_url + MCP_PATH

    # -- clients ----------------------------------------------------------------------------

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        with self._mcp.lock:
            client: OAuthClientInformationFull | None = self._mcp.oauth.clients.get(client_id)
            return client

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        self._state.count("mcp_oauth:register")
        if client_info.client_secret:
            self._mcp.remember(client_info.client_secret)
        with self._mcp.lock:
            self._mcp.oauth.clients[str(client_info.client_id)] = client_info

    # -- consent ----------------------------------------------------------------------------

    async def authorize(
        self, client: OAuthClientInformationFull, params: AuthorizationParams
    ) -> str:
        self._state.count("mcp_oauth:authorize")
        transaction = new_token("tx_")
        with self._mcp.lock:
            self._mcp.oauth.pending[transaction] = (client, params)
        return f"{self._state.base_url}{MCP_CONSENT_PATH}?{urlencode({'tx': transaction})}"

    def pending(self, transaction: str) -> tuple[OAuthClientInformationFull, AuthorizationParams]:
        with self._mcp.lock:
            found: Any = self._mcp.oauth.pending.get(transaction)
        if found is None:
            raise LookupError(transaction)
        return found  # type: ignore[no-any-return]

    def answer(self, transaction: str, *, approve: bool, user_id: int) -> str:
        """The consent page's answer: where to send the person (a code, or access_denied)."""
        with self._mcp.lock:
            found: Any = self._mcp.oauth.pending.pop(transaction, None)
        if found is None:
            raise LookupError(transaction)
        client, params = found
        redirect = str(params.redirect_uri)
        if not approve:
            return construct_redirect_uri(
                redirect,
                error="access_denied",
                error_description="The user denied access",
                state=params.state,
            )
        code = new_token("sbx_mcp_code_")
        self._mcp.remember(code)
        stored = AuthorizationCode(
            code=code,
            scopes=params.scopes or [MCP_SCOPE],
            expires_at=time.time() + CODE_TTL,
            client_id=str(client.client_id),
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
            subject=str(user_id),
        )
        with self._mcp.lock:
            self._mcp.oauth.codes[code] = (stored, user_id)
        return construct_redirect_uri(redirect, code=code, state=params.state)

    # -- codes and tokens -------------------------------------------------------------------

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        with self._mcp.lock:
            found = self._mcp.oauth.codes.get(authorization_code)
        if found is None or found[0].client_id != client.client_id:
            return None
        code: AuthorizationCode = found[0]
        return code

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        self._state.count("mcp_oauth:token:authorization_code")
        with self._mcp.lock:
            found = self._mcp.oauth.codes.pop(authorization_code.code, None)
        if found is None:
            raise TokenError("invalid_grant", "The code was already used.")
        grant = self._mcp.add_grant(
            _OAuthGrant(
                str(client.client_id),
                found[1],
                list(authorization_code.scopes),
                authorization_code.resource,
            )
        )
        return self._issue(grant)

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> RefreshToken | None:
        with self._mcp.lock:
            issued = self._mcp.oauth.refresh.get(refresh_token)
            if issued is None:
                return None
            grant = self._mcp.oauth.grants[issued.grant]
        if grant.client_id != client.client_id:
            return None
        return RefreshToken(
            token=refresh_token,
            client_id=grant.client_id,
            scopes=grant.scopes,
            resource=grant.resource,
            subject=str(grant.user_id),
        )

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        self._state.count("mcp_oauth:token:refresh_token")
        with self._mcp.lock:
            issued = self._mcp.oauth.refresh.get(refresh_token.token)
            grant = None if issued is None else self._mcp.oauth.grants[issued.grant]
            if issued is None or grant is None or issued.used or grant.revoked:
                self._state.count("mcp_oauth:token_error:invalid_grant")
                raise TokenError("invalid_grant", "The refresh token was used or revoked.")
            issued.used = True
            number = issued.grant
        return self._issue(number)

    def _issue(self, grant: int) -> OAuthToken:
        access, refresh = new_token("sbx_mcp_at_"), new_token("sbx_mcp_rt_")
        self._mcp.remember(access)
        self._mcp.remember(refresh)
        ttl = self._mcp.access_ttl
        with self._mcp.lock:
            self._mcp.oauth.access[access] = _Issued(grant, time.time() + ttl)
            self._mcp.oauth.refresh[refresh] = _Issued(grant, None)
            scopes = self._mcp.oauth.grants[grant].scopes
        return OAuthToken(
            access_token=access,
            token_type="Bearer",  # noqa: S106
            expires_in=int(ttl),
            refresh_token=refresh,
            scope=" ".join(scopes),
        )

    async def load_access_token(self, token: str) -> AccessToken | None:
        if self._mcp.connection_token_valid(token):
            return AccessToken(
                token=token,
                client_id=CONNECTION_CLIENT,
                scopes=[MCP_SCOPE],
                resource=self._resource,
            )
        with self._mcp.lock:
            issued = self._mcp.oauth.access.get(token)
            grant = None if issued is None else self._mcp.oauth.grants[issued.grant]
        if issued is None or grant is None or grant.revoked:
            return None
        if issued.expires_at is not None and issued.expires_at <= time.time():
            return None
        return AccessToken(
            token=token,
            client_id=grant.client_id,
            scopes=grant.scopes,
            expires_at=None if issued.expires_at is None else int(issued.expires_at),
            resource=grant.resource,
            subject=str(grant.user_id),
        )

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        with self._mcp.lock:
            issued = self._mcp.oauth.access.get(token.token) or self._mcp.oauth.refresh.get(
                token.token
            )
            if issued is not None:
                self._mcp.oauth.grants[issued.grant].revoked = True
