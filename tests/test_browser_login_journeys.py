"""The login journeys people met trouble with, in JupyterLab and Notebook 7, in headless Chromium.

- Deny, then click the button again, then Approve: logged in with nothing pasted.
- Deny, click again, then close the consent window without a choice: the button is offered
  with no stale warning.
- Two notebooks sharing a login through the token cache: the widget shown first in one,
  the login done in the other; the first notebook's next cell works and its widget follows.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from lab_server import (
    NEEDS_CHROMIUM,
    JupyterLab,
    open_notebook,
    run_cell,
    save,
    secrets_in_files,
    start,
    start_jupyterlab,
    write_notebook,
)
from playwright.sync_api import BrowserContext, Locator, Page, expect

from zapier_nb.sandbox import Sandbox

LOGIN, CHECK = 1, 2

pytestmark = NEEDS_CHROMIUM


@pytest.fixture(scope="module")
def lab_sandbox(zapier_sandbox_server: Sandbox) -> Sandbox:
    zapier_sandbox_server.reset()
    return zapier_sandbox_server


@pytest.fixture(scope="module", params=["lab", "notebook"])
def lab(
    request: pytest.FixtureRequest, lab_sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterLab]:
    base = tmp_path_factory.mktemp(f"journeys-{request.param}")
    env = {
        "ZAPIER_BASE_URL": lab_sandbox.base_url,
        "ZAPIER_CLIENT_ID": lab_sandbox.client_id,
        "ZAPIER_REDIRECT_URI": lab_sandbox.redirect_uri,
        # Kernels of this server share one login, as the demo's do.
        "ZAPIER_NB_TOKEN_CACHE": "read_write",
        "ZAPIER_NB_CACHE_DIR": str(base / "token-cache"),
    }
    server = start_jupyterlab(base / "root", base / "state", env, request.param)
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def logged_out(lab: JupyterLab) -> None:
    """Each journey starts with no shared login."""
    for entry in (lab.state.parent / "token-cache").glob("*.json"):
        entry.unlink()


def _cell(page: Page, index: int) -> Locator:
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def _open(page: Page, lab: JupyterLab, name: str) -> Locator:
    write_notebook(
        lab.root / name,
        ["%load_ext zapier_nb", "%zapier_login", "%zapier_check"],
    )
    open_notebook(page, lab, name)
    start(page, "notebook:run-all-cells")
    widget = _cell(page, LOGIN).locator(".zapier-nb-login")
    expect(widget.get_by_test_id("zapier-nb-login")).to_be_enabled(timeout=60_000)
    expect(widget.get_by_test_id("zapier-nb-return")).to_contain_text("comes back automatically")
    return widget


def _status(widget: Locator) -> Locator:
    return widget.get_by_test_id("zapier-nb-status")


def _logged_in(widget: Locator) -> None:
    expect(_status(widget)).to_contain_text("Logged in as ada@example.com", timeout=30_000)


def _state(url: str) -> str:
    return parse_qs(urlsplit(url).query)["state"][0]


def _consent_again(page: Page, widget: Locator, window: Page) -> Page:
    """Click the button again: the consent window, if still open, is reused."""
    before = window.url
    if window.is_closed():
        with page.expect_popup() as popup:
            widget.get_by_test_id("zapier-nb-login").click()
        return popup.value
    widget.get_by_test_id("zapier-nb-login").click()
    window.wait_for_url(lambda url: "/oauth/authorize/" in url and url != before)
    return window


def _audit(page: Page, lab: JupyterLab, sandbox: Sandbox, name: str) -> None:
    save(page)
    found, checked = secrets_in_files([lab.root], sandbox.issued_secrets())
    assert found == []
    assert lab.root / name in checked


def test_deny_then_the_button_again_then_approve_logs_in_with_nothing_pasted(
    lab: JupyterLab, lab_sandbox: Sandbox, context: BrowserContext
) -> None:
    tokens = lab_sandbox.count("token")
    exchanges = lab_sandbox.count("token:authorization_code")
    page = context.new_page()
    widget = _open(page, lab, "deny-retry.ipynb")
    with page.expect_popup() as popup:
        widget.get_by_test_id("zapier-nb-login").click()
    window = popup.value
    declined = _state(window.url)
    window.get_by_role("button", name="Deny").click()
    expect(_status(widget)).to_contain_text("Access was declined")
    assert lab_sandbox.count("token") == tokens
    window = _consent_again(page, widget, window)
    assert _state(window.url) != declined, "the declined attempt is never reopened"
    window.get_by_role("button", name="Approve").click()
    expect(window.get_by_test_id("zapier-nb-callback-message")).to_contain_text(
        "handed to your notebook"
    )
    _logged_in(widget)
    assert lab_sandbox.count("token:authorization_code") == exchanges + 1
    _audit(page, lab, lab_sandbox, "deny-retry.ipynb")


def test_a_consent_window_closed_without_a_choice_leaves_no_stale_warning(
    lab: JupyterLab, lab_sandbox: Sandbox, context: BrowserContext
) -> None:
    page = context.new_page()
    widget = _open(page, lab, "closed.ipynb")
    with page.expect_popup() as popup:
        widget.get_by_test_id("zapier-nb-login").click()
    window = popup.value
    window.get_by_role("button", name="Deny").click()
    expect(_status(widget)).to_contain_text("Access was declined")
    window = _consent_again(page, widget, window)
    window.close()
    expect(_status(widget)).not_to_contain_text("declined")
    expect(_status(widget)).to_contain_text("Not logged in")
    expect(widget.get_by_test_id("zapier-nb-login")).to_be_enabled()
    # And the button still works.
    with page.expect_popup() as popup:
        widget.get_by_test_id("zapier-nb-login").click()
    popup.value.get_by_role("button", name="Approve").click()
    _logged_in(widget)


@pytest.mark.parametrize("lab", ["lab"], indirect=True)
def test_a_login_made_in_another_notebook_reaches_the_widget_shown_first(
    lab: JupyterLab, lab_sandbox: Sandbox, context: BrowserContext
) -> None:
    first = context.new_page()
    waiting = _open(first, lab, "04-first.ipynb")
    expect(_status(waiting)).to_contain_text("Not logged in")
    second = context.new_page()
    other = _open(second, lab, "02-second.ipynb")
    with second.expect_popup() as popup:
        other.get_by_test_id("zapier-nb-login").click()
    popup.value.get_by_role("button", name="Approve").click()
    _logged_in(other)
    exchanges = lab_sandbox.count("token")
    first.bring_to_front()
    run_cell(first, CHECK)
    expect(_cell(first, CHECK).locator(".jp-OutputArea-output")).to_contain_text("ada@example.com")
    _logged_in(waiting)
    assert lab_sandbox.count("token") == exchanges, "taken up from the cache, no new login"
    _audit(first, lab, lab_sandbox, "04-first.ipynb")
