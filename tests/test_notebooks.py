"""Every tutorial runs top to bottom, teaches what it says, and saves no secret; its outputs
hold no long traceback and no path of this machine; and without a login, Run All stops at
a one-line message. Every notebook in `notebooks/` is checked, including ones added later."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from zapier_nb.sandbox import Sandbox

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SECRET_SHAPES = re.compile(
    r"sbx_(?:at|rt|key|code)_[A-Za-z0-9_\-]{16,}|eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}"
)
MACHINE_PATHS = re.compile(r"/(?:root|home|tmp|work|Users)/")
# A file path in an output: a traceback's frames, or a place on this machine.
OUTPUT_PATHS = re.compile(
    r"(?<![\w.:/])/(?:root|home|tmp|work|Users|usr|opt|var|srv|mnt|private)/|[A-Z]:\\\w"
)
ALL_NOTEBOOKS = sorted(path.name for path in NOTEBOOKS.glob("*.ipynb"))
FULL_LANGUAGE_INFO = {
    "codemirror_mode", "file_extension", "mimetype", "name", "nbconvert_exporter",
    "pygments_lexer", "version",
}  # fmt: skip


def execute(name: str, env: dict[str, str], tmp_path: Path) -> tuple[Any, str]:
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        book, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute(env=env)
    executed = tmp_path / name
    nbformat.write(book, executed)
    return book, executed.read_text()


def assert_readable_outputs(book: Any) -> None:
    """No output holds a traceback of more than a few lines, or a path of this machine."""
    for number, cell in enumerate(book.cells):
        for out in cell.get("outputs", []):
            where = f"cell {number}"
            if out.get("output_type") == "error":
                assert len(out["traceback"]) <= 3, (
                    f"{where}: a {len(out['traceback'])}-line traceback"
                )
            text = "\n".join(
                [out.get("text", ""), *out.get("traceback", [])]
                + [str(value) for value in out.get("data", {}).values()]
            )
            assert "Traceback (most recent call last)" not in text, where
            found = OUTPUT_PATHS.search(text)
            context = "" if found is None else text[found.start() - 40 : found.end() + 40]
            assert found is None, f"{where} shows a path of this machine: {context!r}"


def outputs(book: Any) -> str:
    parts: list[str] = []
    for cell in book.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts += [str(value) for value in out.get("data", {}).values()]
            parts += [out.get("ename", ""), out.get("evalue", "")]
    return "\n".join(parts)


def base_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZAPIER_")}
    env["ZAPIER_NB_AUTOPILOT"] = "1"
    return env


@pytest.fixture
def sandbox_env(sandbox: Sandbox, tmp_path: Path) -> dict[str, str]:
    """The environment `binder/start` and `scripts/demo.sh` give: a running sandbox, and a
    token cache of their own."""
    tokens = tmp_path / "tokens"
    tokens.mkdir(mode=0o700)
    return base_env() | {
        "ZAPIER_BASE_URL": sandbox.base_url,
        "ZAPIER_API_KEY": sandbox.api_key,
        "ZAPIER_CLIENT_ID": sandbox.client_id,
        "ZAPIER_REDIRECT_URI": sandbox.redirect_uri,
        "ZAPIER_NB_TOKEN_CACHE": "read_write",
        "ZAPIER_NB_CACHE_DIR": str(tokens),
        **sandbox.mcp.settings(),
    }


def assert_clean(saved: str, sandbox: Sandbox | None) -> None:
    assert not SECRET_SHAPES.search(saved)
    if sandbox is not None:
        leaked = [secret[:8] for secret in sandbox.issued_secrets() if secret in saved]
        assert leaked == []


EXPECTED = {
    "01-quick-start-api-key.ipynb": [
        "Email             ada@example.com",
        "Authenticated by  API key (x-api-key header)",
        "Email:   ada@example.com",
        "HTTP 401: Invalid API key. Copy the key again from https://actions.zapier.com/credentials/",
    ],
    "02-oauth-pkce-login.ipynb": [
        "Authenticated by  OAuth 2.0 PKCE (Bearer token)",
        "Refresh token held    yes",
        "Logged in as ada@example.com",
        "The new access token is valid until",
        "A login here serves every notebook that uses this sandbox",
        "Zapier AI Actions: redirect URI to register",
    ],
    "03-pkce-under-the-hood.ipynb": [
        "86 characters",
        "state matches:  True",
        "'access_token': '*** (",
        "'email': 'ada@example.com'",
        "'error': 'invalid_grant'",
        "CheckAuthResponse(success=True, email='ada@example.com'",
        "without the verifier:  HTTP 400 invalid_request",
        "with a wrong verifier: HTTP 400 invalid_grant",
        "first use:  HTTP 200",
        "second use: HTTP 400 invalid_grant",
        "the first use's access token now: HTTP 401",
        "refused before any request: StateMismatchError",
        "the genuine answer still works: ada@example.com",
    ],
    "04-calling-endpoints.ipynb": [
        "sent: Bearer ***",
        "20 calls answered for {'ada@example.com'}",
        "refresh requests: 1",
        "refresh requests: 2",
        "Your Zapier login has ended",
    ],
    "06-run-ai-actions.ipynb": [
        "Gmail: Send Email",
        "spreadsheet, lookup_column, lookup_value",
        "preview",
        "'to': 'grace@example.org'",
        "Analytical Engine manual",
        ">Order</th>",
        "Apollo guidance poster",
        "3 inputs in",
        "3 success",
        "error -> Missing required input 'to'",
        "HTTP 422 - params has an unknown input 'colour'",
        "matches 2 actions",
        "rated success run",
    ],
    "07-zapier-mcp.ipynb": [
        "MCPSession(auth='token'",
        "spreadsheet, lookup_column, lookup_value",
        "Analytical Engine manual",
        "Export your data as CSV",
        "tool error -> Missing to",
        "3 inputs in",
        "1 error, 2 success",
        "Your order is processing",
        "Logged in by oauth - 3 tools",
        "[1, 1]",
    ],
    "05-quick-account-creation.ipynb": [
        "/sandbox/sign-up/",
        "Open this sign-up link, or the one in the table below",
        "Logged in as grace@example.org.",
        "Email             grace@example.org",
        "Name              Grace Hopper",
    ],
}


@pytest.mark.parametrize("name", ALL_NOTEBOOKS)
def test_tutorial_runs_and_teaches_what_it_says(
    name: str, sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    book, saved = execute(name, sandbox_env, tmp_path)
    text = outputs(book)
    assert "Using the local sandbox" in text
    for expected in EXPECTED.get(name, []):
        assert expected in text, expected
    assert "Traceback" not in text
    assert "already loaded" not in text
    assert_readable_outputs(book)
    assert_clean(saved, sandbox)


# What Run All says where it stops for want of a login, in the tutorials that stop.
POLITE_STOPS = {
    "02-oauth-pkce-login.ipynb": "Not logged in yet: log in with the widget above",
    "04-calling-endpoints.ipynb": "LoginRequiredError: This session has no credentials yet.",
    "07-zapier-mcp.ipynb": "LoginRequiredError: This MCP session is not logged in.",
}


@pytest.mark.parametrize("name", ALL_NOTEBOOKS)
def test_run_all_without_a_login_stops_at_one_sentence(
    name: str, sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    """As a person's Run All before logging in: no sandbox playing the consenting user."""
    env = sandbox_env | {"ZAPIER_NB_AUTOPILOT": "0"}
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        book, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    try:
        client.execute(env=env)
    except CellExecutionError as error:
        if error.ename == "StdinNotImplementedError":
            return  # a prompt (getpass): a person answers it; an executor cannot
        stopped = True
    else:
        stopped = False
    assert_readable_outputs(book)
    if name in POLITE_STOPS:
        assert stopped, "Run All went on without a login"
        said = "\n".join(
            [out.get("text", "") for cell in book.cells for out in cell.get("outputs", [])]
            + [
                line
                for cell in book.cells
                for out in cell.get("outputs", [])
                for line in out.get("traceback", [])
            ]
        )
        assert POLITE_STOPS[name] in re.sub(r"\x1b\[[0-9;]*m", "", said)


