"""The Jupyter server extension: the callback page, a ping, and a proxy to a local sandbox.

Enabled on install by `etc/jupyter/jupyter_server_config.d/zapier_nb.json`. Every route
sits under the server's `base_url` and requires the server's own login: under
JupyterHub that means the hub user who owns the server.

- `GET {base_url}zapier-nb/callback`: the page that hands the login answer to the widget
  (`_callback_page`). It keeps no state on the server.
- `GET {base_url}zapier-nb/ping`: tells the widget that the extension is loaded, and
  whether it fronts a sandbox.
- `{base_url}zapier-nb/sandbox/...`: the browser-facing pages of a sandbox running on
  this server's loopback (`ZAPIER_BASE_URL`), for browsers that cannot reach it (Binder).
  The sandbox's own callback path is served by the callback page, so a login against
  the sandbox comes back by itself without registering anything.
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web

from . import __version__
from ._callback_page import CONTENT_SECURITY_POLICY, PAGE, PAGE_HEADERS
from ._paths import CALLBACK_ROUTE, PING_ROUTE, SANDBOX_ROUTE
from ._sandbox_proxy import holds_key_for, sandbox_handlers, sandbox_to_front

__all__ = ["CALLBACK_ROUTE", "PING_ROUTE", "SANDBOX_ROUTE", "load_jupyter_server_extension"]


class CallbackHandler(JupyterHandler):
    """The page the consent screen redirects to; it relays the answer inside the browser."""

    @property
    def content_security_policy(self) -> str:
        return CONTENT_SECURITY_POLICY

    @web.authenticated
    def get(self, *_: str) -> None:
        for name, value in PAGE_HEADERS.items():
            self.set_header(name, value)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(PAGE)


class PingHandler(JupyterHandler):
    """Answers the widget's question: is the extension loaded here, and what does it offer?"""

    @web.authenticated
    def get(self) -> None:
        sandbox = self.settings.get("zapier_nb_sandbox")
        if sandbox and not holds_key_for(sandbox):
            sandbox = None  # another user's: its pages would be refused, links go direct
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "application/json")
        self.finish(
            json.dumps(
                {
                    "zapier_nb": __version__,
                    "callback": url_path_join(self.base_url, CALLBACK_ROUTE),
                    "sandbox": sandbox,
                    "sandbox_proxy": url_path_join(self.base_url, SANDBOX_ROUTE)
                    if sandbox
                    else None,
                }
            )
        )


def load_jupyter_server_extension(serverapp: Any) -> None:
    web_app = serverapp.web_app
    base_url = web_app.settings["base_url"]
    route = url_path_join(base_url, CALLBACK_ROUTE)
    handlers: list[tuple[Any, ...]] = [
        (route, CallbackHandler),
        (url_path_join(base_url, PING_ROUTE), PingHandler),
    ]
    sandbox = sandbox_to_front()
    if sandbox is not None:
        proxied = sandbox_handlers(url_path_join(base_url, SANDBOX_ROUTE), sandbox, CallbackHandler)
        sandbox = sandbox if proxied else None
        handlers += proxied
    web_app.settings["zapier_nb_sandbox"] = sandbox
    web_app.add_handlers(".*$", handlers)
    what = f"; the sandbox at {sandbox} under {SANDBOX_ROUTE}/" if sandbox else ""
    serverapp.log.info("zapier_nb: login callback at %s%s", route, what)


_load_jupyter_server_extension = load_jupyter_server_extension
