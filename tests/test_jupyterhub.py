"""A real JupyterHub with two users, each in a browser of their own, logging in through the
one redirect URI registered for the whole hub: /hub/user-redirect/zapier-nb/callback.

The hub (PyPI's jupyterhub, the pure-Python configurable-http-proxy) and the sandbox run
on free loopback ports. Each user's code comes back to their own server's callback page
and their own widget; another user and an anonymous browser are refused the callback; each
token cache stays in its owner's home, 0600 (and, run as root with real users, unreadable
by the other); JupyterHub's own log is read for what it shows of the code.
"""

from __future__ import annotations

import pwd
import stat
import subprocess
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx2
import pytest
from hub_server import Hub, free_port, start_hub, stop_hub
from lab_server import _KERNEL_READY, NEEDS_CHROMIUM, secrets_in_files, write_notebook
from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from zapier_nb.sandbox import Sandbox, SandboxUser

ALICE, BOB = "zapnb-alice", "zapnb-bob"
EMAILS = {ALICE: "alice@example.org", BOB: "bob@example.org"}
SANDBOX_IDS = {ALICE: 2001, BOB: 2002}
NOTEBOOK = "login.ipynb"
TIMEOUT_MS = 60_000

pytestmark = NEEDS_CHROMIUM


@pytest.fixture(scope="module")
def hub_sandbox() -> Iterator[Sandbox]:
    users = [SandboxUser(SANDBOX_IDS[u], EMAILS[u], u.split("-")[1].title()) for u in (ALICE, BOB)]
    with Sandbox(users=users) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def hub(hub_sandbox: Sandbox) -> Iterator[Hub]:
    port = free_port()
    # The admin's one registration for every user of the hub.
    redirect_uri = f"http://127.0.0.1:{port}/hub/user-redirect/zapier-nb/callback"
    hub_sandbox.add_redirect_uri(redirect_uri)
    environment = {
        "ZAPIER_BASE_URL": hub_sandbox.base_url,
        "ZAPIER_CLIENT_ID": hub_sandbox.client_id,
        "ZAPIER_REDIRECT_URI": redirect_uri,
        "ZAPIER_NB_TOKEN_CACHE": "read_write",
    }
    server = start_hub([ALICE, BOB], environment, port)
    yield server
    stop_hub(server)


def _context(browser: Browser, hub_sandbox: Sandbox, user: str | None) -> BrowserContext:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    if user is not None:
        # The sandbox's consent page acts for whoever its cookie names: this user's account.
        context.add_cookies(
            [
                {
                    "name": "sandbox_user",
                    "value": hub_sandbox.user_cookie(EMAILS[user]),
                    "url": hub_sandbox.base_url,
                }
            ]
        )
    return context


@pytest.fixture(scope="module")
def contexts(browser: Browser, hub_sandbox: Sandbox) -> Iterator[dict[str, BrowserContext]]:
    made = {user: _context(browser, hub_sandbox, user) for user in (ALICE, BOB)}
    yield made
    for context in made.values():
        context.close()


def _hub_login(page: Page, hub: Hub, user: str) -> None:
    page.goto(f"{hub.url}/hub/login")
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill("any")
    page.locator("input[type=submit], button[type=submit]").first.click()
    page.wait_for_url(f"**/user/{user}/lab**", timeout=120_000)


def _widget(page: Page) -> Locator:
    return page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".zapier-nb-login")


