"""The login journeys in a real browser: headless Chromium, JupyterLab or Notebook 7, a kernel,
the sandbox. Each journey runs once per front end, each front end with its own server.

What a user sees (the widget, the check table) and what reaches the disk: a notebook saved
while a secret is typed but not submitted, and after login, holds widget state but no key,
code, token or verifier, nor do its checkpoints or anything else under the server's root.
"""

from __future__ import annotations

import json
import os
import platform
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from lab_server import (
    NEEDS_CHROMIUM,
    JupyterLab,
    open_notebook,
    read_notebook,
    run_cell,
    save,
    start,
    start_jupyterlab,
    write_notebook,
)
from playwright.sync_api import (
    BrowserContext,
    FloatRect,
    Locator,
    Page,
    expect,
)

from zapier_nb.sandbox import Sandbox

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
# The README's pictures are refreshed with ZAPIER_NB_SCREENSHOTS=docs/screenshots; by default
# they go to a scratch folder, so a test run leaves the work tree as it was.
SCREENSHOTS = Path(
    os.environ.get("ZAPIER_NB_SCREENSHOTS") or tempfile.gettempdir() + "/zapier_nb-screenshots"
).resolve()
CELLS = ["%load_ext zapier_nb", "%zapier_login", "%zapier_check"]
LOGIN, CHECK = 1, 2  # cell indexes
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
TIMEOUT_MS = 20_000
_QUIET_SELECTION = """
() => {
  const notebook = window.jupyterapp.shell.currentWidget.content;
  notebook.deselectAll();
  notebook.activeCellIndex = 0;
  notebook.mode = "command";
}
"""

pytestmark = NEEDS_CHROMIUM


@pytest.fixture(scope="module")
def lab_sandbox(zapier_sandbox_server: Sandbox) -> Sandbox:
    """The session's sandbox, with faults and counters other tests may have left forgotten."""
    zapier_sandbox_server.reset()
    return zapier_sandbox_server


