"""The sandbox's MCP pages: connection tokens (generate, revoke), and an MCP login's consent.

Forms post to the page's own path. Every value echoed is escaped.
"""

from __future__ import annotations

from html import escape
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from ._mcp_auth import SandboxMCPProvider
from ._mcp_routes import MCP_CONSENT_PATH, MCP_PATH, MCP_TOKENS_PAGE_PATH
from ._models import SandboxUser
from ._owner import from_owner
from ._pages import _layout, error_page
from ._routes import USER_COOKIE
from ._state import SandboxState

__all__ = ["mcp_page_routes"]

_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY"}


async def _form(request: Request) -> dict[str, str]:
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    try:
        return dict(parse_qsl((await request.body()).decode("utf-8")))
    except (UnicodeDecodeError, ValueError):
        return {}


def _tokens_page(state: SandboxState, note: str = "") -> str:
    rows = "".join(
        "<tr>"
        f"<td>{escape(token.label)}</td>"
        f'<td><code class="mcp-token">{escape(token.token)}</code></td>'
        f"<td>{'revoked' if token.revoked else 'active'}</td><td>"
        + (
            ""
            if token.revoked
            else '<form method="post" action="./">'
            f'<input type="hidden" name="revoke" value="{escape(token.token)}">'
            "<button type=submit>Revoke</button></form>"
        )
        + "</td></tr>"
        for token in state.mcp.connection_tokens()
    )
    body = (
        "<h1>Zapier MCP sandbox: connection tokens</h1>"
        f"<p>Server URL: <code id=mcp-url>{escape(state.base_url + MCP_PATH)}</code>. Send a "
        "token as <code>Authorization: Bearer &lt;token&gt;</code>, or in a notebook: "
        "<code>zapier_nb.MCPSession(token=..., url=...)</code>.</p>"
        + (f'<p id="note">{escape(note)}</p>' if note else "")
        + f'<table class="credentials">{rows}</table>'
        '<form method="post" action="./"><input type="hidden" name="generate" value="1">'
        '<button type="submit" class="primary">Generate token</button></form>'
    )
    return _layout("Zapier MCP sandbox", body)


def _consent_page(app_name: str, user: str, redirect_uri: str, transaction: str) -> str:
    body = (
        f"<h1>Connect {escape(app_name)} to Zapier MCP</h1>"
        f'<p>Signed in as <strong id="user-name">{escape(user)}</strong>.</p>'
        f"<p><strong>{escape(app_name)}</strong> would like to run your Zapier MCP tools "
        "(the sandbox's demo actions) for you.</p>"
        f"<p>You will then be sent back to <code>{escape(redirect_uri)}</code>.</p>"
        '<form method="post" action="./">'
        f'<input type="hidden" name="transaction" value="{escape(transaction)}">'
        '<button type="submit" name="decision" value="approve">Approve</button>'
        '<button type="submit" name="decision" value="deny">Deny</button>'
        "</form>"
    )
    return _layout(f"Connect {app_name}", body)


class _Pages:
    def __init__(self, state: SandboxState) -> None:
        self.state = state
        self.provider = SandboxMCPProvider(state)

    async def tokens(self, request: Request) -> Response:
        if not from_owner(request, self.state):
            page = error_page(
                "Only for whoever started this sandbox",
                "Connection tokens are credentials. Open this page through your Jupyter "
                "server, or first open the one-time link the sandbox printed in its terminal "
                "(or Sandbox.home_link()).",
            )
            return HTMLResponse(page, status_code=403, headers=_HEADERS)
        note = ""
        if request.method == "POST":
            form = await _form(request)
            if form.get("generate"):
                self.state.mcp.new_connection_token()
                note = "A new token was generated."
            elif form.get("revoke"):
                revoked = self.state.mcp.revoke_connection_token(form["revoke"])
                note = "The token was revoked." if revoked else "No active token matched."
        return HTMLResponse(_tokens_page(self.state, note), headers=_HEADERS)

    def _signed_in(self, request: Request) -> SandboxUser:
        """The user the signed consent cookie names, else the first."""
        user = self.state.user_from_cookie(request.cookies.get(USER_COOKIE, ""))
        return user or self.state.first_user()

    def _user(self, request: Request) -> str:
        user = self._signed_in(request)
        return f"{user.name} ({user.email})"

    def _user_id(self, request: Request) -> int:
        return self._signed_in(request).user_id

    async def consent(self, request: Request) -> Response:
        if request.method == "GET":
            transaction = request.query_params.get("tx", "")
            try:
                client, params = self.provider.pending(transaction)
            except LookupError:
                return _unknown()
            name = client.client_name or str(client.client_id)
            page = _consent_page(name, self._user(request), str(params.redirect_uri), transaction)
            return HTMLResponse(page, headers=_HEADERS)
        self.state.count("mcp_oauth:consent")
        form = await _form(request)
        decision = form.get("decision")
        if decision not in ("approve", "deny"):
            return HTMLResponse(
                error_page("Invalid decision", "Choose Approve or Deny."), status_code=400
            )
        try:
            location = self.provider.answer(
                form.get("transaction", ""),
                approve=decision == "approve",
                user_id=self._user_id(request),
            )
        except LookupError:
            return _unknown()
        return Response(
            status_code=302, headers={"Location": location, "Cache-Control": "no-store"}
        )


def _unknown() -> Response:
    page = error_page(
        "Unknown authorization request",
        "This MCP login is unknown or was already answered. Start the login again.",
    )
    return HTMLResponse(page, status_code=400, headers=_HEADERS)


def mcp_page_routes(state: SandboxState) -> list[Route]:
    pages = _Pages(state)
    return [
        Route(MCP_TOKENS_PAGE_PATH, pages.tokens, methods=["GET", "POST"]),
        Route(MCP_CONSENT_PATH, pages.consent, methods=["GET", "POST"]),
    ]
