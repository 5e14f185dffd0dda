"""A token answer claiming a huge or infinite lifetime: clamped when read, so the token's
expiry stays a date that `token_info`, the widget and a cached copy can all use."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from helpers import log_in

from zapier_nb import Session
from zapier_nb._models import MAX_TOKEN_LIFETIME
from zapier_nb.sandbox import Sandbox


def kernel(sandbox: Sandbox, cache_dir: Path) -> Session:
    return Session(
        client_id=sandbox.client_id,
        redirect_uri=sandbox.redirect_uri,
        base_url=sandbox.base_url,
        token_cache="read_write",
        token_cache_dir=cache_dir,
    )


@pytest.mark.parametrize("lifetime", ["1e308", "Infinity", "1e12"])
def test_a_huge_lifetime_is_clamped_and_every_later_kernel_can_show_it(
    sandbox: Sandbox, tmp_path: Path, lifetime: str
) -> None:
    session = kernel(sandbox, tmp_path / "tokens")
    redirected = sandbox.approve(session.begin_login())
    body = (
        '{"access_token": "sbx_at_forever", "refresh_token": "sbx_rt_forever", '
        f'"token_type": "Bearer", "scope": "openid", "expires_in": {lifetime}}}'
    )
    sandbox.fail_next("token", status=200, body=body)
    session.complete_login(redirected)
    info = session.token_info
    assert info is not None
    assert 0 < info.seconds_left() <= MAX_TOKEN_LIFETIME
    assert session.token_cache_path is not None
    cached = json.loads(session.token_cache_path.read_text())
    assert cached["expires_at"] <= time.time() + MAX_TOKEN_LIFETIME
    later = kernel(sandbox, tmp_path / "tokens")
    later_info = later.token_info
    assert later_info is not None
    assert later_info.expires_at == info.expires_at


def test_a_cached_token_with_an_expiry_past_any_date_is_ignored(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    session = kernel(sandbox, tmp_path / "tokens")
    log_in(session, sandbox)
    assert session.token_cache_path is not None
    entry = json.loads(session.token_cache_path.read_text())
    session.token_cache_path.write_text(json.dumps({**entry, "expires_at": 1e300}))
    later = kernel(sandbox, tmp_path / "tokens")
    assert later.token_info is None  # the entry is ignored, never a crash