def test_without_any_settings_a_sandbox_starts_in_the_kernel(tmp_path: Path) -> None:
    book, saved = execute("01-quick-start-api-key.ipynb", base_env(), tmp_path)
    text = outputs(book)
    assert "(started in this kernel)" in text
    assert "Email             ada@example.com" in text
    assert_clean(saved, None)


def test_the_widget_state_saved_by_the_executor_holds_no_secret(
    sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    _, saved = execute("02-oauth-pkce-login.ipynb", sandbox_env, tmp_path)
    widgets = json.loads(saved)["metadata"]["widgets"]
    state = json.dumps(widgets)
    assert "zapier-nb-code" in state
    assert_clean(state, sandbox)


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_committed_notebooks_are_clean(path: Path) -> None:
    book = nbformat.read(path, as_version=4)
    nbformat.validate(book)
    assert book.metadata["kernelspec"] == {
        "display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3",
    }  # fmt: skip
    assert set(book.metadata["language_info"]) == FULL_LANGUAGE_INFO
    assert path.read_text() == nbformat.writes(book) + "\n", "not in the form Jupyter saves"
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == []
            assert cell.execution_count is None
    text = path.read_text()
    assert not MACHINE_PATHS.search(text)
    assert not SECRET_SHAPES.search(text)
    assert "widgets" not in book.metadata
    assert book.cells[0].cell_type == "markdown"
