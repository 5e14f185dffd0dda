"""The proxy to a local sandbox: its browser pages under this Jupyter server's base_url.

`{base_url}zapier-nb/sandbox/...` forwards to the sandbox on this server's loopback
(`ZAPIER_BASE_URL`), for browsers that cannot reach it (Binder). Registered by the
server extension (`_server_extension`), behind the server's own login.

Its pages run on this server's origin, so the proxy forwards only to a sandbox that
proves this server's Unix user started it: each request carries a fresh nonce, and the
answer must carry its HMAC under the key the sandbox wrote to a file only this user can
read (`zapier_nb.sandbox._ownership`). Anything else listening on the port (another
user's program, after the sandbox stopped) gets no request but that challenge, and the
browser gets a page that says why and what to do. Defence in depth besides: a strict
Content-Security-Policy on every page, this server's `_xsrf` only in forms that post back
under the proxy, Jupyter's `token` never forwarded, cookies kept under the proxy's path.
"""

from __future__ import annotations

import hmac
import html
import os
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest, HTTPResponse

from ._config import is_loopback
from ._paths import SANDBOX_ROUTE

if TYPE_CHECKING:
    from .sandbox._ownership import KeyRecord

__all__ = [
    "SANDBOX_PROXY_ENV",
    "SandboxProxyHandler",
    "holds_key_for",
    "own_key",
    "sandbox_handlers",
    "sandbox_to_front",
]

SANDBOX_PROXY_ENV = "ZAPIER_NB_SANDBOX_PROXY"

