"""Every tutorial runs top to bottom, teaches what it says, and saves no secret."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from zapier_nb.sandbox import Sandbox

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
SECRET_SHAPES = re.compile(
    r"sbx_(?:at|rt|key|code)_[A-Za-z0-9_\-]{16,}|eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}"
)
MACHINE_PATHS = re.compile(r"/(?:root|home|tmp|work|Users)/")


def execute(name: str, env: dict[str, str], tmp_path: Path) -> tuple[Any, str]:
    book = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        book, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute(env=env)
    executed = tmp_path / name
    nbformat.write(book, executed)
    return book, executed.read_text()


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
def sandbox_env(sandbox: Sandbox) -> dict[str, str]:
    """The environment `binder/start` and `scripts/demo.sh` give: a running sandbox."""
    return base_env() | {
        "ZAPIER_BASE_URL": sandbox.base_url,
        "ZAPIER_API_KEY": sandbox.api_key,
        "ZAPIER_CLIENT_ID": sandbox.client_id,
        "ZAPIER_REDIRECT_URI": sandbox.redirect_uri,
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
        "Invalid API key. Copy the key again",
    ],
    "02-oauth-pkce-login.ipynb": [
        "Authenticated by  OAuth 2.0 PKCE (Bearer token)",
        "Refresh token held    yes",
        "Logged in as ada@example.com",
        "Logged out of Zapier AI Actions.",
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
    "05-quick-account-creation.ipynb": [
        "/sandbox/sign-up/",
        "Email             grace@example.org",
        "Name              Grace Hopper",
    ],
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_tutorial_runs_and_teaches_what_it_says(
    name: str, sandbox: Sandbox, sandbox_env: dict[str, str], tmp_path: Path
) -> None:
    book, saved = execute(name, sandbox_env, tmp_path)
    text = outputs(book)
    assert "Using the local sandbox" in text
    for expected in EXPECTED[name]:
        assert expected in text, expected
    assert "Traceback" not in text
    assert_clean(saved, sandbox)


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
    assert book.metadata["kernelspec"]["name"] == "python3"
    for cell in book.cells:
        if cell.cell_type == "code":
            assert cell.outputs == []
            assert cell.execution_count is None
    text = path.read_text()
    assert not MACHINE_PATHS.search(text)
    assert not SECRET_SHAPES.search(text)
    assert "widgets" not in book.metadata
    assert book.cells[0].cell_type == "markdown"
