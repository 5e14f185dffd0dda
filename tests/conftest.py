from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import pytest

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


@pytest.fixture(scope="session")
def sandbox_server() -> Iterator[Sandbox]:
    with Sandbox() as server:
        yield server


@pytest.fixture
def sandbox(sandbox_server: Sandbox) -> Sandbox:
    """The shared sandbox, its codes, tokens, counters and faults forgotten."""
    sandbox_server.reset()
    return sandbox_server


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


def log_in(session: Session, sandbox: Sandbox) -> None:
    """Play the whole PKCE login: consent approved, the redirected URL pasted back."""
    session.complete_login(sandbox.approve(session.begin_login()))


def assert_no_secrets(texts: Iterable[str], sandbox: Sandbox) -> None:
    secrets = sandbox.issued_secrets()
    assert secrets, "the scenario should have produced secrets to look for"
    for text in texts:
        for secret in secrets:
            assert secret not in text, f"a secret ({secret[:8]}...) leaked"
