from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from zapier_nb import CheckAuthResponse, Session, TokenInfo
from zapier_nb._display import (
    LINK_STYLE,
    check_table,
    expiry_text,
    format_time,
    html_with_links,
    login_link_table,
    status_table,
)

EVIL = '<img src=x onerror="alert(1)">'


def test_check_table_escapes_what_the_server_sent() -> None:
    result = CheckAuthResponse(success=True, email=f"{EVIL}@x.test", name=EVIL, user_id=None)
    table = check_table(result, Session(base_url="https://actions.zapier.com"))
    html = table._repr_html_()
    assert "<img" not in html
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in html
    assert table["Name"] == EVIL
    assert table["User id"] == "unknown"
    assert table["Authenticated by"] == "not logged in"


def test_text_table_lines_up_labels_and_values() -> None:
    result = CheckAuthResponse(success=True, email="a@b.c", name="A", user_id=7, is_staff=True)
    text = repr(check_table(result, Session()))
    lines = text.splitlines()
    assert lines[0] == "Zapier AI Actions: auth check"
    assert "Email             a@b.c" in lines
    assert "Staff             yes" in lines
    assert "User id           7" in lines


def test_expiry_is_a_clock_time_with_its_zone_never_a_countdown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3")  # POSIX rule: no tz database needed
    time.tzset()
    try:
        now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        info = TokenInfo(
            email=None, name=None, scope=None, expires_at=now + timedelta(seconds=3725),
            has_refresh_token=True,
        )  # fmt: skip
        assert expiry_text(info, now) == "14:02:05 CET"
        assert expiry_text(info, now + timedelta(hours=2)) == (
            "14:02:05 CET (expired; the next call refreshes it)"
        )
        assert format_time(now + timedelta(days=1), now) == "2026-01-02 13:00:00 CET"
        summer = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
        assert format_time(summer, summer) == "14:00:00 CEST"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_web_addresses_in_a_message_become_links_and_the_rest_is_escaped() -> None:
    text = 'Copy it from https://x.test/credentials/. Then <b>"retry"</b> (http://y.test/?a=1&b=2).'
    opens = f'target="_blank" rel="noopener noreferrer" style="{LINK_STYLE}"'
    assert html_with_links(text) == (
        f'Copy it from <a href="https://x.test/credentials/" {opens}>https://x.test/credentials/'
        "</a>. Then &lt;b&gt;&quot;retry&quot;&lt;/b&gt; "
        f'(<a href="http://y.test/?a=1&amp;b=2" {opens}>http://y.test/?a=1&amp;b=2</a>).'
    )


def test_status_without_login_holds_no_token_rows() -> None:
    table = status_table(Session(client_id="cid", redirect_uri="https://x.test/cb/"))
    assert table["Client id"] == "cid"
    assert [name for name, _ in table.rows] == [
        "Authenticated by", "Base URL", "Client id", "Token cache",
    ]  # fmt: skip


def test_login_link_is_an_escaped_anchor() -> None:
    html = login_link_table('https://x.test/?a=1&b="2"', "e@x.test")._repr_html_()
    assert 'href="https://x.test/?a=1&amp;b=&quot;2&quot;"' in html
