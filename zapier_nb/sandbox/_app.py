"""Starlette routes speaking the AI Actions authentication wire format."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from . import _pages
from ._actions_app import action_routes
from ._credentials import authenticate
from ._fault_middleware import ActFirstFaults
from ._faults import ACTION_FAULT_ROUTES, Fault, defer
from ._guard import RequestGuard
from ._models import SCOPE_DESCRIPTIONS, AuthRequest, SandboxUser, TokenRequestError
from ._owner import from_owner
from ._pkce import is_pkce_value
from ._proof_middleware import ProofMiddleware
from ._routes import (
    ACTIONS_PAGE_PATH,
    AUTHORIZE_PATH,
    CALLBACK_PATH,
    CHECK_PATH,
    LOGIN_LINK_PATH,
    LOGIN_SUCCESS_PATH,
    OWNER_COOKIE,
    SIGN_UP_PATH,
    SWITCH_USER_PATH,
    TOKEN_PATH,
    USER_COOKIE,
)
from ._state import IssuedTokens, SandboxState, SignUpRequest

TRANSPORT_STATE_KEY = "zapier_nb.sandbox.transport"

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_PAGE_HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY"}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_GRANTS = ("authorization_code", "refresh_token")
_TOKEN_FIELDS = (
    "client_id",
    "code",
    "code_verifier",
    "grant_type",
    "redirect_uri",
    "refresh_token",
    "scope",
)

Endpoint = Callable[[Request], Awaitable[Response]]


class DropConnection(Response):
    """Closes the TCP connection without sending any HTTP answer."""

    def __init__(self) -> None:
        super().__init__(status_code=500)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = scope.get("state", {}).get(TRANSPORT_STATE_KEY)
        if transport is None:
            raise RuntimeError("dropping a connection needs the Sandbox's own server")
        transport.abort()
        while (await receive())["type"] != "http.disconnect":
            pass


def create_app(state: SandboxState) -> Starlette:
    routes = _Routes(state)
    table: list[tuple[str, Endpoint, list[str]]] = [
        (AUTHORIZE_PATH, routes.authorize, ["GET"]),
        (AUTHORIZE_PATH, routes.consent, ["POST"]),
        (TOKEN_PATH, routes.token, ["POST"]),
        (CHECK_PATH, routes.check, ["GET"]),
        (LOGIN_LINK_PATH, routes.login_link, ["GET"]),
        (SIGN_UP_PATH, routes.sign_up_page, ["GET"]),
        (SIGN_UP_PATH, routes.sign_up, ["POST"]),
        (CALLBACK_PATH, routes.callback, ["GET"]),
        (LOGIN_SUCCESS_PATH, routes.login_success, ["GET"]),
        (ACTIONS_PAGE_PATH, routes.actions_page, ["GET"]),
        (SWITCH_USER_PATH, routes.switch_user_page, ["GET"]),
        (SWITCH_USER_PATH, routes.switch_user, ["POST"]),
    ]
    app_routes = [Route("/", routes.index, methods=["GET"])]
    app_routes += [Route(path, endpoint, methods=methods) for path, endpoint, methods in table]
    for path in dict.fromkeys(path for path, _, _ in table):
        app_routes.append(Route(path.rstrip("/"), _append_slash(path)))
    app_routes += action_routes(state, routes._fault)
    app_routes += _mcp_routes(state, routes._fault)
    act_first = Middleware(
        ActFirstFaults,
        respond=_fault_response,
        drop=DropConnection,
        generation=lambda: state.generation,
    )
    return Starlette(
        routes=app_routes,
        exception_handlers={HTTPException: _http_error},
        # The guard first: an unknown Host or an oversized body reaches nothing else.
        middleware=[
            Middleware(RequestGuard, state=state),
            Middleware(ProofMiddleware, state=state),
            act_first,
        ],
    )


def _mcp_routes(
    state: SandboxState, take_fault: Callable[[str], Awaitable[Response | None]]
) -> list[Any]:
    """The MCP server and its pages (`_mcp_app`), when the MCP SDK (extra `mcp`) is installed."""
    try:
        from ._mcp_app import mcp_routes
    except ImportError:
        return []
    return mcp_routes(state, take_fault)


def _append_slash(path: str) -> Endpoint:
    async def redirect(request: Request) -> Response:
        query = request.scope.get("query_string", b"").decode("latin-1")
        location = f"{path}?{query}" if query else path
        return Response(status_code=301, headers={"Location": location})

    return redirect


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    detail = {404: "Not found.", 405: f'Method "{request.method}" not allowed.'}.get(
        exc.status_code, exc.detail
    )
    return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=exc.headers)


class _Routes:
    def __init__(self, state: SandboxState) -> None:
        self.state = state

    async def index(self, request: Request) -> Response:
        state = self.state
        once = request.query_params.get("once", "")
        if once:
            if not state.take_home_link(once):
                return _error_page(
                    "Link already used",
                    "This one-time link was used already. Print a new one with "
                    "Sandbox.home_link(), or open the home page through your Jupyter server.",
                )
            response = Response(status_code=303, headers={"Location": "./", **_NO_STORE})
            response.set_cookie(
                OWNER_COOKIE, state.owner_cookie(), httponly=True, samesite="strict"
            )
            return response
        page = _pages.index_page(
            state.base_url,
            api_key=(state.first_user().api_key or "") if self._from_owner(request) else None,
            client_id=state.clients()[0].client_id,
            redirect_uri=state.callback_uri,
            users=state.users(),
            mcp_token=state.mcp.home_token(),
        )
        return HTMLResponse(page, headers=_PAGE_HEADERS)

    async def authorize(self, request: Request) -> Response:
        self.state.count("authorize")
        faulted = await self._fault("authorize")
        if faulted is not None:
            return faulted
        query = request.query_params
        client_id = query.get("client_id", "")
        if not client_id:
            return _error_page("Missing client_id", "The request has no client_id parameter.")
        client = self.state.client(client_id)
        if client is None:
            return _error_page("Unknown application", "No application has this client_id.")
        redirect_uri = query.get("redirect_uri", "")
        if not redirect_uri:
            return _error_page("Missing redirect_uri", "The request has no redirect_uri parameter.")
        if not self.state.redirect_uri_allowed(client, redirect_uri):
            return _error_page(
                "Invalid redirect_uri", "The redirect_uri is not registered for this application."
            )
        oauth_state = query.get("state") or None

        def refuse(error: str, description: str) -> Response:
            params = {"error": error, "error_description": description}
            return _redirect(redirect_uri, params, oauth_state)

        response_type = query.get("response_type", "")
        if not response_type:
            return refuse("invalid_request", "Missing response_type parameter.")
        if response_type != "code":
            return refuse("unsupported_response_type", "Only response_type=code is supported.")
        challenge = query.get("code_challenge", "")
        if not challenge:
            return refuse("invalid_request", "Missing code_challenge parameter (PKCE is required).")
        if not is_pkce_value(challenge):
            return refuse(
                "invalid_request",
                "code_challenge must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~.",
            )
        if query.get("code_challenge_method") != "S256":
            return refuse("invalid_request", "code_challenge_method must be S256.")
        scopes = list(dict.fromkeys(query.get("scope", "").split()))
        if not scopes or not set(scopes) <= set(SCOPE_DESCRIPTIONS):
            return refuse(
                "invalid_scope",
                "scope must be one or more of: " + " ".join(sorted(SCOPE_DESCRIPTIONS)) + ".",
            )
        user = self._acting_user(request)
        request_record = AuthRequest(
            client_id=client.client_id,
            redirect_uri=redirect_uri,
            scope=" ".join(scopes),
            state=oauth_state,
            code_challenge=challenge,
            user_id=user.user_id,
        )
        if self.state.consent_remembered(request_record):
            code = self.state.issue_code(request_record)
            return _redirect(redirect_uri, {"code": code}, oauth_state)
        page = _pages.consent_page(
            app_name=client.name,
            user_name=user.name,
            user_email=user.email,
            scopes=scopes,
            redirect_uri=redirect_uri,
            transaction=self.state.begin_transaction(request_record),
            authorize_path=f"{request.url.path}?{request.url.query}",
        )
        return HTMLResponse(page, headers=_PAGE_HEADERS)

    async def consent(self, request: Request) -> Response:
        self.state.count("consent")
        form = await _form(request) or {}
        decision = _single(form, "decision")
        if decision not in ("approve", "deny"):
            return _error_page("Invalid decision", "Choose Approve or Deny.")
        transaction = _single(form, "transaction")
        auth = self.state.take_transaction(transaction) if transaction else None
        if auth is None:
            return _error_page(
                "Unknown authorization request",
                "This authorization request is unknown or was already answered. "
                "Start the login again.",
            )
        if decision == "deny":
            params = {"error": "access_denied", "error_description": "The user denied access"}
        else:
            self.state.record_consent(auth)
            params = {"code": self.state.issue_code(auth)}
        return _redirect(auth.redirect_uri, params, auth.state)

    async def token(self, request: Request) -> Response:
        self.state.count("token")
        form = await _form(request)
        if form is not None:
            grant_type = _single(form, "grant_type")
            if grant_type in _GRANTS:
                self.state.count(f"token:{grant_type}")
            for verifier in form.get("code_verifier", []):
                if is_pkce_value(verifier):
                    self.state.remember_secret(verifier)
        faulted = await self._fault("token")
        if faulted is not None:
            return faulted
        try:
            if form is None:
                raise TokenRequestError(
                    "invalid_request",
                    "The request body must be application/x-www-form-urlencoded.",
                )
            issued = self._grant(form)
        except TokenRequestError as exc:
            self.state.count(f"token_error:{exc.error}")
            return _oauth_error(exc)
        return JSONResponse(_token_body(issued), headers=_NO_STORE)

    async def check(self, request: Request) -> Response:
        self.state.count("check")
        faulted = await self._fault("check")
        if faulted is not None:
            return faulted
        user = authenticate(self.state, request)
        return user if isinstance(user, Response) else _whoami(user)
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return _detail(
                401,
                "Authentication credentials were not provided.",
                {"WWW-Authenticate": 'Bearer realm="api"'},
            )
        token = credentials.strip()
        user, reason = self.state.bearer_user(token) if token else (None, "Invalid token.")
        if user is None:
            challenge = f'Bearer realm="api", error="invalid_token", error_description="{reason}"'
            return _detail(401, reason, {"WWW-Authenticate": challenge})
        return _whoami(user)

    async def login_link(self, request: Request) -> Response:
        self.state.count("login_link")
        faulted = await self._fault("login_link")
        if faulted is not None:
            return faulted
        query = request.query_params
        # The spec names it redirect_to; the how-to's example says redirect_uri. Both work.
        spellings = {query.get(name, "") for name in ("redirect_uri", "redirect_to")} - {""}
        if len(spellings) > 1:
            return _detail(400, "redirect_uri and redirect_to differ; send one, or the same.")
        landing = self.state.base_url + LOGIN_SUCCESS_PATH
        authorize_url = spellings.pop() if spellings else landing
        if authorize_url != landing and not self._is_own_authorize_url(authorize_url):
            return _detail(
                400,
                f"redirect_uri must be an {AUTHORIZE_PATH} URL of this server with a known "
                "client_id (redirect_to too: they mean the same).",
            )
        email = query.get("sign_up_email", "").strip()
        if not email:
            return _detail(400, "sign_up_email is required.")
        if not _EMAIL.fullmatch(email):
            return _detail(400, "sign_up_email is not a valid email address.")
        ticket = self.state.add_signup(
            SignUpRequest(
                authorize_url=authorize_url,
                first_name=query.get("sign_up_first_name", "").strip(),
                last_name=query.get("sign_up_last_name", "").strip(),
                email=email,
            )
        )
        link = f"{self.state.base_url}{SIGN_UP_PATH}?{urlencode({'t': ticket})}"
        return JSONResponse({"login_link": link})

    async def sign_up_page(self, request: Request) -> Response:
        self.state.count("sign_up_page")
        ticket = request.query_params.get("t", "")
        signup = self.state.signup(ticket) if ticket else None
        if signup is None:
            return _error_page("Invalid link", "This sign-up link is invalid or has expired.")
        page = _pages.sign_up_page(
            ticket=ticket,
            first_name=signup.first_name,
            last_name=signup.last_name,
            email=signup.email,
            existing=self.state.user_by_email(signup.email) is not None,
        )
        return HTMLResponse(page, headers=_PAGE_HEADERS)

    async def sign_up(self, request: Request) -> Response:
        self.state.count("sign_up")
        form = await _form(request) or {}
        ticket = _single(form, "t")
        signup = self.state.signup(ticket) if ticket else None
        if signup is None:
            return _error_page("Invalid link", "This sign-up link is invalid or has expired.")
        email = (_single(form, "email") or signup.email).strip()
        if not _EMAIL.fullmatch(email):
            page = _pages.sign_up_page(
                ticket=ticket or "",
                first_name=_single(form, "first_name") or "",
                last_name=_single(form, "last_name") or "",
                email=email,
                existing=False,
                error="Enter the person's email address, like grace@example.org.",
            )
            return HTMLResponse(page, status_code=400, headers=_PAGE_HEADERS)
        first = (_single(form, "first_name") or signup.first_name).strip()
        last = (_single(form, "last_name") or signup.last_name).strip()
        user, _created = self.state.sign_up(email, f"{first} {last}".strip() or email.split("@")[0])
        response = Response(status_code=303, headers={"Location": signup.authorize_url})
        self._sign_in(response, user)
        return response

    async def callback(self, request: Request) -> Response:
        self.state.count("callback")
        query = request.query_params
        page = _pages.callback_page(
            code=query.get("code"),
            error=query.get("error"),
            description=query.get("error_description"),
            url=str(request.url),
        )
        headers = {**_PAGE_HEADERS, "Referrer-Policy": "no-referrer"}
        return HTMLResponse(page, headers=headers)

    async def login_success(self, request: Request) -> Response:
        self.state.count("login_success")
        user = self._acting_user(request)
        return HTMLResponse(_pages.login_success_page(user.name, user.email), headers=_PAGE_HEADERS)

    async def actions_page(self, request: Request) -> Response:
        user = self._acting_user(request)
        actions = [(a.id, a.description) for a in self.state.actions.owned(user.user_id)]
        return HTMLResponse(_pages.actions_page(actions), headers=_PAGE_HEADERS)

    async def switch_user_page(self, request: Request) -> Response:
        next_path = request.query_params.get("next", "")
        if not next_path.startswith(AUTHORIZE_PATH):
            return _error_page("Nothing to go back to", "Open this page from a consent screen.")
        page = _pages.switch_user_page(
            users=self.state.users(),
            current=self._acting_user(request).user_id,
            next_path=next_path,
        )
        return HTMLResponse(page, headers=_PAGE_HEADERS)

    async def switch_user(self, request: Request) -> Response:
        form = await _form(request) or {}
        next_path, chosen = _single(form, "next") or "", _single(form, "user") or ""
        user = self.state.user(int(chosen)) if chosen.isdigit() else None
        if user is None or not next_path.startswith(AUTHORIZE_PATH):
            return _error_page("Unknown user", "Go back to the consent screen and choose again.")
        response = Response(status_code=303, headers={"Location": next_path})
        self._sign_in(response, user)
        return response

    def _sign_in(self, response: Response, user: SandboxUser) -> None:
        cookie = self.state.user_cookie(user.user_id)
        response.set_cookie(USER_COOKIE, cookie, httponly=True, samesite="lax")

    def _from_owner(self, request: Request) -> bool:
        return from_owner(request, self.state)

    def _grant(self, form: dict[str, list[str]]) -> IssuedTokens:
        def field(name: str) -> str:
            value = _single(form, name)
            if not value:
                raise TokenRequestError("invalid_request", f"Missing {name} parameter.")
            return value

        for name in _TOKEN_FIELDS:
            if len(form.get(name, [])) > 1:
                raise TokenRequestError("invalid_request", f"The {name} parameter is repeated.")
        grant_type = field("grant_type")
        if grant_type not in _GRANTS:
            raise TokenRequestError(
                "unsupported_grant_type",
                "Only the authorization_code and refresh_token grants are supported.",
            )
        client = self.state.client(field("client_id"))
        if client is None:
            raise TokenRequestError("invalid_client", "Unknown client_id.", status=401)
        if not client.public:
            raise TokenRequestError(
                "unauthorized_client",
                'This client is not a public client; check "Public Client" in its settings.',
            )
        if grant_type == "refresh_token":
            refresh_token = field("refresh_token")
            return self.state.refresh(client.client_id, refresh_token, _single(form, "scope"))
        code = field("code")
        redirect_uri = field("redirect_uri")
        verifier = field("code_verifier")
        if not is_pkce_value(verifier):
            raise TokenRequestError(
                "invalid_request",
                "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~.",
            )
        return self.state.exchange_code(client.client_id, code, redirect_uri, verifier)

    async def _fault(self, route: str) -> Response | None:
        fault = self.state.faults.take(route)
        if fault is None:
            return None
        if fault.delay > 0 and not fault.act_first:
            generation = self.state.generation
            await asyncio.sleep(fault.delay)
            if self.state.generation != generation:
                return DropConnection()
        if fault.act_first:
            defer(route, fault)
            return None
        if fault.drop:
            return DropConnection()
        if fault.answers_normally:
            return None
        return _fault_response(route, fault)

    def _acting_user(self, request: Request) -> SandboxUser:
        user = self.state.user_from_cookie(request.cookies.get(USER_COOKIE, ""))
        return user or self.state.first_user()

    def _is_own_authorize_url(self, url: str) -> bool:
        """Only this sandbox's own consent screen: never what the request's Host says."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.netloc.lower() not in (
            self.state.allowed_hosts()
        ):
            return False
        if parts.path not in (AUTHORIZE_PATH, AUTHORIZE_PATH.rstrip("/")):
            return False
        client_ids = parse_qs(parts.query).get("client_id", [])
        return len(client_ids) == 1 and self.state.client(client_ids[0]) is not None


