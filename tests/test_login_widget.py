"""The login widget tells the truth whoever changes the login: a real kernel, driven over ZMQ
with the comm messages a front end sends, against the sandbox."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from helpers import assert_no_secrets
from kernel_driver import KernelDriver

from zapier_nb.sandbox import Sandbox

Kernel = Callable[..., KernelDriver]
_LIVE = re.compile(
    r'<div class="zapier-nb-live"[^>]*>(.*?)</div><div class="zapier-nb-stale">', re.S
)


@pytest.fixture
def kernel(sandbox: Sandbox) -> Iterator[Kernel]:
    started: list[KernelDriver] = []

    def start(*, oauth: bool = True, **extra: str) -> KernelDriver:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPIER_")}
        env["ZAPIER_BASE_URL"] = sandbox.base_url
        if oauth:
            env.update(ZAPIER_CLIENT_ID=sandbox.client_id, ZAPIER_REDIRECT_URI=sandbox.redirect_uri)
        env.update(extra)
        driver = KernelDriver(env)
        started.append(driver)
        driver.run("%load_ext zapier_nb\nimport zapier_nb")
        return driver

    yield start
    for driver in started:
        driver.close()


def status(k: KernelDriver, comm_id: str | None = None) -> str:
    """What the status line says while the kernel is there (the stale notice left out)."""
    value = k.widgets[comm_id or k.find("zapier-nb-status")]["value"]
    found = _LIVE.search(value)
    assert found, value
    return found.group(1)


def login_url(k: KernelDriver) -> str:
    """The consent URL the login button opens."""
    url = k.state("zapier-nb-login-link")["url"]
    assert isinstance(url, str)
    assert url
    return url


def controls(k: KernelDriver) -> list[str]:
    """The widget's visible parts, by their first CSS class."""
    return [classes[0] if classes else "?" for classes in k.children_classes("zapier-nb-login")]


def log_in_with_the_widget(k: KernelDriver, sandbox: Sandbox) -> None:
    redirected = sandbox.approve(login_url(k))
    k.send_custom(k.find("zapier-nb-code"), {"event": "submit", "value": redirected})
    assert "Logged in as <b>ada@example.com</b>" in status(k)


def printed(k: KernelDriver, expression: str) -> str:
    reply = k.run(f"print({expression})")
    assert reply.errors == [], reply.errors
    return reply.stdout.strip()


# -- section 1: the status follows the session ------------------------------------------


