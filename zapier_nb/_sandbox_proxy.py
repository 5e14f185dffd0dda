"""The proxy to a local sandbox: its browser pages under this Jupyter server's base_url.

`{base_url}zapier-nb/sandbox/...` forwards to the sandbox on this server's loopback
(`ZAPIER_BASE_URL`), for browsers that cannot reach it (Binder). Registered by the
server extension (`_server_extension`), behind the server's own login.
"""

from __future__ import annotations

import os
import re
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from ._config import is_loopback

__all__ = ["SANDBOX_PROXY_ENV", "SANDBOX_ROUTE", "SandboxProxyHandler", "sandbox_to_front"]

SANDBOX_ROUTE = "zapier-nb/sandbox"
SANDBOX_PROXY_ENV = "ZAPIER_NB_SANDBOX_PROXY"

_FORM_END = re.compile(r"</form>", re.IGNORECASE)
_PROXIED_HEADERS = ("Content-Type", "Cache-Control", "X-Frame-Options", "Referrer-Policy")


class SandboxProxyHandler(JupyterHandler):
    """Forwards the sandbox's browser pages (consent, sign-up) under this server's base_url.

    Only the sandbox's browser paths are forwarded, only its own cookie goes with them,
    and its forms get this server's `_xsrf` field, so the server's (and JupyterHub's)
    cross-site checks apply to the consent form as to any other.
    """

    def initialize(
        self, sandbox: str, browser_paths: tuple[str, ...], cookies: tuple[str, ...]
    ) -> None:
        self.sandbox = sandbox
        self.browser_paths = browser_paths
        self.cookie_names = cookies

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
        query = self.request.query
        target = self.sandbox + target_path + (f"?{query}" if query else "")
        headers = {"Accept": self.request.headers.get("Accept", "text/html")}
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
            fields = parse_qsl(self.request.body.decode("utf-8", "replace"), keep_blank_values=True)
            body = urlencode([(k, v) for k, v in fields if k != "_xsrf"])
        response = await AsyncHTTPClient().fetch(
            HTTPRequest(
                target,
                method=self.request.method or "GET",
                headers=headers,
                body=body,
                follow_redirects=False,
                request_timeout=30,
            ),
            raise_error=False,
        )
        if response.code == 599:
            raise web.HTTPError(502, "the sandbox did not answer")
        self.set_status(response.code)
        for name in _PROXIED_HEADERS:
            if name in response.headers:
                self.set_header(name, response.headers[name])
        location = response.headers.get("Location")
        if location:
            self.set_header("Location", self._browser_url(urljoin(target, location)))
        for value in response.headers.get_list("Set-Cookie"):
            self.add_header("Set-Cookie", _cookie_under(value, self._prefix()))
        content = response.body or b""
        if response.headers.get("Content-Type", "").startswith("text/html"):
            field = f'<input type="hidden" name="_xsrf" value="{self.xsrf_token.decode()}">'
            content = _FORM_END.sub(field + "</form>", content.decode("utf-8")).encode("utf-8")
        self.finish(content)

    def _prefix(self) -> str:
        return url_path_join(self.base_url, SANDBOX_ROUTE)

    def _browser_url(self, url: str) -> str:
        """A URL on the sandbox, as this browser reaches it; any other URL unchanged."""
        parts, sandbox = urlsplit(url), urlsplit(self.sandbox)
        if (parts.scheme, parts.netloc) != (sandbox.scheme, sandbox.netloc):
            return url
        return urlunsplit(("", "", self._prefix() + parts.path, parts.query, ""))


def _cookie_under(set_cookie: str, prefix: str) -> str:
    kept = [p for p in set_cookie.split(";") if not p.strip().lower().startswith("path=")]
    return ";".join([*kept, f" Path={prefix}/"])


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
