"""Plays a user's browser through the sandbox's HTML pages, over plain HTTP with the stdlib."""

from __future__ import annotations

import http.client
from dataclasses import dataclass, field
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from urllib.parse import urlencode, urljoin, urlsplit

from ._routes import AUTHORIZE_PATH, SIGN_UP_PATH

_TIMEOUT = 30.0
_MAX_SLASH_REDIRECTS = 5


@dataclass
class _Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)


class _PageParser(HTMLParser):
    """Collects the forms' input values and the text of the element with id="error"."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self.error_parts: list[str] = []
        self._in_error = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if attributes.get("id") == "error":
            self._in_error = True
        if tag == "form":
            method = attributes.get("method", "get").upper()
            self.forms.append(_Form(attributes.get("action", ""), method))
        elif tag == "input" and self.forms and "name" in attributes:
            self.forms[-1].fields[attributes["name"]] = attributes.get("value", "")

    def handle_endtag(self, tag: str) -> None:
        self._in_error = False

    def handle_data(self, data: str) -> None:
        if self._in_error:
            self.error_parts.append(data)

    @property
    def error(self) -> str:
        return "".join(self.error_parts).strip()


@dataclass(frozen=True)
class _Reply:
    url: str
    status: int
    location: str
    set_cookie: list[str]
    body: str

    def page(self) -> _PageParser:
        parser = _PageParser()
        parser.feed(self.body)
        parser.close()
        return parser

    def form(self, path: str) -> _Form:
        for form in self.page().forms:
            target = urlsplit(urljoin(self.url, form.action)).path
            if target == path and form.method == "POST":
                return form
        raise RuntimeError(f"no form posting to {path} on {self.url}")

    def fail(self, what: str) -> Exception:
        if self.status == 400:
            return ValueError(self.page().error or f"{what} answered HTTP 400")
        return RuntimeError(f"{what} answered HTTP {self.status}")


def _fetch(
    method: str, url: str, *, cookie: str | None = None, form: dict[str, str] | None = None
) -> _Reply:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError("the sandbox's browser only visits http:// URLs")
    headers = {"Accept": "text/html"}
    body = None
    if cookie:
        headers["Cookie"] = cookie
    if form is not None:
        body = urlencode(form).encode("ascii")
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    connection = http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=_TIMEOUT)
    try:
        connection.request(method, target, body=body, headers=headers)
        response = connection.getresponse()
        text = response.read().decode("utf-8", "replace")
        location = response.getheader("Location", "")
        cookies = response.headers.get_all("Set-Cookie") or []
        return _Reply(url, response.status, urljoin(url, location), cookies, text)
    finally:
        connection.close()


def _get(url: str, cookie: str | None) -> _Reply:
    """GET, following only the permanent redirects that add a trailing slash."""
    for _ in range(_MAX_SLASH_REDIRECTS):
        reply = _fetch("GET", url, cookie=cookie)
        if reply.status not in (301, 308):
            return reply
        url = reply.location
    raise RuntimeError(f"too many redirects from {url}")


def consent(authorize_url: str, *, deny: bool, cookie: str | None) -> str:
    """Open the consent screen, answer it, and return where the server redirects to."""
    page = _get(authorize_url, cookie)
    if page.status in (302, 303):
        return page.location
    if page.status != 200:
        raise page.fail("the authorization page")
    form = page.form(AUTHORIZE_PATH)
    form.fields["decision"] = "deny" if deny else "approve"
    answer = _fetch("POST", urljoin(page.url, form.action), cookie=cookie, form=form.fields)
    if answer.status not in (302, 303):
        raise answer.fail("the consent form")
    return answer.location


def sign_up_and_consent(login_link: str, *, deny: bool) -> str:
    """Create (or log in to) the account a login link is for, then answer the consent screen."""
    page = _get(login_link, None)
    if page.status != 200:
        raise page.fail("the sign-up page")
    form = page.form(SIGN_UP_PATH)
    answer = _fetch("POST", urljoin(page.url, form.action), form=form.fields)
    if answer.status != 303:
        raise answer.fail("the sign-up form")
    jar: SimpleCookie = SimpleCookie()
    for header in answer.set_cookie:
        jar.load(header)
    cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in jar.items())
    if urlsplit(answer.location).path.rstrip("/") != AUTHORIZE_PATH.rstrip("/"):
        return answer.location  # a link without a pending login lands on its own page
    return consent(answer.location, deny=deny, cookie=cookie or None)
