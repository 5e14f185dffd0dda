"""The Zapier MCP OAuth login in JupyterLab, in headless Chromium, against the sandbox's MCP
server: `mcp.login()` shows the widget, the button opens the MCP consent page, Approve,
and the code comes back by itself through this server's callback page (the extension):
nothing pasted. The saved notebook holds no secret the sandbox issued."""

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

LOGIN, USE = 0, 1

pytestmark = NEEDS_CHROMIUM


@pytest.fixture(scope="module", params=["direct", "fronted"])
def lab(
    request: pytest.FixtureRequest,
    zapier_sandbox_server: Sandbox,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[JupyterLab]:
    """JupyterLab whose kernels reach the sandbox's MCP server; "fronted": the server also
    serves the sandbox's pages to the browser (as on Binder, where only it is reachable)."""
    base = tmp_path_factory.mktemp(f"mcp-lab-{request.param}")
    env = {
        "ZAPIER_MCP_URL": zapier_sandbox_server.mcp.url,
        "ZAPIER_NB_CACHE_DIR": str(base / "token-cache"),
        "ZAPIER_NB_TOKEN_CACHE": "read_write",
    }
    if request.param == "fronted":
        env["ZAPIER_BASE_URL"] = zapier_sandbox_server.base_url
    server = start_jupyterlab(base / "root", base / "state", env, "lab")
    yield server
    server.stop()


def _cell(page: Page, index: int) -> Locator:
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def _status(widget: Locator) -> Locator:
    return widget.get_by_test_id("zapier-nb-status")


def test_the_mcp_login_comes_back_through_the_extension_with_nothing_pasted(
    request: pytest.FixtureRequest,
    lab: JupyterLab,
    zapier_sandbox_server: Sandbox,
    context: BrowserContext,
) -> None:
    sandbox = zapier_sandbox_server
    exchanges = sandbox.count("mcp_oauth:token:authorization_code")
    write_notebook(
        lab.root / "mcp-login.ipynb",
        [
            "import zapier_nb\nmcp = zapier_nb.MCPSession.from_env()\nmcp.login()",
            "print(len(mcp.list_tools()), 'tools by', mcp.auth_method)",
        ],
    )
    page = context.new_page()
    open_notebook(page, lab, "mcp-login.ipynb")
    start(page, "notebook:run-all-cells")
    widget = _cell(page, LOGIN).locator(".zapier-nb-login")
    expect(widget.get_by_test_id("zapier-nb-login")).to_be_enabled(timeout=60_000)
    expect(widget.get_by_test_id("zapier-nb-return")).to_contain_text("comes back automatically")
    # Run All got there first: not logged in yet, says how.
    expect(_cell(page, USE).locator(".jp-OutputArea-output")).to_contain_text("not logged in")

    consent = widget.locator(".zapier-nb-login-fallback a")  # hidden unless a popup is refused
    offered = consent.get_attribute("href") or ""
    # Registered on the spot: this server's callback page, as the browser reaches it.
    origin = urlsplit(lab.url)
    expected = f"{origin.scheme}://{origin.netloc}/zapier-nb/callback"
    assert parse_qs(urlsplit(offered).query)["redirect_uri"] == [expected]
    with page.expect_popup() as popup:
        widget.get_by_test_id("zapier-nb-login").click()
    window = popup.value
    fronted = request.node.callspec.params["lab"] == "fronted"
    expect_consent = lab.url + "zapier-nb/sandbox/" if fronted else sandbox.base_url + "/"
    assert offered.startswith(expect_consent + "authorize?")
    window.get_by_role("button", name="Approve").click()
    expect(window.get_by_test_id("zapier-nb-callback-message")).to_contain_text(
        "handed to your notebook"
    )
    expect(_status(widget)).to_contain_text("Logged in to Zapier MCP", timeout=30_000)
    assert sandbox.count("mcp_oauth:token:authorization_code") == exchanges + 1

    run_cell(page, USE)
    expect(_cell(page, USE).locator(".jp-OutputArea-output")).to_contain_text("3 tools by oauth")
    save(page)
    found, checked = secrets_in_files([lab.root], sandbox.issued_secrets())
    assert found == []
    assert lab.root / "mcp-login.ipynb" in checked