_FORM_START = re.compile(r"<form\b[^>]*>", re.IGNORECASE)
_ACTION = re.compile(r"""\saction\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)
_ROOT_LINK = re.compile(r"""(\s(?:href|action|src)\s*=\s*["'])/(?![/\\])""", re.IGNORECASE)
_DOMAIN = re.compile(r"^\s*(path|domain)\s*=", re.IGNORECASE)
_PROXIED_HEADERS = ("Content-Type", "Cache-Control", "X-Frame-Options", "Referrer-Policy")
_TIMEOUT = 30.0


class _Refused(Exception):
    def __init__(self, title: str, message: str) -> None:
        super().__init__(message)
        self.title = title
        self.message = message


@dataclass(frozen=True)
class _Proven:
    origin: str  # http://address:port, the address the sandbox really bound
    key: bytes
    address: str
    port: int
    owner_nonce: str


class SandboxProxyHandler(JupyterHandler):
    """Forwards the sandbox's browser pages (consent, sign-up) under this server's base_url.

    Only the sandbox's browser paths are forwarded, only its own cookie goes with them,
    and its forms get this server's `_xsrf` field, so the server's (and JupyterHub's)
    cross-site checks apply to the consent form as to any other.
    """

    script_sources: tuple[str, ...] = ()  # read for the headers before initialize() runs

    def initialize(
        self,
        sandbox: str,
        browser_paths: tuple[str, ...],
        cookies: tuple[str, ...],
        script_sources: tuple[str, ...] = (),
    ) -> None:
        self.sandbox = sandbox
        self.browser_paths = browser_paths
        self.cookie_names = cookies
        self.script_sources = script_sources

    @property
    def content_security_policy(self) -> str:
        scripts = " ".join(self.script_sources) or "'none'"
        return (
            f"default-src 'none'; script-src {scripts}; style-src 'unsafe-inline'; "
            "img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"
        )

    @web.authenticated
    async def get(self, path: str) -> None:
        await self._forward(path)

    @web.authenticated
    async def post(self, path: str) -> None:
        await self._forward(path)

    async def _forward(self, path: str) -> None:
        target_path = "/" + path
        if target_path not in self.browser_paths and target_path + "/" not in self.browser_paths:
            raise web.HTTPError(404)
        try:
            proven = await self._prove()
            target, response = await self._send_on(proven, target_path)
        except _Refused as refused:
            self._refuse(refused)
            return
        self.set_status(response.code)
        for name in _PROXIED_HEADERS:
            if name in response.headers:
                self.set_header(name, response.headers[name])
        location = response.headers.get("Location")
        if location:
            self.set_header("Location", self._browser_url(urljoin(target, location), proven))
        for value in response.headers.get_list("Set-Cookie"):
            self.add_header("Set-Cookie", _cookie_under(value, self._prefix()))
        content = response.body or b""
        if response.headers.get("Content-Type", "").startswith("text/html"):
            page = _links_under(content.decode("utf-8", "replace"), self._prefix())
            content = _with_xsrf(page, self._prefix(), self.xsrf_token.decode()).encode("utf-8")
        self.finish(content)

    async def _prove(self) -> _Proven:
        """Read this user's key for the sandbox's port, and check the sandbox holds it."""
        from .sandbox._ownership import CHALLENGE_HEADER, NONCE_HEADER
        from .sandbox._routes import PROOF_PATH

        where = urlsplit(self.sandbox)
        port = where.port or 80
        record = own_key(self.sandbox)
        url_host = f"[{record.address}]" if ":" in record.address else record.address
        proven = _Proven(f"http://{url_host}:{port}", record.key, record.address, port, "")
        nonce = secrets.token_urlsafe(24)
        answer = await self._fetch(
            HTTPRequest(
                proven.origin + PROOF_PATH,
                headers={"Host": where.netloc, CHALLENGE_HEADER: nonce},
                follow_redirects=False,
                request_timeout=_TIMEOUT,
            )
        )
        self._check(answer, proven, nonce)
        owner_nonce = answer.headers.get(NONCE_HEADER, "")
        return _Proven(proven.origin, proven.key, proven.address, port, owner_nonce)

    async def _send_on(self, proven: _Proven, target_path: str) -> tuple[str, HTTPResponse]:
        from .sandbox._ownership import CHALLENGE_HEADER, OWNER_HEADER, owner_signature

        fields = parse_qsl(self.request.query, keep_blank_values=True)
        query = urlencode([(k, v) for k, v in fields if k != "token"])
        target = proven.origin + target_path + (f"?{query}" if query else "")
        nonce = secrets.token_urlsafe(24)
        headers = {
            "Accept": self.request.headers.get("Accept", "text/html"),
            "Host": urlsplit(self.sandbox).netloc,
            CHALLENGE_HEADER: nonce,
        }
        if proven.owner_nonce:
            signature = owner_signature(proven.key, proven.owner_nonce)
            headers[OWNER_HEADER] = f"{proven.owner_nonce} {signature}"
        cookie = "; ".join(
            f"{name}={value.value}"
            for name, value in self.request.cookies.items()
            if name in self.cookie_names
        )
        if cookie:
            headers["Cookie"] = cookie
        body = None
        if self.request.method == "POST":
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            form = parse_qsl(self.request.body.decode("utf-8", "replace"), keep_blank_values=True)
            body = urlencode([(k, v) for k, v in form if k != "_xsrf"])
        response = await self._fetch(
            HTTPRequest(
                target,
                method=self.request.method or "GET",
                headers=headers,
                body=body,
                follow_redirects=False,
                request_timeout=_TIMEOUT,
            )
        )
        self._check(response, proven, nonce)
        return target, response

    async def _fetch(self, request: HTTPRequest) -> HTTPResponse:
        try:
            response = await AsyncHTTPClient().fetch(request, raise_error=False)
        except Exception:  # refused, reset, timed out: the browser is told, nothing logged
            response = None
        if response is None or response.code == 599:
            raise _Refused(
                "The sandbox does not answer",
                f"Nothing answers at {self.sandbox}. Start the sandbox again (python -m "
                "zapier_nb.sandbox, or Sandbox() in a notebook), point ZAPIER_BASE_URL at the "
                "address it prints, and restart this Jupyter server.",
            )
        return response

    def _check(self, response: HTTPResponse, proven: _Proven, nonce: str) -> None:
        from .sandbox._ownership import PROOF_HEADER, proof

        expected = proof(proven.key, proven.address, proven.port, nonce)
        if not hmac.compare_digest(response.headers.get(PROOF_HEADER, ""), expected):
            raise _Refused(
                "Not a sandbox you started",
                f"Something answers at {self.sandbox}, but it is not the sandbox you started: "
                "another program, or another user of this machine, took its port after your "
                "sandbox stopped. Nothing was shown from it. Start your sandbox again on a "
                "free port (python -m zapier_nb.sandbox picks one), point ZAPIER_BASE_URL "
                "at the address it prints, and restart this Jupyter server.",
            )

    def _refuse(self, refused: _Refused) -> None:
        self.log.warning("zapier_nb: refused the sandbox at %s: %s", self.sandbox, refused.title)
        self.set_status(502)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(refused.title)}</title></head><body>"
            f"<h1>{html.escape(refused.title)}</h1>"
            f'<p id="error">{html.escape(refused.message)}</p></body></html>'
        )

    def _prefix(self) -> str:
        return url_path_join(self.base_url, SANDBOX_ROUTE)

    def _browser_url(self, url: str, proven: _Proven) -> str:
        """A URL on the sandbox, as this browser reaches it; any other URL unchanged."""
        parts = urlsplit(url)
        sandbox = {urlsplit(base).netloc for base in (self.sandbox, proven.origin)}
        if parts.scheme != "http" or parts.netloc not in sandbox:
            return url
        return urlunsplit(("", "", self._prefix() + parts.path, parts.query, ""))


