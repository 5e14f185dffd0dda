"""Fixtures of the whole suite. The sandbox server comes from zapier_nb's pytest plugin."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import audit, capture_everything

from zapier_nb import Session
from zapier_nb.sandbox import Sandbox


@pytest.fixture(scope="session", autouse=True)
def private_token_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep every session, kernel and subprocess of the run away from the user's token cache."""
    saved = os.environ.get("ZAPIER_NB_CACHE_DIR")
    os.environ["ZAPIER_NB_CACHE_DIR"] = str(tmp_path_factory.mktemp("token-cache"))
    yield
    if saved is None:
        os.environ.pop("ZAPIER_NB_CACHE_DIR", None)
    else:
        os.environ["ZAPIER_NB_CACHE_DIR"] = saved


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sandbox(zapier_sandbox: Sandbox) -> Sandbox:
    """The shared sandbox, its codes, tokens, counters and faults forgotten."""
    return zapier_sandbox


@pytest.fixture
def key_session(sandbox: Sandbox) -> Iterator[Session]:
    with Session(api_key=sandbox.api_key, base_url=sandbox.base_url) as session:
        yield session


@pytest.fixture
def oauth_session(sandbox: Sandbox) -> Iterator[Session]:
    with Session(
        client_id=sandbox.client_id,
        redirect_uri=sandbox.redirect_uri,
        base_url=sandbox.base_url,
        timeout=5,
    ) as session:
        yield session


@pytest.fixture
def quick(sandbox: Sandbox) -> Iterator[Session]:
    """An OAuth client and the API key, a half-second timeout and one retry: for faults."""
    with Session(
        client_id=sandbox.client_id,
        redirect_uri=sandbox.redirect_uri,
        api_key=sandbox.api_key,
        base_url=sandbox.base_url,
        timeout=0.5,
        max_retries=1,
    ) as session:
        yield session


@pytest.fixture
def caught() -> list[BaseException]:
    """Errors an audited test caught; the audit searches them too."""
    return []


@pytest.fixture
def audit_roots(tmp_path: Path) -> list[Path]:
    """The folders whose file names an audited test searches (a module may override it)."""
    return [tmp_path]


@pytest.fixture
def secret_audit(
    sandbox: Sandbox,
    audit_roots: list[Path],
    caught: list[BaseException],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[None]:
    """After the test: no secret the sandbox issued in the logs (at DEBUG), the output, the
    caught errors, or the names of the files under `audit_roots`.

    Use it with `pytestmark = pytest.mark.usefixtures("secret_audit")`."""
    capture_everything(caplog)
    yield
    captured = capsys.readouterr()
    audit(
        sandbox,
        caplog,
        roots=audit_roots,
        errors=caught,
        texts=[captured.out, captured.err],
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for a module's browser tests."""
    from lab_server import launch_chromium
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    """A fresh browser profile (cookies, storage) for one test."""
    ctx = browser.new_context(viewport={"width": 1200, "height": 900})
    ctx.set_default_timeout(20_000)
    yield ctx
    ctx.close()
