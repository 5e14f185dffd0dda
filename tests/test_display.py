from __future__ import annotations

from datetime import UTC, datetime, timedelta

from zapier_nb import CheckAuthResponse, Session, TokenInfo
from zapier_nb._display import check_table, expiry_text, login_link_table, status_table

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


def test_expiry_is_a_clock_time_and_a_countdown() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    info = TokenInfo(
        email=None, name=None, scope=None, expires_at=now + timedelta(seconds=3725),
        has_refresh_token=True,
    )  # fmt: skip
    assert expiry_text(info, now).endswith("(in 1 h 2 min)")
    assert expiry_text(info, now + timedelta(seconds=3700)).endswith("(in 0 min 25 s)")
    assert "expired" in expiry_text(info, now + timedelta(hours=2))


def test_status_without_login_holds_no_token_rows() -> None:
    table = status_table(Session(client_id="cid", redirect_uri="https://x.test/cb/"))
    assert table["Client id"] == "cid"
    assert [name for name, _ in table.rows] == [
        "Authenticated by", "Base URL", "Client id", "Token cache",
    ]  # fmt: skip


def test_login_link_is_an_escaped_anchor() -> None:
    html = login_link_table('https://x.test/?a=1&b="2"', "e@x.test")._repr_html_()
    assert 'href="https://x.test/?a=1&amp;b=&quot;2&quot;"' in html