async def _form(request: Request) -> dict[str, list[str]] | None:
    """The urlencoded body as lists of values, or None if the body is not a form."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != "application/x-www-form-urlencoded":
        return None
    try:
        pairs = parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True)
    except (UnicodeDecodeError, ValueError):
        return None
    form: dict[str, list[str]] = {}
    for name, value in pairs:
        form.setdefault(name, []).append(value)
    return form


def _single(form: dict[str, list[str]], name: str) -> str | None:
    """The field's first value, None when absent or empty."""
    values = form.get(name, [])
    return values[0] if values and values[0] else None


def _redirect(uri: str, params: dict[str, str], oauth_state: str | None) -> Response:
    if oauth_state is not None:
        params = {**params, "state": oauth_state}
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    location = urlunsplit(parts._replace(query=urlencode(query)))
    return Response(status_code=302, headers={"Location": location, "Cache-Control": "no-store"})


def _error_page(title: str, message: str) -> Response:
    return HTMLResponse(_pages.error_page(title, message), status_code=400, headers=_PAGE_HEADERS)


def _detail(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def _oauth_error(exc: TokenRequestError) -> Response:
    body = {"error": exc.error, "error_description": exc.description}
    return JSONResponse(body, status_code=exc.status, headers=_NO_STORE)


def _whoami(user: SandboxUser) -> Response:
    body: dict[str, Any] = {
        "success": True,
        "email": user.email,
        "name": user.name,
        "user_id": user.user_id,
        "is_staff": user.is_staff,
    }
    return JSONResponse(body)


def _token_body(issued: IssuedTokens) -> dict[str, Any]:
    body: dict[str, Any] = {"id_token": issued.id_token, "access_token": issued.access_token}
    if issued.refresh_token is not None:
        body["refresh_token"] = issued.refresh_token
    body["expires_in"] = issued.expires_in
    body["token_type"] = "Bearer"
    body["scope"] = issued.scope
    return body


def _fault_response(route: str, fault: Fault) -> Response:
    headers = dict(_NO_STORE) if route == "token" else {}
    if fault.retry_after is not None:
        headers["Retry-After"] = f"{fault.retry_after:g}"
    headers.update(fault.headers)
    if fault.body is not None:
        return Response(
            fault.body, status_code=fault.status, media_type=fault.content_type, headers=headers
        )
    description = f"The sandbox was told to fail this request with HTTP {fault.status}."
    body: dict[str, str]
    if route == "token":
        error = "temporarily_unavailable" if fault.status == 503 else "server_error"
        body = {"error": error, "error_description": description}
    elif route in ACTION_FAULT_ROUTES:
        body = {"error": description}
    else:
        body = {"detail": description}
    return Response(
        json.dumps(body), status_code=fault.status, media_type="application/json", headers=headers
    )
