"""Results the magics return: an escaped HTML table in a notebook, a text table elsewhere."""

from __future__ import annotations

import html
import os
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ._config import checked_link
from ._errors import ConfigurationError
from ._tables import pairs_html, pairs_text

if TYPE_CHECKING:
    from ._models import CheckAuthResponse, TokenInfo
    from ._session import Session

__all__ = [
    "LINK_STYLE",
    "ResultTable",
    "check_table",
    "describe_auth",
    "expiry_text",
    "format_time",
    "html_with_links",
    "login_link_table",
    "safe_link",
    "shown_path",
    "status_table",
]


class ResultTable:
    """A titled two-column table; `rows` keep the values for code that reads them."""

    def __init__(self, title: str, rows: Sequence[tuple[str, str]], *, data: object = None) -> None:
        self.title = title
        self.rows = list(rows)
        self.data = data

    def __getitem__(self, label: str) -> str:
        for name, value in self.rows:
            if name == label:
                return value
        raise KeyError(label)

    def _repr_html_(self) -> str:
        return pairs_html(self.title, self.rows)

    def __repr__(self) -> str:
        return pairs_text(self.title, self.rows)


_URL = re.compile(r"https?://[^\s<>\"']+")
# Widgets show HTML without the notebook's own link style.
LINK_STYLE = "color:var(--jp-content-link-color,#0d47a1);text-decoration:underline"


def safe_link(url: str) -> str | None:
    """`url` if it may be shown as a link: https, or http on loopback."""
    try:
        return checked_link(url, "")
    except ConfigurationError:
        return None


def html_with_links(text: str) -> str:
    """`text` escaped for HTML, each http(s) address in it made a link that opens a new tab."""
    parts: list[str] = []
    last = 0
    for match in _URL.finditer(text):
        url = match.group().rstrip(".,;:!?)")
        end = match.start() + len(url)
        href = html.escape(url, quote=True)
        parts.append(html.escape(text[last : match.start()]))
        parts.append(
            f'<a href="{href}" target="_blank" rel="noopener noreferrer" style="{LINK_STYLE}">'
            f"{href}</a>"
        )
        last = end
    parts.append(html.escape(text[last:]))
    return "".join(parts)


def _yes_no(value: bool | None) -> str:
    return "unknown" if value is None else ("yes" if value else "no")


def describe_auth(session: Session) -> str:
    """How the session authenticates, in words."""
    method = session.auth_method
    if method == "api_key":
        return "API key (x-api-key header)"
    if method == "oauth":
        return "OAuth 2.0 PKCE (Bearer token)"
    return "not logged in"


def format_time(when: datetime, now: datetime | None = None) -> str:
    """A moment as this machine's clock shows it, with the zone: `14:05:09 CET`.

    The one way zapier_nb writes times. The date comes first when it is not today's.
    """
    local = when.astimezone()
    today = (now or datetime.now(UTC)).astimezone().date()
    zone = local.strftime("%Z") or local.strftime("UTC%z")
    text = f"{local:%H:%M:%S} {zone}"
    return text if local.date() == today else f"{local:%Y-%m-%d} {text}"


def expiry_text(info: TokenInfo, now: datetime | None = None) -> str:
    """When the access token expires, as a clock time (a countdown would go stale on screen)."""
    now = now or datetime.now(UTC)
    text = format_time(info.expires_at, now)
    if info.seconds_left(now) <= 0:
        return f"{text} (expired; the next call refreshes it)"
    return text


def shown_path(path: Path) -> str:
    """A file's place without this machine's layout where possible: under
    `$ZAPIER_NB_CACHE_DIR` or `~`, else the absolute path."""
    cache_dir = os.environ.get("ZAPIER_NB_CACHE_DIR")
    places = [("$ZAPIER_NB_CACHE_DIR", Path(cache_dir))] if cache_dir else []
    places.append(("~", Path.home()))
    for name, place in places:
        try:
            return f"{name}/{path.relative_to(place).as_posix()}"
        except ValueError:
            continue
    return str(path)


def check_table(result: CheckAuthResponse, session: Session) -> ResultTable:
    rows = [
        ("Success", _yes_no(result.success)),
        ("Email", result.email),
        ("Name", result.name),
        ("User id", "unknown" if result.user_id is None else str(result.user_id)),
        ("Staff", _yes_no(result.is_staff)),
        ("Authenticated by", describe_auth(session)),
        ("Base URL", session.base_url),
    ]
    return ResultTable("Zapier AI Actions: auth check", rows, data=result)


def status_table(session: Session, now: datetime | None = None) -> ResultTable:
    info = session.token_info
    rows = [
        ("Authenticated by", describe_auth(session)),
        ("Base URL", session.base_url),
        ("Client id", session.client_id or "none"),
    ]
    if info is not None:
        rows += [
            ("Logged in as", info.email or "unknown"),
            ("Scopes", info.scope or "unknown"),
            ("Access token expires", expiry_text(info, now or datetime.now(UTC))),
            ("Refresh token held", _yes_no(info.has_refresh_token)),
        ]
    cache = session.token_cache_path
    rows.append(("Token cache", shown_path(cache) if cache else "off"))
    return ResultTable("Zapier AI Actions: session status", rows, data=info)


class _LinkTable(ResultTable):
    def __init__(self, title: str, rows: Sequence[tuple[str, str]], link: str) -> None:
        super().__init__(title, rows, data=link)
        self.link = link

    def _repr_html_(self) -> str:
        link = safe_link(self.link)
        if link is None:
            return super()._repr_html_()
        href = html.escape(link, quote=True)
        anchor = (
            f'<a href="{href}" target="_blank" rel="noopener noreferrer">Open the sign-up link</a>'
        )
        return super()._repr_html_() + f"<p>{anchor}</p>"


def login_link_table(link: str, email: str) -> ResultTable:
    rows = [
        ("For", email),
        ("Sign-up link", link),
        ("Next", "Open the link, create the account, approve; then paste the code you get back."),
    ]
    return _LinkTable("Zapier AI Actions: quick account creation", rows, link)
