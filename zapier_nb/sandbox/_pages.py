"""HTML pages of the sandbox; every value echoed into them is escaped here."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from html import escape
from urllib.parse import urlencode

from ._models import SCOPE_DESCRIPTIONS, SandboxUser
from ._routes import (
    AI_ACTION_PATH,
    AI_ACTIONS_PATH,
    AUTHORIZE_PATH,
    CALLBACK_PATH,
    CHECK_PATH,
    EXECUTE_PATH,
    LOGIN_LINK_PATH,
    RATE_PATH,
    SWITCH_USER_PATH,
    TOKEN_PATH,
)

_STYLE = """
body { font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto; padding: 0 1rem;
       color: #201515; }
h1 { font-size: 1.4rem; }
.banner { font-size: .8rem; color: #666; border-bottom: 1px solid #ddd; padding-bottom: .5rem; }
.error { color: #b00020; }
button { font-size: 1rem; padding: .4rem 1.2rem; margin-right: .5rem; cursor: pointer; }
button[value=approve], .primary { background: #ff4f00; color: white; border: 0;
                                  border-radius: 4px; }
input[readonly] { width: 100%; box-sizing: border-box; font-family: monospace; font-size: .95rem;
                  line-height: 1.6; padding: .35rem .4rem; }
label { display: block; margin-top: .8rem; }
code { background: #f4f4f4; padding: 0 .2rem; }
.switch { font-size: .9rem; }
.users button { display: block; margin: .4rem 0; text-align: left; }
table.credentials td, table.credentials th { text-align: left; padding: .2rem .6rem .2rem 0;
                                             vertical-align: top; }
table.credentials code { word-break: break-all; }
"""


def _layout(title: str, body: str, *, script: str = "") -> str:
    script_tag = f"<script>{script}</script>" if script else ""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head><body>"
        '<p class="banner">Zapier AI Actions sandbox: a local fake for tests and tutorials.</p>'
        f"{body}{script_tag}</body></html>"
    )


def error_page(title: str, message: str) -> str:
    return _layout(
        title,
        f'<h1>{escape(title)}</h1><p class="error" id="error">{escape(message)}</p>',
    )


def consent_page(
    *,
    app_name: str,
    user_name: str,
    user_email: str,
    scopes: Iterable[str],
    redirect_uri: str,
    transaction: str,
    authorize_path: str,
) -> str:
    """`authorize_path`: this page's own path and query, for coming back as another user."""
    items = "".join(
        f"<li><strong>{escape(SCOPE_DESCRIPTIONS[scope])}</strong> "
        f"<code>{escape(scope)}</code></li>"
        for scope in scopes
    )
    body = (
        f"<h1>Authorize {escape(app_name)}</h1>"
        f'<p>Signed in as <strong id="user-name">{escape(user_name)}</strong> '
        f'(<span id="user-email">{escape(user_email)}</span>). '
        f'<span class="switch">Not you? <a id="switch-user" '
        f'href="{escape(_switch_url(authorize_path))}">Switch user</a></span></p>'
        f"<p><strong>{escape(app_name)}</strong> would like to:</p><ul>{items}</ul>"
        f"<p>You will then be sent back to <code>{escape(redirect_uri)}</code>.</p>"
        # Relative actions keep the pages working behind a proxy's path prefix.
        '<form method="post" action="./">'
        f'<input type="hidden" name="transaction" value="{escape(transaction)}">'
        '<button type="submit" name="decision" value="approve">Approve</button>'
        '<button type="submit" name="decision" value="deny">Deny</button>'
        "</form>"
    )
    return _layout(f"Authorize {app_name}", body)


def sign_up_page(
    *,
    ticket: str,
    first_name: str,
    last_name: str,
    email: str,
    existing: bool,
    error: str | None = None,
) -> str:
    if existing:
        title = "Log in to Zapier"
        intro = (
            f"<p>{escape(email)} already has an account, log in to continue to the "
            "authorization screen.</p>"
        )
        submit = "Log in"
    else:
        title = "Create your Zapier account"
        intro = "<p>One step, then you will see the authorization screen.</p>"
        submit = "Create account"
    warning = f'<p class="error" id="error">{escape(error)}</p>' if error else ""
    body = (
        f"<h1>{escape(title)}</h1>{intro}{warning}"
        '<form method="post" action="./">'
        f'<input type="hidden" name="t" value="{escape(ticket)}">'
        f'<label>First name <input name="first_name" value="{escape(first_name)}"></label>'
        f'<label>Last name <input name="last_name" value="{escape(last_name)}"></label>'
        f'<label>Email <input type="email" name="email" value="{escape(email)}" required>'
        "</label>"
        f'<p><button class="primary" type="submit">{escape(submit)}</button></p>'
        "</form>"
    )
    return _layout(title, body)


_COPY_SCRIPT = """
document.querySelectorAll("button[data-copy]").forEach(function (button) {
  button.addEventListener("click", function () {
    var field = document.getElementById(button.dataset.copy);
    field.select();
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard) {
      navigator.clipboard.writeText(field.value).then(done, function () {
        document.execCommand("copy"); done();
      });
    } else { document.execCommand("copy"); done(); }
  });
});
"""

# The one script of the sandbox's pages, as a Content-Security-Policy source.
SCRIPT_SOURCES = (
    "'sha256-" + base64.b64encode(hashlib.sha256(_COPY_SCRIPT.encode()).digest()).decode() + "'",
)


def callback_page(*, code: str | None, error: str | None, description: str | None, url: str) -> str:
    if error is not None:
        body = (
            "<h1>Authorization failed</h1>"
            f'<p class="error" id="error">{escape(error)}</p>'
            f'<p id="error-description">{escape(description or "")}</p>'
            "<p>Go back to the notebook and start the login again.</p>"
        )
        return _layout("Authorization failed", body)
    if not code:
        return _layout(
            "No code",
            "<h1>No code</h1><p>This page shows the authorization code after you approve "
            "access; this address carries none.</p>",
        )
    body = (
        "<h1>Copy this code</h1>"
        "<p>Paste it into the field in your notebook to finish logging in "
        "(the code alone or the whole address both work).</p>"
        f'<label>Code <input id="code" readonly value="{escape(code)}"></label>'
        '<button type="button" data-copy="code">Copy code</button>'
        f'<label>Full address <input id="url" readonly value="{escape(url)}"></label>'
        '<button type="button" data-copy="url">Copy address</button>'
    )
    return _layout("Copy this code", body, script=_COPY_SCRIPT)


def switch_user_page(*, users: Sequence[SandboxUser], current: int, next_path: str) -> str:
    buttons = "".join(
        f'<button type="submit" name="user" value="{user.user_id}">'
        f"{escape(user.name)} ({escape(user.email)})"
        f"{' &middot; signed in now' if user.user_id == current else ''}</button>"
        for user in users
    )
    body = (
        "<h1>Switch user</h1>"
        "<p>Choose who approves, as if they had signed in to Zapier:</p>"
        '<form class="users" method="post" action="./">'
        f'<input type="hidden" name="next" value="{escape(next_path)}">{buttons}</form>'
        "<p>Someone new? Ask the notebook for a sign-up link (the login widget's "
        "<strong>No Zapier account?</strong>, or <code>%zapier_login_link</code>).</p>"
    )
    return _layout("Switch user", body)


def _switch_url(authorize_path: str) -> str:
    return f"{SWITCH_USER_PATH}?{urlencode({'next': authorize_path})}"


_KEY_HIDDEN = (
    "Shown only to whoever started this sandbox: open the one-time link it printed in its "
    "terminal (or <code>Sandbox.home_link()</code>), or open this page through your Jupyter "
    "server."
)


def index_page(
    base_url: str,
    *,
    api_key: str | None,
    client_id: str,
    redirect_uri: str,
    users: Sequence[SandboxUser],
    mcp_token: str = "",
) -> str:
    endpoints = (
        ("GET", AUTHORIZE_PATH, "consent screen (authorization code + PKCE S256)"),
        ("POST", TOKEN_PATH, "token endpoint: authorization_code and refresh_token grants"),
        ("GET", CHECK_PATH, "who am I, with x-api-key or a Bearer token"),
        ("GET", LOGIN_LINK_PATH, "quick account creation link"),
        ("GET", CALLBACK_PATH, "a redirect URI that shows the code to copy"),
        ("GET, POST", AI_ACTIONS_PATH, "list and create stored AI Actions"),
        ("GET, PUT, DELETE", AI_ACTION_PATH, "get, replace and delete one"),
        ("POST", EXECUTE_PATH, "run one (?preview_only=true: only preview)"),
        ("POST", RATE_PATH, "rate a run"),
    )
    rows = "".join(
        f"<li><code>{method} {escape(path)}</code>: {escape(what)}</li>"
        for method, path, what in endpoints
    )
    credentials: tuple[tuple[str, str | None], ...] = (
        ("Base URL", base_url),
        ("API key", api_key),
        ("OAuth client id", client_id),
        ("Redirect URI", redirect_uri),
    )
    if mcp_token:  # the MCP server (zapier_nb.sandbox._mcp_app) is served too
        # A credential like the key: hidden wherever the key is.
        token = mcp_token if api_key is not None else None
        credentials += (("MCP URL", base_url + "/api/v1/connect"), ("MCP token", token))
    settings = "".join(
        f'<tr><th>{escape(name)}</th><td><code id="{escape(name.lower().replace(" ", "-"))}">'
        f"{escape(value)}</code></td></tr>"
        if value is not None
        else f'<tr><th>{escape(name)}</th><td class="hidden-credential" '
        f'id="{escape(name.lower().replace(" ", "-"))}-hidden">{_KEY_HIDDEN}</td></tr>'
        for name, value in credentials
    )
    people = "".join(f"<li>{escape(user.name)} ({escape(user.email)})</li>" for user in users)
    body = (
        "<h1>Zapier AI Actions sandbox</h1>"
        "<p>A local stand-in for the AI Actions API, for tests and tutorial "
        "notebooks. Its demo credentials (they work here only, and change each time it "
        "starts):</p>"
        f'<table class="credentials">{settings}</table>'
        "<p>In a notebook: paste the API key into <code>%zapier_login</code>'s key field, or "
        "set these as <code>ZAPIER_BASE_URL</code>, <code>ZAPIER_API_KEY</code>, "
        "<code>ZAPIER_CLIENT_ID</code> and <code>ZAPIER_REDIRECT_URI</code>.</p>"
        + (
            "<p>Zapier MCP: <code>zapier_nb.MCPSession(token=..., url=...)</code> with the MCP "
            'token and URL; <a href="sandbox/mcp/">generate and revoke tokens</a>.</p>'
            if mcp_token
            else ""
        )
        + f"<p>Accounts that can approve a login:</p><ul>{people}</ul>"
        f"<p>Endpoints:</p><ul>{rows}</ul>"
    )
    return _layout("Zapier AI Actions sandbox", body)


def login_success_page(user_name: str, user_email: str) -> str:
    body = (
        "<h1>You are logged in</h1>"
        f'<p>Signed in as <strong id="user-name">{escape(user_name)}</strong> '
        f'(<span id="user-email">{escape(user_email)}</span>).</p>'
        "<p>This is where a sign-up link without a consent screen to go on to ends: the "
        "account exists, but no app was authorized. Go back to the notebook.</p>"
    )
    return _layout("Logged in", body)


def actions_page(actions: Iterable[tuple[str, str]]) -> str:
    items = "".join(
        f"<li><code>{escape(action_id)}</code> {escape(description)}</li>"
        for action_id, description in actions
    )
    body = (
        "<h1>Your AI Actions</h1>"
        f"<ul>{items}</ul>"
        "<p>The sandbox has no configuration screens: add actions with "
        "<code>session.create_action(...)</code>, or from Python with "
        "<code>Sandbox.add_action(...)</code>.</p>"
    )
    return _layout("Your AI Actions", body)