def test_logout_by_the_magic_brings_the_login_controls_back(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    k = kernel()
    k.run("%zapier_login")
    first_url = login_url(k)
    log_in_with_the_widget(k, sandbox)
    assert "zapier-nb-oauth" not in controls(k)
    k.run("%zapier_logout")
    assert "Not logged in any more" in status(k)
    assert controls(k)[:3] == ["zapier-nb-header", "zapier-nb-status", "zapier-nb-oauth"]
    assert "zapier-nb-key" in controls(k)
    # The cell's end began a fresh login: its button works without re-running the cell.
    assert login_url(k) != first_url
    log_in_with_the_widget(k, sandbox)
    assert_no_secrets([k.transcript()], sandbox)


def test_logout_from_python_and_from_the_widget_button(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    k.run("%zapier_login")
    log_in_with_the_widget(k, sandbox)
    k.run("zapier_nb.get_session().logout()")
    assert "Not logged in any more" in status(k)
    assert "/oauth/authorize/" in login_url(k)
    log_in_with_the_widget(k, sandbox)
    button = next(cid for cid, s in k.widgets.items() if s.get("description") == "Log out")
    k.send_custom(button, {"event": "click"})
    assert status(k).startswith("Logged out.")
    assert "zapier-nb-oauth" in controls(k)
    log_in_with_the_widget(k, sandbox)


def test_a_refresh_here_and_one_on_another_thread_update_the_expiry(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    k = kernel()
    k.run("%zapier_login\nfrom zapier_nb._display import format_time")
    log_in_with_the_widget(k, sandbox)
    expiry = "format_time(zapier_nb.get_session().token_info.expires_at)"
    first = printed(k, expiry)
    assert f"valid until {first}" in status(k)
    assert "(in " not in status(k), "the expiry is a clock time, not a countdown"
    k.run("import time; time.sleep(1.1); zapier_nb.get_session().refresh()")
    second = printed(k, expiry)
    assert second != first
    assert f"valid until {second}" in status(k)
    k.run(
        "import threading; time.sleep(1.1)\n"
        "threading.Thread(target=zapier_nb.get_session().refresh).start()"
    )
    k.wait_for(lambda: second not in status(k))
    third = printed(k, expiry)
    assert third != second
    assert f"valid until {third}" in status(k)
    assert sandbox.count("token:refresh_token") == 2


def test_a_login_that_ends_shows_the_login_controls(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    k.run("%zapier_login")
    log_in_with_the_widget(k, sandbox)
    sandbox.revoke_refresh_tokens()
    sandbox.expire_access_tokens()
    reply = k.run("zapier_nb.get_session().check()")
    assert [error["ename"] for error in reply.errors] == ["SessionExpiredError"]
    assert "Not logged in any more" in status(k)
    assert "zapier-nb-oauth" in controls(k)
    log_in_with_the_widget(k, sandbox)


def test_a_login_ending_on_another_thread_between_cells_offers_a_new_one(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    k = kernel()
    k.run("%zapier_login")
    log_in_with_the_widget(k, sandbox)
    sandbox.revoke_refresh_tokens()
    sandbox.expire_access_tokens()
    k.run(
        "import threading, time, contextlib\n"
        "def later():\n"
        "    time.sleep(0.5)\n"
        "    with contextlib.suppress(zapier_nb.ZapierError):\n"
        "        zapier_nb.get_session().check()\n"
        "threading.Thread(target=later).start()"
    )
    k.wait_for(lambda: "Not logged in any more" in status(k))
    # No cell has ended since: the widget offers to prepare the next login itself.
    assert "zapier-nb-new-login" in controls_of(k, "zapier-nb-oauth")
    k.send_custom(k.find("zapier-nb-new-login"), {"event": "click"})
    assert "zapier-nb-login-link" in controls_of(k, "zapier-nb-oauth")
    log_in_with_the_widget(k, sandbox)


def controls_of(k: KernelDriver, css_class: str) -> list[str]:
    return [classes[0] if classes else "?" for classes in k.children_classes(css_class)]


def test_a_login_made_elsewhere_shows(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    k.run("%zapier_login")
    widget_url = login_url(k)
    # In code: a new login replaces the one the widget offered, so its button follows.
    k.run(
        "from zapier_nb.sandbox import approve\ns = zapier_nb.get_session()\nurl = s.begin_login()"
    )
    assert login_url(k) != widget_url
    assert login_url(k) == printed(k, "url")
    k.run("s.complete_login(approve(url))")
    assert "Logged in as <b>ada@example.com</b>" in status(k)
    assert controls(k) == ["zapier-nb-header", "zapier-nb-status", "?"]


def test_two_widgets_on_one_session_agree(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    k.run("%zapier_login")
    k.run("%zapier_login")
    first, second = k.find_all("zapier-nb-status")
    assert status(k, first) == status(k, second)
    code_fields = k.find_all("zapier-nb-code")
    assert len(code_fields) == 2
    redirected = sandbox.approve(login_url(k))
    k.send_custom(code_fields[1], {"event": "submit", "value": redirected})
    assert "Logged in as <b>ada@example.com</b>" in status(k, first)
    assert status(k, first) == status(k, second)


def test_a_token_taken_up_from_another_kernels_cache_shows(
    kernel: Kernel, sandbox: Sandbox, tmp_path: Path
) -> None:
    k = kernel()
    k.run(
        "from zapier_nb import Session\n"
        "from zapier_nb.widgets import LoginWidget\n"
        "from zapier_nb._display import format_time\n"
        "from zapier_nb.sandbox import approve\n"
        f"cache = dict(token_cache='read_write', token_cache_dir={str(tmp_path)!r})\n"
        "mine = Session.from_env(**cache)\n"
        "mine.complete_login(approve(mine.begin_login()))\n"
        "display(LoginWidget(mine))\n"
        "other = Session.from_env(**cache)  # a second kernel, sharing the cached login\n"
    )
    before = printed(k, "format_time(mine.token_info.expires_at)")
    assert f"valid until {before}" in status(k)
    sandbox.expire_access_tokens()
    k.run("import time; time.sleep(1.1); other.refresh()")
    assert f"valid until {before}" in status(k), "nothing has told this session yet"
    k.run("mine.check()")  # a 401; the cache holds the other kernel's newer token
    after = printed(k, "format_time(other.token_info.expires_at)")
    assert after != before
    assert f"valid until {after}" in status(k)
    assert sandbox.count("token:refresh_token") == 1


def test_closing_the_widget_unsubscribes_it(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    k.run(
        "import gc, weakref\n"
        "from zapier_nb.widgets import LoginWidget\n"
        "s = zapier_nb.get_session()\n"
        "w = LoginWidget(s)\n"
        "display(w)\n"
        "alive = weakref.ref(w)"
    )
    status_id = k.find("zapier-nb-status")
    k.run("w.close(); del w; gc.collect()")
    assert printed(k, "alive() is None") == "True", "the session still holds the closed widget"
    updates_before = _updates_to(k, status_id)
    k.run("from zapier_nb.sandbox import approve\ns.complete_login(approve(s.begin_login()))")
    assert _updates_to(k, status_id) == updates_before
    assert printed(k, "s.auth_method") == "oauth"


def _updates_to(k: KernelDriver, comm_id: str) -> int:
    return sum(
        1
        for message in k.log
        if message["msg_type"] == "comm_msg" and message["content"]["comm_id"] == comm_id
    )


# -- section 3: the fields behave like fields -------------------------------------------


def test_an_empty_submit_says_what_is_missing(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    k.run("%zapier_login")
    k.send_custom(k.find("zapier-nb-code"), {"event": "submit", "value": "  "})
    code = k.state("zapier-nb-code")
    assert code["message_kind"] == "error"
    assert "The field was empty. Paste the code" in code["message"]
    k.send_custom(k.find("zapier-nb-key"), {"event": "submit", "value": ""})
    key = k.state("zapier-nb-key")
    assert key["message_kind"] == "error"
    assert "Paste your API key" in key["message"]
    assert sandbox.count("token") == 0
    assert sandbox.count("check") == 0


def test_a_new_attempt_clears_the_last_warning(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    k.run("%zapier_login")
    code_field = k.find("zapier-nb-code")
    redirected = sandbox.approve(login_url(k))
    wrong = redirected.replace("state=", "state=x")
    k.send_custom(code_field, {"event": "submit", "value": wrong})
    warning = k.state("zapier-nb-code")["message"]
    assert "different login attempt" in warning
    again = k.send_custom(code_field, {"event": "submit", "value": wrong})
    messages = [
        m["content"]["data"]["state"]["message"]
        for m in again.messages
        if m["msg_type"] == "comm_msg"
        and m["content"]["comm_id"] == code_field
        and "message" in m["content"]["data"].get("state", {})
    ]
    assert messages[0] == "", "the page must see the old warning go before the new one comes"
    assert messages[-1] == warning
    k.send_custom(code_field, {"event": "submit", "value": redirected})
    assert k.state("zapier-nb-code")["message"] == ""
    assert "Logged in as <b>ada@example.com</b>" in status(k)


def test_the_paste_field_can_show_what_was_pasted_and_the_key_field_cannot(
    kernel: Kernel,
) -> None:
    k = kernel()
    k.run("%zapier_login")
    assert k.state("zapier-nb-code")["revealable"] is True
    assert k.state("zapier-nb-code")["masked"] is True
    assert k.state("zapier-nb-key")["revealable"] is False


# -- section 4: the API key and the sandbox ---------------------------------------------


def test_the_key_hint_points_to_the_sandbox_not_to_zapier(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel(oauth=False)
    k.run("%zapier_login")
    hint = k.value("zapier-nb-key-hint")
    assert "scripts/demo.sh" in hint
    assert f'href="{sandbox.base_url}/"' in hint
    assert "actions.zapier.com" not in hint
    assert "zapier-nb-sandbox-key" not in controls(k), "this sandbox runs outside the kernel"
    k.run("from zapier_nb.widgets import LoginWidget\ndisplay(LoginWidget(zapier_nb.Session()))")
    real = k.value("zapier-nb-key-hint")
    assert '<a href="https://actions.zapier.com/credentials/"' in real


def test_the_sandbox_in_the_kernel_lends_its_key(kernel: Kernel) -> None:
    k = kernel(oauth=False)
    k.run(
        "from zapier_nb.sandbox import Sandbox\n"
        "from zapier_nb.widgets import LoginWidget\n"
        "inside = Sandbox().start()\n"
        "s = zapier_nb.Session(base_url=inside.base_url)\n"
        "display(LoginWidget(s))"
    )
    assert "zapier-nb-sandbox-key" in controls(k)
    assert "Use the sandbox's key" in k.value("zapier-nb-key-hint")
    k.send_custom(k.find("zapier-nb-sandbox-key"), {"event": "click"})
    assert status(k) == "Logged in as <b>ada@example.com</b> with an API key."
    key = printed(k, "inside.api_key")
    assert key.startswith("sbx_key_")
    shown = [m for m in k.log if m["msg_type"] != "execute_result" and m["msg_type"] != "stream"]
    assert key not in "\n".join(str(m["content"]) for m in shown)


def test_a_wrong_key_says_so_once_with_a_link(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel(oauth=False)
    k.run("%zapier_login")
    wrong = "sbx_key_definitely-wrong-key"
    k.send_custom(k.find("zapier-nb-key"), {"event": "submit", "value": wrong})
    message = k.state("zapier-nb-key")["message"]
    assert k.state("zapier-nb-key")["message_kind"] == "error"
    assert "Invalid API key" in message
    assert message.count("not accepted") + message.count("Invalid API key") == 1
    assert '<a href="https://actions.zapier.com/credentials/"' in message
    assert status(k).startswith("Not logged in.")
    assert wrong not in k.transcript()
    k.send_custom(k.find("zapier-nb-key"), {"event": "submit", "value": sandbox.api_key})
    assert status(k) == "Logged in as <b>ada@example.com</b> with an API key."
    assert k.state("zapier-nb-key")["message"] == ""
    assert_no_secrets([k.transcript()], sandbox)


def test_a_wrong_key_keeps_the_consent_button_working(kernel: Kernel, sandbox: Sandbox) -> None:
    k = kernel()
    k.run("%zapier_login")
    k.send_custom(k.find("zapier-nb-key"), {"event": "submit", "value": "sbx_key_wrong"})
    assert "Invalid API key" in k.state("zapier-nb-key")["message"]
    assert "zapier-nb-oauth" in controls(k)
    log_in_with_the_widget(k, sandbox)


# -- the sign-up form -------------------------------------------------------------------


def test_the_sign_up_form_says_what_is_missing_and_has_one_primary_button(
    kernel: Kernel, sandbox: Sandbox
) -> None:
    k = kernel()
    k.run("%zapier_login")
    button = next(
        cid for cid, s in k.widgets.items() if s.get("description") == "Get a sign-up link"
    )
    k.send_custom(button, {"event": "click"})
    assert "Enter the person&#x27;s email." in k.value("zapier-nb-signup-message")
    assert "is not an email address" not in k.transcript()
    assert sandbox.count("login_link") == 0
    k.send_update(k.find("zapier-nb-email"), {"value": "grace"})
    assert k.value("zapier-nb-signup-message") == "", "editing the form clears its warning"
    k.send_custom(button, {"event": "click"})
    assert "like grace@example.org" in k.value("zapier-nb-signup-message")
    k.send_update(k.find("zapier-nb-email"), {"value": "grace@example.org"})
    k.send_custom(button, {"event": "click"})
    assert k.value("zapier-nb-signup-message") == ""
    assert "Create the account and log in" in k.value("zapier-nb-signup-link")
    # Enter in any of the fields does what the button does.
    k.send_update(k.find("zapier-nb-email"), {"value": "grace2@example.org"})
    k.send_custom(k.find("zapier-nb-first"), {"event": "submit"})
    assert sandbox.count("login_link") == 2
    orange_fill = "background:#ff4f00"
    assert orange_fill in k.value("zapier-nb-signup-link")
    assert k.state("zapier-nb-login-link")["primary"] is False, "two primary buttons"
