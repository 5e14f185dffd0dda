"""Sessions as freshly started kernels make them, and what their cache files hold."""

from __future__ import annotations

import json
from pathlib import Path

from zapier_nb import Session
from zapier_nb.sandbox import Sandbox

TOKEN_FIELDS = {"access_token", "refresh_token", "id_token", "scope", "lifetime", "expires_at"}


def kernel(sandbox: Sandbox, cache: str | Path | None, **options: object) -> Session:
    """A session as a freshly started kernel would make it."""
    return Session(
        client_id=sandbox.client_id,
        redirect_uri=sandbox.redirect_uri,
        base_url=sandbox.base_url,
        token_cache=cache,
        timeout=5,
        **options,  # type: ignore[arg-type]
    )


def cached_fields(session: Session) -> dict[str, object]:
    assert session.token_cache_path is not None
    entry = json.loads(session.token_cache_path.read_text())
    assert isinstance(entry, dict)
    return entry