@pytest.fixture(scope="module", params=["lab", "notebook"])
def lab(
    request: pytest.FixtureRequest, lab_sandbox: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[JupyterLab]:
    base = tmp_path_factory.mktemp(request.param)
    env = {
        "ZAPIER_BASE_URL": lab_sandbox.base_url,
        "ZAPIER_CLIENT_ID": lab_sandbox.client_id,
        "ZAPIER_REDIRECT_URI": lab_sandbox.redirect_uri,
        # Kernels must not touch the user's own token cache, whatever its settings.
        "ZAPIER_NB_CACHE_DIR": str(base / "token-cache"),
        # The paste-back journey: the server does not front the sandbox, so nothing comes
        # back by itself (tests/test_browser_redirect.py has the automatic return).
        "ZAPIER_NB_SANDBOX_PROXY": "0",
    }
    server = start_jupyterlab(base / "root", base / "state", env, request.param)
    yield server
    server.stop()


def _cell(page: Page, index: int) -> Locator:
    return page.locator(".jp-Notebook .jp-Cell").nth(index)


def _open_and_run_all(page: Page, lab: JupyterLab, name: str) -> None:
    """Open the notebook, Run All before logging in: the widget, and the check says why not."""
    write_notebook(lab.root / name, CELLS)
    open_notebook(page, lab, name)
    start(page, "notebook:run-all-cells")
    expect(_cell(page, LOGIN).locator(".zapier-nb-login")).to_be_visible()
    expect(_cell(page, LOGIN).locator(".zapier-nb-status")).to_contain_text("Log")
    expect(_cell(page, CHECK).locator(".jp-OutputArea-output")).to_contain_text(
        "Not logged in yet: log in with the widget above"
    )


def _type_secret(field: Locator, text: str, cells: int = len(CELLS)) -> None:
    """Type key by key, as a person would: no notebook shortcut may take a key press."""
    box = field.locator("input.zapier-nb-secret-input")
    box.click()
    box.press_sequentially(text)
    expect(box).to_have_value(text)
    # Letters like a, b, x, m or d are notebook shortcuts; none may have touched the cells.
    expect(field.page.locator(".jp-Notebook .jp-Cell")).to_have_count(cells)
    expect(field.page.locator(".jp-Notebook .jp-CodeCell")).to_have_count(cells)


def _save_and_read(page: Page, lab: JupyterLab, name: str) -> str:
    """Save (and checkpoint) as Ctrl+S does; the file and its checkpoint, as one text.

    Both must hold the widgets' saved state, the secret fields' own models among them: a
    field that kept its value in a synced trait would put the secret here.
    """
    save(page)
    path = lab.root / name
    checkpoint = lab.root / ".ipynb_checkpoints" / f"{path.stem}-checkpoint.ipynb"
    for saved in (path, checkpoint):
        state = read_notebook(saved)["metadata"].get("widgets", {}).get(WIDGET_STATE, {})
        models = state.get("state", {}).values()
        classes = [c for model in models for c in model.get("state", {}).get("_dom_classes", [])]
        assert {"zapier-nb-login", "zapier-nb-code", "zapier-nb-key"} <= set(classes), saved
    return path.read_text() + checkpoint.read_text()


def _assert_nothing_secret_on_disk(lab: JupyterLab, sandbox: Sandbox, extra: list[str]) -> None:
    """No issued secret in any file the server, its kernels or the browser wrote."""
    secrets = [s for s in sandbox.issued_secrets() + extra if s]
    assert secrets
    checked = []
    for folder in (lab.root, lab.state):
        for path in sorted(folder.rglob("*")):
            if not path.is_file():
                continue
            data = path.read_bytes()
            checked.append(path.relative_to(folder.parent))
            for secret in secrets:
                assert secret.encode() not in data, f"a secret ({secret[:8]}...) is in {path}"
    notebooks = [p for p in checked if p.suffix == ".ipynb"]
    assert any(".ipynb_checkpoints" in p.parts for p in notebooks), checked


def _screenshot(page: Page, lab: JupyterLab, name: str, cells: list[Locator]) -> None:
    """A picture of just these cells, into SCREENSHOTS; the README's are JupyterLab's alone."""
    if lab.frontend != "lab":
        return
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate(_QUIET_SELECTION)  # no active-cell bar or cell toolbar in the picture
    cells[0].scroll_into_view_if_needed()
    page.mouse.move(0, 0)
    boxes = [box for box in (cell.bounding_box() for cell in cells) if box is not None]
    assert boxes, "the cells to photograph are not on the page"
    left = min(b["x"] for b in boxes)
    top = min(b["y"] for b in boxes)
    right = max(b["x"] + b["width"] for b in boxes)
    bottom = max(b["y"] + b["height"] for b in boxes)
    clip = FloatRect(x=left, y=top, width=right - left, height=bottom - top)
    page.screenshot(path=str(SCREENSHOTS / name), clip=clip, animations="disabled")


def test_oauth_login_in_jupyter(
    lab: JupyterLab, lab_sandbox: Sandbox, context: BrowserContext
) -> None:
    name = "oauth-login.ipynb"
    exchanges = lab_sandbox.count("token:authorization_code")  # the other front end's too
    page = context.new_page()
    _open_and_run_all(page, lab, name)
    widget = _cell(page, LOGIN).locator(".zapier-nb-login")
    expect(widget.locator(".zapier-nb-status")).to_contain_text("Click Log in with Zapier")
    _screenshot(page, lab, "login-widget.png", [_cell(page, LOGIN)])

    # The link-button opens the consent screen in a new tab; approving lands on the callback.
    with context.expect_page() as new_tab:
        widget.get_by_test_id("zapier-nb-login").click()
    consent = new_tab.value
    consent.get_by_role("button", name="Approve").click()
    consent.wait_for_url(f"{lab_sandbox.redirect_uri}**")
    redirected = consent.url
    code = parse_qs(urlsplit(redirected).query)["code"][0]
    consent.close()

    # Paste the whole address; save before submitting, as a user might with Ctrl+S.
    page.bring_to_front()
    code_field = widget.locator(".zapier-nb-code")
    _type_secret(code_field, redirected)
    saved = _save_and_read(page, lab, name)
    assert code not in saved
    assert redirected not in saved
    typed = code_field.locator("input.zapier-nb-secret-input").element_handle()
    assert typed.evaluate("el => el.value") == redirected
    code_field.get_by_role("button", name="Log in").click()
    assert typed.evaluate("el => el.value") == "", (
        "the page should clear the field as it sends the code"
    )
    status = widget.locator(".zapier-nb-status")
    expect(status).to_contain_text("Logged in as ada@example.com", timeout=30_000)
    expect(status).to_contain_text("The access token is valid until")

    run_cell(page, CHECK)
    table = _cell(page, CHECK).locator("table.zapier-nb-table")
    expect(table).to_contain_text("ada@example.com")
    expect(table).to_contain_text("OAuth 2.0 PKCE (Bearer token)")
    _screenshot(page, lab, "check-table.png", [_cell(page, LOGIN), _cell(page, CHECK)])

    saved = _save_and_read(page, lab, name)
    assert "OAuth 2.0 PKCE (Bearer token)" in saved
    assert lab_sandbox.count("token:authorization_code") == exchanges + 1
    _assert_nothing_secret_on_disk(lab, lab_sandbox, [code, redirected])


def test_api_key_login_in_jupyter(
    lab: JupyterLab, lab_sandbox: Sandbox, context: BrowserContext
) -> None:
    name = "api-key-login.ipynb"
    page = context.new_page()
    _open_and_run_all(page, lab, name)
    widget = _cell(page, LOGIN).locator(".zapier-nb-login")
    expect(widget).to_contain_text("Or use the local sandbox's API key")

    key_field = widget.locator(".zapier-nb-key")
    _type_secret(key_field, lab_sandbox.api_key)
    saved = _save_and_read(page, lab, name)
    assert lab_sandbox.api_key not in saved
    key_field.get_by_role("button", name="Use key").click()
    expect(widget.locator(".zapier-nb-status")).to_contain_text(
        "Logged in as ada@example.com with an API key", timeout=30_000
    )

    run_cell(page, CHECK)
    table = _cell(page, CHECK).locator("table.zapier-nb-table")
    expect(table).to_contain_text("ada@example.com")
    expect(table).to_contain_text("API key (x-api-key header)")

    _save_and_read(page, lab, name)
    _assert_nothing_secret_on_disk(lab, lab_sandbox, [lab_sandbox.api_key])


# -- the widget stays true --------------------------------------------------------------

TRUE_CELLS = ["%load_ext zapier_nb", "%zapier_login", "%zapier_check", "%zapier_logout"]
TRUE_LOGIN, TRUE_CHECK, TRUE_LOGOUT = 1, 2, 3
# Tall enough for a descender: a monospace line of 1.5 em or more inside the padding.
_ROOM_FOR_UNDERSCORES = """
(el) => {
  const style = getComputedStyle(el);
  const inner = el.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
  return inner / parseFloat(style.fontSize);
}
"""


def _consent(context: BrowserContext, widget: Locator, sandbox: Sandbox) -> str:
    """Open the consent screen from the widget, approve; the address landed on."""
    with context.expect_page() as new_tab:
        widget.get_by_test_id("zapier-nb-login").click()
    consent = new_tab.value
    consent.get_by_role("button", name="Approve").click()
    consent.wait_for_url(f"{sandbox.redirect_uri}**")
    code_box = consent.locator("#code")
    expect(code_box).to_have_value(re.compile(r"^sbx_code_"))
    assert code_box.evaluate(_ROOM_FOR_UNDERSCORES) >= 1.5, "the code field clips underscores"
    redirected = consent.url
    consent.close()
    return redirected


# Views ipywidgets marks as disconnected, drawn with its icon (a ::before), in the widget.
_DISCONNECTED_MARKS = """
(root) => [root, ...root.querySelectorAll(".jupyter-widgets-disconnected")]
  .filter((el) => el.classList.contains("jupyter-widgets-disconnected"))
  .filter((el) => el.offsetParent !== null)
  .filter((el) => !["none", "normal", ""].includes(getComputedStyle(el, "::before").content))
  .length
"""


def test_the_widget_stays_true_through_enter_logout_and_a_restart(
    lab: JupyterLab, lab_sandbox: Sandbox, context: BrowserContext
) -> None:
    name = "widget-stays-true.ipynb"
    write_notebook(lab.root / name, TRUE_CELLS)
    page = context.new_page()
    open_notebook(page, lab, name)
    run_cell(page, 0)
    run_cell(page, TRUE_LOGIN)
    widget = _cell(page, TRUE_LOGIN).locator(".zapier-nb-login")
    status = widget.locator(".zapier-nb-status")
    code_field = widget.locator(".zapier-nb-code")
    box = code_field.locator("input.zapier-nb-secret-input")
    message = code_field.locator(".zapier-nb-secret-message")

    # An empty Enter says what is missing; typing again clears it.
    box.click()
    box.press("Enter")
    expect(message).to_contain_text("The field was empty")
    box.press_sequentially("abc")
    expect(message).to_be_hidden()
    # Show lets you read what you pasted, Hide masks it again; it stays out of widget state.
    expect(box).to_have_attribute("type", "password")
    code_field.get_by_role("button", name="Show").click()
    expect(box).to_have_attribute("type", "text")
    code_field.get_by_role("button", name="Hide").click()
    expect(box).to_have_attribute("type", "password")
    box.fill("")
    expect(widget.locator(".zapier-nb-key").get_by_role("button", name="Show")).to_be_hidden()

    # Enter submits the pasted address.
    redirected = _consent(context, widget, lab_sandbox)
    page.bring_to_front()
    _type_secret(code_field, redirected, cells=len(TRUE_CELLS))
    box.press("Enter")
    expect(status).to_contain_text("Logged in as ada@example.com", timeout=30_000)
    run_cell(page, TRUE_CHECK)
    expect(_cell(page, TRUE_CHECK).locator("table.zapier-nb-table")).to_contain_text(
        "ada@example.com"
    )

    # Logout through the magic: the widget above shows the login controls, and they work.
    run_cell(page, TRUE_LOGOUT)
    expect(status).to_contain_text("Not logged in any more")
    expect(widget.get_by_test_id("zapier-nb-login")).to_be_visible()
    expect(widget.get_by_role("button", name="Log out")).to_have_count(0)
    _screenshot(page, lab, "widget-after-logout.png", [_cell(page, TRUE_LOGIN)])
    second = _consent(context, widget, lab_sandbox)
    page.bring_to_front()
    _type_secret(code_field, second, cells=len(TRUE_CELLS))
    box.press("Enter")
    expect(status).to_contain_text("Logged in as ada@example.com", timeout=30_000)

    # A restart: the widget left on the page stops saying "Logged in" and says what to do.
    start(page, "kernelmenu:restart")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    expect(status).to_contain_text(
        "not connected to a kernel any more", timeout=30_000, use_inner_text=True
    )
    expect(status).not_to_contain_text("Logged in", use_inner_text=True)
    expect(widget.get_by_role("button", name="Log out")).to_be_hidden()
    # One "disconnected" mark for the whole widget, not one per part of it.
    marks = widget.evaluate(_DISCONNECTED_MARKS)
    assert marks == 1, f"{marks} disconnected marks are shown"
    _screenshot(page, lab, "widget-after-restart.png", [_cell(page, TRUE_LOGIN)])
    page.wait_for_function(_KERNEL_IDLE, timeout=60_000)
    run_cell(page, 0)
    run_cell(page, TRUE_LOGIN)
    fresh = _cell(page, TRUE_LOGIN).locator(".zapier-nb-login")
    expect(fresh.locator(".zapier-nb-status")).to_contain_text("Not logged in.")
    expect(fresh.get_by_test_id("zapier-nb-login")).to_be_visible()

    saved = _save_and_read(page, lab, name)
    for secret in (redirected, second, parse_qs(urlsplit(second).query)["code"][0]):
        assert secret not in saved
    _assert_nothing_secret_on_disk(lab, lab_sandbox, [redirected, second])


_KERNEL_IDLE = """
() => {
  const ctx = window.jupyterapp.shell.currentWidget.sessionContext;
  const kernel = ctx.session && ctx.session.kernel;
  return !!kernel && kernel.connectionStatus === "connected" && ctx.kernelDisplayStatus === "idle";
}
"""


def test_a_doubled_paste_is_named_as_such(
    lab: JupyterLab, lab_sandbox: Sandbox, context: BrowserContext
) -> None:
    name = "doubled-paste.ipynb"
    write_notebook(lab.root / name, CELLS)
    page = context.new_page()
    open_notebook(page, lab, name)
    run_cell(page, 0)
    run_cell(page, LOGIN)
    widget = _cell(page, LOGIN).locator(".zapier-nb-login")
    redirected = _consent(context, widget, lab_sandbox)
    page.bring_to_front()
    code_field = widget.locator(".zapier-nb-code")
    _type_secret(code_field, redirected + redirected)
    code_field.locator("input.zapier-nb-secret-input").press("Enter")
    message = code_field.locator(".zapier-nb-secret-message")
    expect(message).to_be_visible()
    expect(message).not_to_contain_text("different login attempt")
    expect(message).to_contain_text("twice")


def test_the_tutorials_open_and_save_unchanged(
    lab: JupyterLab, context: BrowserContext, tmp_path: Path
) -> None:
    """Opening a tutorial and saving it without a change leaves the file as committed:
    through the server's contents API, and through the page (JupyterLab only)."""
    tutorials = sorted(NOTEBOOKS.glob("*.ipynb"))
    assert tutorials
    folder = lab.root / f"tutorials-{tmp_path.name}"
    folder.mkdir()
    for path in tutorials:
        (folder / path.name).write_bytes(path.read_bytes())
        where = f"api/contents/{folder.name}/{path.name}"
        model = lab.api("GET", f"{where}?content=1")
        lab.api("PUT", where, {"type": "notebook", "format": "json", "content": model["content"]})
        assert (folder / path.name).read_bytes() == path.read_bytes(), path.name
    if lab.frontend != "lab":
        return
    page = context.new_page()
    for path in tutorials:
        committed = json.loads(path.read_text())["metadata"]["language_info"]["version"]
        relative = f"{folder.name}/{path.name}"
        open_notebook(page, lab, relative)
        dirty = page.evaluate("() => window.jupyterapp.shell.currentWidget.context.model.dirty")
        save(page)
        saved = _without_empty_widget_state((folder / path.name).read_bytes())
        if platform.python_version() == committed:
            assert not dirty, f"{path.name} shows as modified as soon as it opens"
            assert saved == path.read_bytes(), f"saving {path.name} unchanged rewrote it"
        else:  # JupyterLab writes its kernel's Python version into the metadata
            assert saved.replace(platform.python_version().encode(), committed.encode()) == (
                path.read_bytes()
            )


def _without_empty_widget_state(saved: bytes) -> bytes:
    """The file as it would be saved with "Save Widget State Automatically" off (these tests
    turn it on): the empty widget state that setting adds, taken out again."""
    book = json.loads(saved)
    widgets = book["metadata"].pop("widgets", None)
    if widgets is None:
        return saved
    assert widgets[WIDGET_STATE]["state"] == {}, "a tutorial that was not run saved widgets"
    return (json.dumps(book, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()
