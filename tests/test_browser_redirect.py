"""The login's answer comes back by itself, in a real browser: headless Chromium, JupyterLab
and Notebook 7, a kernel, the sandbox. Nothing is pasted.

- the button opens the consent page in a window; approving lands on the server's callback
  page, which hands the answer to the widget (the sandbox's pages open through the server,
  as on Binder);
- the same with the callback opened in a fresh tab, without an opener;
- the kernel's loopback listener;
- a denial; a forged message from another site; a page of another site that starts a login
  of its own while the consent is remembered gets nothing.

Each journey ends with the audit of the saved notebook, its checkpoint and every file the
server and its kernels wrote: no code, token or verifier.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from lab_server import (
    NEEDS_CHROMIUM,
    JupyterLab,
    open_notebook,
    run_cell,
    sandbox_settings,
    save,
    secrets_in_files,
    start,
    start_jupyterlab,
    write_notebook,
)
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from zapier_nb.sandbox import Sandbox

LOOPBACK = "http://127.0.0.1/zapier-nb/callback"
LOGIN, CHECK = 1, 2
TIMEOUT_MS = 20_000

pytestmark = NEEDS_CHROMIUM


@pytest.fixture(scope="module")
def lab_sandbox(zapier_sandbox_server: Sandbox) -> Sandbox:
    zapier_sandbox_server.reset()
    zapier_sandbox_server.add_redirect_uri(LOOPBACK)
    return zapier_sandbox_server


@pytest.fixture(scope="module", params=["lab", "notebook"])
def lab(
    request: pytest.FixtureRequest, lab_sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterLab]:
    base = tmp_path_factory.mktemp(f"redirect-{request.param}")
    env = sandbox_settings(lab_sandbox, base / "token-cache")
    server = start_jupyterlab(base / "root", base / "state", env, request.param)
    yield server
    server.stop()


def _cell(page: Page, index: int) -> Locator:
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def _open(page: Page, lab: JupyterLab, name: str, login: str = "%zapier_login") -> Locator:
    """Open a notebook, run the login cell, and wait for the widget to know its environment."""
    write_notebook(lab.root / name, ["%load_ext zapier_nb", login, "%zapier_check"])
    open_notebook(page, lab, name)
    start(page, "notebook:run-all-cells")
    widget = _cell(page, LOGIN).locator(".zapier-nb-login")
    expect(widget.get_by_test_id("zapier-nb-login")).to_be_enabled(timeout=60_000)
    expect(widget.get_by_test_id("zapier-nb-paste")).to_be_visible()
    # The button has reported where it runs, and the kernel has answered how the code returns.
    expect(widget.get_by_test_id("zapier-nb-return")).not_to_contain_text("Checking")
    return widget


def _audit(page: Page, lab: JupyterLab, sandbox: Sandbox, name: str) -> None:
    save(page)
    checkpoint = lab.root / ".ipynb_checkpoints" / f"{Path(name).stem}-checkpoint.ipynb"
    assert checkpoint.exists()
    found, checked = secrets_in_files([lab.root, lab.state], sandbox.issued_secrets())
    assert found == []
    assert lab.root / name in checked


def _logged_in(widget: Locator) -> None:
    expect(widget.get_by_test_id("zapier-nb-status")).to_contain_text(
        "Logged in as ada@example.com", timeout=30_000
    )


def test_approve_in_the_window_and_the_widget_logs_in_by_itself(
    lab: JupyterLab, lab_sandbox: Sandbox, context: BrowserContext
) -> None:
    exchanges = lab_sandbox.count("token:authorization_code")
    page = context.new_page()
    widget = _open(page, lab, "auto.ipynb")
    expect(widget.get_by_test_id("zapier-nb-return")).to_contain_text("comes back automatically")
    with page.expect_popup() as popup:
        widget.get_by_test_id("zapier-nb-login").click()
    consent = popup.value
    assert consent.url.startswith(lab.url + "zapier-nb/sandbox/oauth/authorize/")
    consent.get_by_role("button", name="Approve").click()
    expect(consent.get_by_test_id("zapier-nb-callback-message")).to_contain_text(
        "handed to your notebook"
    )
    assert urlsplit(consent.url).query == "", "the callback page should clear its address"
    assert "sbx_code_" not in consent.content()
    _logged_in(widget)
    run_cell(page, CHECK)
    expect(_cell(page, CHECK).locator("table.zapier-nb-table")).to_contain_text("ada@example.com")
    assert lab_sandbox.count("token:authorization_code") == exchanges + 1
    _audit(page, lab, lab_sandbox, "auto.ipynb")


def test_the_callback_in_a_fresh_tab_without_an_opener(
    lab: JupyterLab, lab_sandbox: Sandbox, context: BrowserContext
) -> None:
    page = context.new_page()
    widget = _open(page, lab, "no-opener.ipynb")
    expect(widget.get_by_test_id("zapier-nb-return")).to_contain_text("comes back automatically")
    with page.expect_popup() as popup:
        widget.get_by_test_id("zapier-nb-login").click()
    url = popup.value.url
    popup.value.close()
    fresh = context.new_page()  # as if the consent page had cut the opener (COOP)
    fresh.goto(url)
    assert fresh.evaluate("() => window.opener") is None
    fresh.get_by_role("button", name="Approve").click()
    expect(fresh.get_by_test_id("zapier-nb-callback-message")).to_contain_text(
        "handed to your notebook"
    )
    _logged_in(widget)
    _audit(page, lab, lab_sandbox, "no-opener.ipynb")


def test_the_kernels_loopback_listener(
    lab: JupyterLab, lab_sandbox: Sandbox, context: BrowserContext
) -> None:
    page = context.new_page()
    widget = _open(page, lab, "loopback.ipynb", f"%zapier_login --redirect-uri {LOOPBACK}")
    expect(widget.get_by_test_id("zapier-nb-return")).to_contain_text(
        "comes back to the kernel by itself"
    )
    with page.expect_popup() as popup:
        widget.get_by_test_id("zapier-nb-login").click()
    consent = popup.value
    # The sandbox's pages open through the server that fronts it, as every link to them does.
    assert consent.url.startswith(lab.url + "zapier-nb/sandbox/oauth/authorize/")
    consent.get_by_role("button", name="Approve").click()
    expect(consent.locator("#message")).to_contain_text("Logged in to Zapier AI Actions as")
    assert consent.url.startswith("http://127.0.0.1:")
    assert "sbx_code_" not in consent.content()
    _logged_in(widget)
    _audit(page, lab, lab_sandbox, "loopback.ipynb")


def test_a_denial_says_so_and_asks_for_no_token(
    lab: JupyterLab, lab_sandbox: Sandbox, context: BrowserContext
) -> None:
    tokens = lab_sandbox.count("token")
    page = context.new_page()
    widget = _open(page, lab, "denied.ipynb")
    expect(widget.get_by_test_id("zapier-nb-return")).to_contain_text("comes back automatically")
    with page.expect_popup() as popup:
        widget.get_by_test_id("zapier-nb-login").click()
    popup.value.get_by_role("button", name="Deny").click()
    expect(widget.get_by_test_id("zapier-nb-status")).to_contain_text("Access was declined")
    assert lab_sandbox.count("token") == tokens
    _audit(page, lab, lab_sandbox, "denied.ipynb")


def test_where_popups_are_refused_the_button_offers_a_link(
    lab: JupyterLab, lab_sandbox: Sandbox, context: BrowserContext
) -> None:
    page = context.new_page()
    widget = _open(page, lab, "no-popups.ipynb")
    page.evaluate("() => { window.open = () => null; }")  # as a popup blocker answers
    widget.get_by_test_id("zapier-nb-login").click()
    link = widget.locator(".zapier-nb-login-fallback a")
    expect(link).to_be_visible()
    href = link.get_attribute("href")
    assert href is not None
    assert href.startswith(lab.url + "zapier-nb/sandbox/oauth/authorize/")
    with context.expect_page() as opened:
        link.click()
    opened.value.get_by_role("button", name="Approve").click()
    _logged_in(widget)  # without an opener, the broadcast still reaches the widget
    _audit(page, lab, lab_sandbox, "no-popups.ipynb")


_ATTACKER = """<!DOCTYPE html><html><body><script>
window.received = [];
window.addEventListener("message", (e) => window.received.push(JSON.stringify(e.data)));
const channel = new BroadcastChannel("zapier-nb-oauth");
channel.onmessage = (e) => window.received.push(JSON.stringify(e.data));
window.forge = () => window.opener && window.opener.postMessage(
  {type: "zapier-nb:oauth-callback", code: "forged", state: "forged"}, "*");
