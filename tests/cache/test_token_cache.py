"""The on-disk token cache: modes, file safety, and two kernels sharing one login."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import time
from pathlib import Path

import pytest
from cache_helpers import TOKEN_FIELDS, cached_fields, kernel
from helpers import access_token, audit, log_in

from zapier_nb import (
    AuthenticationError,
    ConfigurationError,
    LoginRequiredError,
    Session,
    SessionExpiredError,
)
from zapier_nb._config import TokenCacheChoice, token_cache_choice
from zapier_nb.sandbox import Sandbox

pytestmark = pytest.mark.usefixtures("secret_audit")


# -- modes --------------------------------------------------------------------------------


def test_a_restarted_kernel_is_logged_in_without_a_new_consent(
    sandbox: Sandbox, cache_dir: Path
) -> None:
    first = kernel(sandbox, cache_dir)
    log_in(first, sandbox)
    first.close()

    restarted = kernel(sandbox, cache_dir)
    assert restarted.auth_method == "oauth"
    assert restarted.token_info is not None
    assert restarted.token_info.email == "ada@example.com"
    assert restarted.check().email == "ada@example.com"
    assert sandbox.count("consent") == 1
    assert sandbox.count("token:authorization_code") == 1


def test_files_are_private_and_hold_only_the_token_fields(
    sandbox: Sandbox, cache_dir: Path
) -> None:
    session = kernel(sandbox, cache_dir)
    log_in(session, sandbox)
    path = session.token_cache_path
    assert path is not None
    assert path.parent == cache_dir
    assert stat.S_IMODE(cache_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(cache_dir.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    entry = cached_fields(session)
    assert set(entry) == {"version", "base_url", "client_id", *TOKEN_FIELDS}
    assert entry["base_url"] == sandbox.base_url
    assert entry["client_id"] == sandbox.client_id
    assert entry["access_token"] == access_token(session)
    names = sorted(p.name for p in cache_dir.iterdir())
    assert names == [path.name, path.with_suffix(".lock").name]
    assert path.with_suffix(".lock").stat().st_size == 0
    text = path.read_text()
    verifiers_and_codes = [
        s for s in sandbox.issued_secrets() if not s.startswith(("sbx_at_", "sbx_rt_", "ey"))
    ]
    assert verifiers_and_codes
    assert not any(s in text for s in verifiers_and_codes)


def test_refreshes_are_written_back(sandbox: Sandbox, cache_dir: Path) -> None:
    session = kernel(sandbox, cache_dir)
    log_in(session, sandbox)
    session.refresh()
    assert cached_fields(session)["access_token"] == access_token(session)
    restarted = kernel(sandbox, cache_dir)
    restarted.refresh()  # the rotated refresh token, read from disk, is the live one
    assert restarted.check().success
    assert sandbox.count("token_error:invalid_grant") == 0


def test_reauth_ignores_the_cached_login_but_saves_the_new_one(
    sandbox: Sandbox, cache_dir: Path
) -> None:
    first = kernel(sandbox, cache_dir)
    log_in(first, sandbox)
    reauth = kernel(sandbox, "reauth", token_cache_dir=cache_dir)
    assert reauth.auth_method is None
    assert reauth.token_cache_path == first.token_cache_path
    log_in(reauth, sandbox)
    assert cached_fields(reauth)["access_token"] == access_token(reauth)
    assert kernel(sandbox, cache_dir).auth_method == "oauth"
    assert sandbox.count("consent") == 2


def test_none_never_touches_the_disk(
    sandbox: Sandbox, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZAPIER_NB_CACHE_DIR", str(home / "env-cache"))
    session = kernel(sandbox, "none")
    assert session.token_cache_path is None
    log_in(session, sandbox)
    session.refresh()
    session.logout()
    assert list(home.iterdir()) == []


def test_the_environment_chooses_mode_and_directory(
    sandbox: Sandbox, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZAPIER_NB_TOKEN_CACHE", "read-write")
    monkeypatch.setenv("ZAPIER_NB_CACHE_DIR", str(home / "env-cache"))
    first = Session.from_env(
        client_id=sandbox.client_id, redirect_uri=sandbox.redirect_uri, base_url=sandbox.base_url
    )
    log_in(first, sandbox)
    assert first.token_cache_path is not None
    assert first.token_cache_path.parent == home / "env-cache"
    monkeypatch.setenv("ZAPIER_NB_TOKEN_CACHE", "none")
    assert kernel(sandbox, None).auth_method is None
    assert kernel(sandbox, "read_write").auth_method == "oauth"


def test_the_default_is_the_user_config_dir_and_a_sandbox_caches_nothing(
    sandbox: Sandbox, home: Path
) -> None:
    remote = Session(client_id="cid", redirect_uri="https://app.example/cb/")
    assert remote.token_cache_path is not None
    assert remote.token_cache_path.parent == home / "config" / "zapier_nb" / "tokens"
    other_app = Session(client_id="other", redirect_uri="https://app.example/cb/")
    assert other_app.token_cache_path != remote.token_cache_path
    assert Session(api_key="k" * 20, base_url="https://actions.zapier.com").token_cache_path is None
    assert kernel(sandbox, None).token_cache_path is None
    assert not (home / "config").exists()  # constructing a session writes nothing


@pytest.mark.parametrize("value", ["readwrite", "disk", ""])
def test_an_unknown_mode_is_refused_with_the_choices(sandbox: Sandbox, value: str) -> None:
    with pytest.raises(ConfigurationError, match="'read_write', 'reauth' or 'none'"):
        kernel(sandbox, value)


def test_how_arguments_and_environment_combine() -> None:
    remote, local = "https://actions.zapier.com", "http://127.0.0.1:8765"
    env = {"ZAPIER_NB_CACHE_DIR": "/srv/cache"}
    assert token_cache_choice(None, base_url=remote, environ={}) == TokenCacheChoice("read_write")
    assert token_cache_choice(None, base_url=local, environ={}).mode == "none"
    assert token_cache_choice("Read-Write", base_url=local, environ=env) == TokenCacheChoice(
        "read_write", Path("/srv/cache")
    )
    assert token_cache_choice(
        None, base_url=remote, environ={**env, "ZAPIER_NB_TOKEN_CACHE": "reauth"}
    ) == TokenCacheChoice("reauth", Path("/srv/cache"))
    home = Path("~").expanduser()
    assert token_cache_choice("~/tokens", base_url=remote, environ=env) == TokenCacheChoice(
        "read_write", home / "tokens"
    )
    assert token_cache_choice(
        "reauth", base_url=remote, directory="/srv/t", environ=env
    ) == TokenCacheChoice("reauth", Path("/srv/t"))
    with pytest.raises(ConfigurationError, match="Give the directory once"):
        token_cache_choice(Path("/a"), base_url=remote, directory="/b", environ={})


# -- file safety --------------------------------------------------------------------------


def test_a_cache_file_others_can_read_is_refused_with_the_fix(
    sandbox: Sandbox, cache_dir: Path, caught: list[BaseException]
) -> None:
    session = kernel(sandbox, cache_dir)
    log_in(session, sandbox)
    path = session.token_cache_path
    assert path is not None
    path.chmod(0o644)
    with pytest.raises(ConfigurationError) as info:
        kernel(sandbox, cache_dir)
    assert f"chmod 600 {path}" in str(info.value)
    path.chmod(0o600)
    assert kernel(sandbox, cache_dir).check().success
    caught.append(info.value)


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root to chown")
def test_a_cache_file_owned_by_someone_else_is_refused(sandbox: Sandbox, cache_dir: Path) -> None:
    session = kernel(sandbox, cache_dir)
    log_in(session, sandbox)
    path = session.token_cache_path
    assert path is not None
    os.chown(path, 65534, -1)
    with pytest.raises(ConfigurationError, match="belongs to another user"):
        kernel(sandbox, cache_dir)


def test_a_damaged_cache_file_is_ignored_then_replaced(
    sandbox: Sandbox, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    probe = kernel(sandbox, cache_dir)
    path = probe.token_cache_path
    assert path is not None
    cache_dir.mkdir(parents=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b'{"version": 1, "access_token": "sbx_at_half-writ')
    os.close(fd)
    session = kernel(sandbox, cache_dir)
    assert session.auth_method is None
    assert any("ignoring the token cache file" in r.getMessage() for r in caplog.records)
    log_in(session, sandbox)
    assert kernel(sandbox, cache_dir).check().success


def test_a_failed_write_keeps_the_login_and_leaves_no_stray_file(
    sandbox: Sandbox,
    cache_dir: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    session = kernel(sandbox, cache_dir)
    with monkeypatch.context() as patch:
        patch.setattr(os, "replace", refuse)
        log_in(session, sandbox)
    assert session.check().success
    assert any("could not write the token cache" in r.getMessage() for r in caplog.records)
    assert [p.name for p in cache_dir.iterdir() if not p.name.endswith(".lock")] == []
    session.refresh()  # the disk works again: the refresh is saved
    assert kernel(sandbox, cache_dir).check().success


def test_logout_deletes_the_entry(sandbox: Sandbox, cache_dir: Path) -> None:
    session = kernel(sandbox, cache_dir)
    log_in(session, sandbox)
    path = session.token_cache_path
    assert path is not None
    assert path.exists()
    session.logout()
    assert not path.exists()
    assert kernel(sandbox, cache_dir).auth_method is None


def test_api_keys_are_never_written(sandbox: Sandbox, home: Path, cache_dir: Path) -> None:
    key_only = Session(api_key=sandbox.api_key, base_url=sandbox.base_url, token_cache=cache_dir)
    assert key_only.check().success
    key_only.logout()
    assert not cache_dir.exists()

    both = kernel(sandbox, cache_dir, api_key=sandbox.api_key)
    assert both.auth_method == "api_key"
    assert both.check().success
    log_in(both, sandbox)
    both.refresh()
    assert kernel(sandbox, cache_dir).check().success
    for path in home.rglob("*"):
        if path.is_file():
            assert sandbox.api_key.encode() not in path.read_bytes(), path


# -- kernels sharing one login ------------------------------------------------------------


def test_a_kernel_adopts_a_refresh_made_by_another(sandbox: Sandbox, cache_dir: Path) -> None:
    first = kernel(sandbox, cache_dir)
    log_in(first, sandbox)
    second = kernel(sandbox, cache_dir)
    first.refresh()  # spends the refresh token `second` holds in memory
    second.refresh()
    first.refresh()
    assert first.check().success
    assert second.check().success
    assert sandbox.count("token:refresh_token") == 3
    assert sandbox.count("token_error:invalid_grant") == 0


def test_a_due_token_refreshed_elsewhere_is_used_without_a_request(
    sandbox: Sandbox, cache_dir: Path
) -> None:
    sandbox.token_ttl = 1  # refresh due after half a second
    first = kernel(sandbox, cache_dir)
    log_in(first, sandbox)
    second = kernel(sandbox, cache_dir)
    third = kernel(sandbox, cache_dir)
    time.sleep(0.6)
    assert first.check().success
    assert second.check().success
    assert asyncio.run(third.acheck()).success
    assert sandbox.count("token:refresh_token") == 1
    assert access_token(first) == access_token(second) == access_token(third)


def test_a_401_after_a_refresh_elsewhere_adopts_it(sandbox: Sandbox, cache_dir: Path) -> None:
    first = kernel(sandbox, cache_dir)
    log_in(first, sandbox)
    second = kernel(sandbox, cache_dir)
    third = kernel(sandbox, cache_dir)
    sandbox.expire_access_tokens()
    assert first.check().success  # 401, refresh, retry
    assert second.check().success  # 401, the cache has a newer token: retry with it
    assert asyncio.run(third.acheck()).success
    assert sandbox.count("token:refresh_token") == 1
    assert sandbox.count("token_error:invalid_grant") == 0


def test_logout_in_one_kernel_ends_the_login_in_the_others(
    sandbox: Sandbox, cache_dir: Path
) -> None:
    first = kernel(sandbox, cache_dir)
    log_in(first, sandbox)
    second = kernel(sandbox, cache_dir)
    first.logout()
    assert second.check().success  # the token in memory is still good
    with pytest.raises(LoginRequiredError, match="ended elsewhere") as info:
        second.refresh()
    assert "Log in again" in str(info.value)
    with pytest.raises(LoginRequiredError):
        second.check()
    assert second.auth_method is None


def test_a_rejected_refresh_token_removes_the_entry(sandbox: Sandbox, cache_dir: Path) -> None:
    session = kernel(sandbox, cache_dir)
    log_in(session, sandbox)
    path = session.token_cache_path
    sandbox.revoke_refresh_tokens()
    with pytest.raises(SessionExpiredError, match="Log in again"):
        session.refresh()
    assert path is not None
    assert not path.exists()
    assert kernel(sandbox, cache_dir).auth_method is None


def test_a_login_the_server_forgot_ends_cleanly(sandbox: Sandbox, cache_dir: Path) -> None:
    log_in(kernel(sandbox, cache_dir), sandbox)
    sandbox.reset()  # as if the server had restarted and lost every grant
    stale = kernel(sandbox, cache_dir)
    assert stale.auth_method == "oauth"
    with pytest.raises(SessionExpiredError, match="Log in again"):
        stale.check()
    log_in(stale, sandbox)
    assert kernel(sandbox, cache_dir).check().success


def test_a_new_login_elsewhere_replaces_the_shared_one(sandbox: Sandbox, cache_dir: Path) -> None:
    first = kernel(sandbox, cache_dir)
    log_in(first, sandbox)
    second = kernel(sandbox, cache_dir)
    log_in(second, sandbox)
    first.refresh()  # takes up the newer login, then refreshes it
    assert access_token(first) == cached_fields(first)["access_token"]
    assert second.check().success
    second.refresh()
    assert sandbox.count("token_error:invalid_grant") == 0


def test_reprs_show_no_secret(
    sandbox: Sandbox, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    session = kernel(sandbox, cache_dir)
    log_in(session, sandbox)
    store = session._keeper.store
    texts = [repr(session), repr(store), repr(session._keeper.token), repr(session.token_info)]
    audit(sandbox, caplog, texts=texts)
    assert "token-" in repr(store)
    logging.getLogger("zapier_nb").debug("audited")


def test_checking_a_wrong_key_leaves_a_shared_login_alone(
    sandbox: Sandbox, cache_dir: Path, caught: list[BaseException]
) -> None:
    first = kernel(sandbox, cache_dir)
    log_in(first, sandbox)
    second = kernel(sandbox, "reauth", token_cache_dir=cache_dir)  # the file, not the login
    with pytest.raises(AuthenticationError) as info:
        second.check_api_key("sbx_key_a-typo")
    caught.append(info.value)
    assert second.auth_method is None
    assert first.token_cache_path is not None
    assert first.token_cache_path.exists()
    assert first.check().success
    assert second.check_api_key(sandbox.api_key).email == "ada@example.com"
    assert second.auth_method is None  # checked, not used


def test_a_session_with_no_credentials_takes_up_a_login_saved_since(
    sandbox: Sandbox, cache_dir: Path
) -> None:
    """The widget shown first in one notebook, the login done in another: the first
    session's next call works, and its subscribers hear of the login once."""
    waiting = kernel(sandbox, cache_dir)
    assert waiting.auth_method is None
    heard: list[str | None] = []
    waiting.subscribe(lambda: heard.append(waiting.auth_method))
    other = kernel(sandbox, cache_dir)
    log_in(other, sandbox)
    assert waiting.check().email == "ada@example.com"
    assert heard == ["oauth"]
    assert access_token(waiting) == access_token(other)
    assert sandbox.count("token") == 1


def test_a_logged_out_session_does_not_take_its_own_login_back(
    sandbox: Sandbox, cache_dir: Path
) -> None:
    session = kernel(sandbox, cache_dir)
    log_in(session, sandbox)
    session.logout()
    assert not session.take_up_shared_login()
    with pytest.raises(LoginRequiredError, match="was logged out") as info:
        session.check()
    assert "yet" not in str(info.value)
    other = kernel(sandbox, cache_dir)
    log_in(other, sandbox)
    assert session.take_up_shared_login()
    assert session.check().success