def _cookie_under(set_cookie: str, prefix: str) -> str:
    """The sandbox's cookie, for this server's host only and under the proxy's path."""
    kept = [p for p in set_cookie.split(";") if not _DOMAIN.match(p)]
    return ";".join([*kept, f" Path={prefix}/"])


def _links_under(page: str, prefix: str) -> str:
    """Links to the sandbox's root (`href="/..."`) pointed under the proxy's prefix."""
    return _ROOT_LINK.sub(lambda m: m.group(1) + html.escape(prefix) + "/", page)


def _with_xsrf(page: str, prefix: str, xsrf: str) -> str:
    """This server's `_xsrf` field in each form that posts back under the proxy, only."""
    field = f'<input type="hidden" name="_xsrf" value="{html.escape(xsrf)}">'

    def add(match: re.Match[str]) -> str:
        action = _ACTION.search(match.group(0))
        target = (
            html.unescape(next((g for g in action.groups() if g is not None), "")) if action else ""
        )
        parts = urlsplit(target.strip())
        if parts.scheme or parts.netloc or target.strip().startswith(("//", "\\")):
            return match.group(0)
        if parts.path.startswith("/") and not parts.path.startswith(prefix + "/"):
            return match.group(0)
        return match.group(0) + field

    return _FORM_START.sub(add, page)


def own_key(sandbox: str) -> KeyRecord:
    """This user's key record for the sandbox at `sandbox`; `_Refused` says why there is none."""
    from .sandbox._ownership import KeyFileError, key_path, read_key

    where = urlsplit(sandbox)
    port = where.port or 80
    try:
        record = read_key(key_path(port))
    except KeyFileError as exc:
        raise _Refused(
            "Not a sandbox you started",
            f"The sandbox at {sandbox} cannot show that it is yours: {exc}. This "
            "Jupyter server shows only the pages of a sandbox that its own user started "
            "(python -m zapier_nb.sandbox, or Sandbox() in a notebook, on the same machine "
            "and home folder). Start yours, point ZAPIER_BASE_URL at the address it prints, "
            "and restart this server.",
        ) from None
    host = (where.hostname or "").lower()
    if record.port != port or host not in ("localhost", record.address.lower()):
        raise _Refused(
            "Not a sandbox you started",
            f"Your sandbox on port {port} listens on {record.address}, not on the address "
            f"in ZAPIER_BASE_URL ({sandbox}). Set ZAPIER_BASE_URL to the base URL the "
            "sandbox printed and restart this server.",
        )
    return record


def holds_key_for(sandbox: str) -> bool:
    """This user started the sandbox (its key file is here): its pages can be fronted. The
    sandbox itself proves it on every page; this is the widget's cheap first look."""
    try:
        own_key(sandbox)
    except _Refused:
        return False
    return True


def sandbox_to_front(environ: dict[str, str] | None = None) -> str | None:
    """The loopback sandbox this server fronts: `ZAPIER_BASE_URL`, unless switched off."""
    env = os.environ if environ is None else environ
    if env.get(SANDBOX_PROXY_ENV, "1").strip() == "0":
        return None
    base = env.get("ZAPIER_BASE_URL", "").strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme != "http" or not parts.hostname or not is_loopback(parts.hostname):
        return None
    if parts.path or parts.query:
        return None
    return base


def sandbox_handlers(prefix: str, sandbox: str, callback_handler: Any) -> list[tuple[Any, ...]]:
    """The proxy's routes under `prefix`; the sandbox's callback path is `callback_handler`'s.
    Empty without the sandbox extra."""
    try:
        from .sandbox._pages import SCRIPT_SOURCES
        from .sandbox._routes import BROWSER_PATHS, CALLBACK_PATH, USER_COOKIE
    except ImportError:
        return []
    options = {
        "sandbox": sandbox,
        "browser_paths": BROWSER_PATHS,
        "cookies": (USER_COOKIE,),
        "script_sources": SCRIPT_SOURCES,
    }
    return [
        (prefix + re.escape(CALLBACK_PATH.rstrip("/")) + "/?", callback_handler),
        (prefix + "/(.*)", SandboxProxyHandler, options),
    ]