</script></body></html>"""


class _AttackerPage(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = _ATTACKER.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def attacker() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AttackerPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("lab", ["lab"], indirect=True)  # one front end is enough here
def test_another_site_gets_nothing_and_its_forged_answer_is_refused(
    lab: JupyterLab, lab_sandbox: Sandbox, context: BrowserContext, attacker: str
) -> None:
    page = context.new_page()
    widget = _open(page, lab, "attacked.ipynb")
    with page.expect_popup() as popup:
        widget.get_by_test_id("zapier-nb-login").click()
    consent_url = popup.value.url
    assert consent_url.startswith(lab.url + "zapier-nb/sandbox/oauth/authorize/")
    # The consent window is sent to another site, which forges an answer to its opener.
    popup.value.goto(attacker)
    popup.value.evaluate("() => window.forge()")
    expect(widget.get_by_test_id("zapier-nb-status")).to_contain_text(
        "from another site (" + attacker.rstrip("/") + ") was ignored"
    )
    popup.value.close()

    # The user approved before; the sandbox now skips consent for them. Another site opens
    # the same consent with a login of its own: the code lands on the callback page, which
    # hands it only to its own origin: the other site receives nothing.
    popup_consent = consent_url
    with page.expect_popup() as approved:
        widget.get_by_test_id("zapier-nb-login").click()
    approved.value.get_by_role("button", name="Approve").click()
    _logged_in(widget)
    lab_sandbox.skip_consent_for_returning_users = True
    try:
        _another_site_gets_nothing(context, lab_sandbox, attacker, popup_consent)
    finally:
        lab_sandbox.skip_consent_for_returning_users = False
    _logged_in(widget)
    _audit(page, lab, lab_sandbox, "attacked.ipynb")


def _another_site_gets_nothing(
    context: BrowserContext, lab_sandbox: Sandbox, attacker: str, popup_consent: str
) -> None:
    tokens = lab_sandbox.count("token")
    evil = context.new_page()
    evil.goto(attacker)
    query = parse_qs(urlsplit(popup_consent).query)
    theirs = popup_consent.replace(query["state"][0], "attacker-state").replace(
        query["code_challenge"][0], "A" * 43
    )
    with evil.expect_popup() as opened:
        evil.evaluate("(url) => { window.w = window.open(url); }", theirs)
    landed = opened.value
    expect(landed.get_by_test_id("zapier-nb-callback-message")).to_contain_text(
        "No open notebook took the answer", timeout=15_000
    )
    assert evil.evaluate("() => window.received") == []
    read_location = (
        "() => { try { return String(window.w.location.href); } catch { return 'no'; } }"
    )
    assert evil.evaluate(read_location) == "no"
    assert lab_sandbox.count("token") == tokens, "no token request for another's answer"


REPO = Path(__file__).resolve().parent.parent


# Every link a person is shown after logging in: sign-up links from the magic and from
# Python, the sandbox's home page, "Configure more actions", and the consent page that
# `%zapier_login --wait` prints (run last: its prompt stays open).
LINK_CELLS = [
    "%zapier_login_link --first-name Grace --last-name Hopper --email grace@example.org",
    "import zapier_nb\nprint(zapier_nb.get_session().login_link("
    "first_name='Ada', last_name='L', email='ada2@example.org'))",
    "%zapier_actions",
    "from zapier_nb.widgets import LoginWidget\n"
    "LoginWidget(zapier_nb.Session(base_url=zapier_nb.get_session().base_url))",
    "%zapier_logout",
    "%zapier_login --wait",
]


def _assert_every_link_goes_through_the_server(
    page: Page, server: JupyterLab, state_dir: Path
) -> None:
    """Where the extension fronts the sandbox, no output or widget points at its own port."""
    first = len(["%load_ext", "%zapier_login", "%zapier_check"])
    for index in range(first, first + len(LINK_CELLS) - 1):
        run_cell(page, index)
    start(page, "notebook:run-cell-and-select-next")  # %zapier_logout again; selects the next
    start(page, "notebook:run-cell")  # %zapier_login --wait: waits at its prompt
    waiting = page.locator(".jp-OutputArea-output").filter(has_text="Open this address")
    expect(waiting).to_have_count(1, timeout=30_000)
    sandbox = next(
        line.split("=", 1)[1]
        for line in (state_dir / "sandbox.env").read_text().splitlines()
        if line.startswith("ZAPIER_BASE_URL=")
    )
    netloc = urlsplit(sandbox).netloc
    notebook = page.locator(".jp-Notebook")
    text = notebook.inner_text()
    hrefs = notebook.evaluate("n => [...n.querySelectorAll('a[href]')].map(a => a.href)")
    shown = [h for h in hrefs if netloc in h] + [
        # A printed address to open; the widget's header names the kernel's API base URL.
        line
        for line in text.splitlines()
        if f"{netloc}/" in line
    ]
    assert not shown, f"links to the sandbox's own port {netloc}: {shown}"
    proxied = server.url + "zapier-nb/sandbox/"
    assert any(h.startswith(proxied + "sandbox/sign-up/") for h in hrefs), hrefs
    assert proxied + "sandbox/actions/" in hrefs, "Configure more actions"
    assert proxied in hrefs, "the sandbox's home page"
    assert text.count(proxied) >= 3, text  # the printed sign-up link and consent URL too


def test_binder_start_a_person_approves_and_the_code_comes_back(
    browser: Browser, tmp_path: Path
) -> None:
    """As on Binder: binder/start runs the sandbox and the server; the browser reaches the
    consent page only through the server, and no autopilot approves for the person."""
    env = {
        "ZAPIER_NB_STATE_DIR": str(tmp_path / "state-dir"),
        "ZAPIER_NB_SANDBOX_PORT": "0",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    server = start_jupyterlab(
        tmp_path / "root",
        tmp_path / "state",
        env,
        "lab",
        wrapper=["bash", str(REPO / "binder/start")],
    )
    try:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        context.set_default_timeout(TIMEOUT_MS)
        # Every cell in the page, not only those in view: the links are read from the DOM.
        tracker = tmp_path / "state" / "settings" / "@jupyterlab" / "notebook-extension"
        tracker.mkdir(parents=True, exist_ok=True)
        (tracker / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
        page = context.new_page()
        # binder/start passes the sandbox's key as ZAPIER_NB_SANDBOX_API_KEY only: this
        # lesson is the OAuth one, as it would be in a fresh kernel.
        write_notebook(server.root / "binder.ipynb", ["%load_ext zapier_nb", "%zapier_login",
                       "%zapier_check", *LINK_CELLS])  # fmt: skip
        open_notebook(page, server, "binder.ipynb")
        start(page, "notebook:run-all-cells")  # stops at %zapier_check: not logged in yet
        widget = _cell(page, LOGIN).locator(".zapier-nb-login")
        expect(widget.get_by_test_id("zapier-nb-return")).to_contain_text(
            "comes back automatically", timeout=60_000
        )
        with page.expect_popup() as popup:
            widget.get_by_test_id("zapier-nb-login").click()
        consent = popup.value
        assert consent.url.startswith(server.url + "zapier-nb/sandbox/oauth/authorize/")
        consent.get_by_role("button", name="Approve").click()
        _logged_in(widget)
        _assert_every_link_goes_through_the_server(page, server, tmp_path / "state-dir")
        context.close()
    finally:
        server.stop()
    log = server.log.read_text()
    assert "zapier_nb sandbox running at" in log
    assert "sbx_code_" not in log