def _open_login(page: Page, hub: Hub, user: str) -> Locator:
    hub.write_as(user, NOTEBOOK, "")  # created by its owner, so the server may save it
    write_notebook(hub.home(user) / NOTEBOOK, ["%load_ext zapier_nb", "%zapier_login"])
    page.goto(f"{hub.url}/user/{user}/lab/tree/{NOTEBOOK}?reset")
    page.wait_for_function(_KERNEL_READY, arg=NOTEBOOK, timeout=TIMEOUT_MS, polling=100)
    page.evaluate("() => { void window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    widget = _widget(page)
    expect(widget.get_by_test_id("zapier-nb-return")).to_contain_text("comes back automatically")
    return widget


@pytest.fixture(scope="module")
def logged_in(
    hub: Hub, hub_sandbox: Sandbox, contexts: dict[str, BrowserContext]
) -> dict[str, tuple[Page, Locator, str]]:
    """Both users log in to the hub, open a notebook and log in with Zapier, in turn."""
    done: dict[str, tuple[Page, Locator, str]] = {}
    for user in (ALICE, BOB):
        page = contexts[user].new_page()
        _hub_login(page, hub, user)
        widget = _open_login(page, hub, user)
        with page.expect_popup() as popup:
            widget.get_by_test_id("zapier-nb-login").click()
        consent = popup.value
        assert consent.url.startswith(hub_sandbox.base_url + "/oauth/authorize/")
        expect(consent.locator("#user-email")).to_have_text(EMAILS[user])
        consent.get_by_role("button", name="Approve").click()
        consent.wait_for_url(f"**/user/{user}/zapier-nb/callback")
        expect(consent.get_by_test_id("zapier-nb-callback-message")).to_contain_text(
            "handed to your notebook"
        )
        expect(widget.get_by_test_id("zapier-nb-status")).to_contain_text(
            f"Logged in as {EMAILS[user]}", timeout=TIMEOUT_MS
        )
        consent.close()
        done[user] = (page, widget, consent.url)
    return done


def test_each_user_logs_in_through_the_one_hub_wide_uri_into_their_own_widget(
    hub: Hub, hub_sandbox: Sandbox, logged_in: dict[str, tuple[Page, Locator, str]]
) -> None:
    for user, (page, widget, landed) in logged_in.items():
        assert urlsplit(landed).path == f"/user/{user}/zapier-nb/callback"
        expect(widget.get_by_test_id("zapier-nb-status")).to_contain_text(EMAILS[user])
        page.evaluate("() => document.activeElement && document.activeElement.blur()")
        page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
        checkpoint = hub.home(user) / ".ipynb_checkpoints" / "login-checkpoint.ipynb"
        deadline = time.monotonic() + 30
        while not checkpoint.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert checkpoint.exists()
    assert hub_sandbox.count("token:authorization_code") == 2
    found, checked = secrets_in_files(list(hub.homes.values()), hub_sandbox.issued_secrets())
    assert any(path.name == "login-checkpoint.ipynb" for path in checked)
    # The token caches hold the tokens by design (and nothing else); no other file holds any.
    assert [f for f in found if "/.config/zapier_nb/tokens/token-" not in f] == []


def test_each_token_cache_is_its_owners_alone(
    hub: Hub, hub_sandbox: Sandbox, logged_in: dict[str, tuple[Page, Locator, str]]
) -> None:
    caches = {}
    not_tokens = [
        s for s in hub_sandbox.issued_secrets() if not s.startswith(("sbx_at_", "sbx_rt_", "eyJ"))
    ]
    assert any(s.startswith("sbx_code_") for s in not_tokens)
    for user in (ALICE, BOB):
        found = sorted((hub.home(user) / ".config/zapier_nb/tokens").glob("token-*.json"))
        assert len(found) == 1, f"{user} should have one cached login in their own home"
        mode = stat.S_IMODE(found[0].stat().st_mode)
        assert mode == 0o600
        text = found[0].read_text()
        assert '"access_token"' in text
        assert [s[:8] for s in not_tokens if s in text] == [], "no code or verifier is cached"
        caches[user] = found[0]
    if not hub.real_users:
        pytest.skip("one Unix account serves both users here: run as root to check who can read")
    for user, other in ((ALICE, BOB), (BOB, ALICE)):
        assert caches[user].stat().st_uid == pwd.getpwnam(user).pw_uid
        read = subprocess.run(
            ["cat", str(caches[user])], user=other, capture_output=True, text=True, check=False
        )
        assert read.returncode != 0
        assert "Permission denied" in read.stderr
        assert read.stdout == ""
        own = subprocess.run(
            ["cat", str(caches[user])], user=user, capture_output=True, text=True, check=False
        )
        assert own.returncode == 0
        assert '"access_token"' in own.stdout


def test_another_user_and_an_anonymous_browser_are_refused_the_callback(
    hub: Hub,
    hub_sandbox: Sandbox,
    browser: Browser,
    contexts: dict[str, BrowserContext],
    logged_in: dict[str, tuple[Page, Locator, str]],
) -> None:
    tokens = hub_sandbox.count("token")
    bob = contexts[BOB].new_page()
    answer = bob.goto(f"{hub.url}/user/{ALICE}/zapier-nb/callback?code=sbx_code_x&state=y")
    assert answer is not None
    assert answer.status == 403
    assert "zapier-nb-callback-message" not in bob.content()
    bob.close()

    anonymous = _context(browser, hub_sandbox, None)
    page = anonymous.new_page()
    page.goto(f"{hub.url}/hub/user-redirect/zapier-nb/callback?code=sbx_code_x&state=y")
    assert urlsplit(page.url).path == "/hub/login"
    page.goto(f"{hub.url}/user/{ALICE}/zapier-nb/callback?code=sbx_code_x&state=y")
    assert urlsplit(page.url).path == "/hub/login"
    anonymous.close()
    assert hub_sandbox.count("token") == tokens


def test_what_the_hubs_log_shows_of_the_code_and_why_that_is_harmless(
    hub: Hub, hub_sandbox: Sandbox, logged_in: dict[str, tuple[Page, Locator, str]]
) -> None:
    log = hub.log.read_text()
    codes = [s for s in hub_sandbox.issued_secrets() if s.startswith("sbx_code_")]
    assert len(codes) == 2
    for code in codes:
        lines = [line for line in log.splitlines() if code in line]
        # JupyterHub scrubs code and state from the request's own query, but not from the
        # `next=` of its redirect to the spawn page (as of JupyterHub 6.1); the single-user
        # server (jupyter_server) scrubs them everywhere.
        assert lines, "JupyterHub now hides the code: update docs/redirect-capture.md"
        assert all(" JupyterHub log:" in line for line in lines), lines
        assert all("next=%2Fuser%2F" in line and f"%3Fcode%3D{code}%26" in line for line in lines)
    redirect_uri = hub_sandbox.redirect_uris[0]
    # A code read from the log is worthless: spent already, and bound to a verifier that
    # never left the kernel.
    for code in codes:
        for verifier in ("x" * 43, "y" * 64):
            refused = httpx2.post(
                f"{hub_sandbox.base_url}/oauth/token/",
                data={
                    "client_id": hub_sandbox.client_id,
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": redirect_uri,
                    "code_verifier": verifier,
                },
                timeout=10,
            )
            assert refused.status_code == 400
            assert refused.json()["error"] == "invalid_grant"


def test_an_mcp_login_comes_back_to_the_users_own_server_by_itself(
    hub: Hub, hub_sandbox: Sandbox, logged_in: dict[str, tuple[Page, Locator, str]]
) -> None:
    """MCP registers its client on the spot: the widget registers the user's own callback
    page, and the code comes back there with nothing pasted."""
    page = logged_in[ALICE][0]
    name = "mcp.ipynb"
    hub.write_as(ALICE, name, "")
    write_notebook(
        hub.home(ALICE) / name,
        [
            f"import zapier_nb\nmcp = zapier_nb.MCPSession(url={hub_sandbox.mcp.url!r})\n"
            "mcp.login()",
            "print(len(mcp.list_tools()), 'tools by', mcp.auth_method)",
        ],
    )
    page.goto(f"{hub.url}/user/{ALICE}/lab/tree/{name}?reset")
    page.wait_for_function(_KERNEL_READY, arg=name, timeout=TIMEOUT_MS, polling=100)
    page.evaluate("() => { void window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    widget = page.locator(".jp-Notebook .jp-Cell").nth(0).locator(".zapier-nb-login")
    expect(widget.get_by_test_id("zapier-nb-return")).to_contain_text("comes back automatically")
    with page.expect_popup() as popup:
        widget.get_by_test_id("zapier-nb-login").click()
    consent = popup.value
    consent.get_by_role("button", name="Approve").click()
    consent.wait_for_url(f"**/user/{ALICE}/zapier-nb/callback?*")
    expect(consent.get_by_test_id("zapier-nb-callback-message")).to_contain_text(
        "handed to your notebook"
    )
    expect(widget.get_by_test_id("zapier-nb-status")).to_contain_text("Logged in to Zapier MCP")
    assert hub_sandbox.count("mcp_oauth:token:authorization_code") == 1
