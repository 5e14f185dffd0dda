"""The token cache against a hostile folder: links, FIFOs, junk, folders others can change.

Each case plays what another user (or a careless script) could leave at the cache's
predictable paths, and checks that no other file is touched, nothing hangs or crashes,
no refresh token is spent without the lock, and the message names the folder and the fix.
"""

from __future__ import annotations

import importlib.metadata
import logging
import os
import stat
import threading
from pathlib import Path

import pytest
from cache_helpers import kernel
from helpers import log_in

from zapier_nb import LoginRequiredError, Session, TokenCacheError
from zapier_nb._store import entry_stem
from zapier_nb.sandbox import Sandbox

pytestmark = pytest.mark.usefixtures("secret_audit")

VICTIM_TEXT = "precious data that must survive\n"


def entry_paths(sandbox: Sandbox, cache_dir: Path) -> tuple[Path, Path]:
    stem = entry_stem(sandbox.base_url, sandbox.client_id)
    return cache_dir / f"{stem}.json", cache_dir / f"{stem}.lock"


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file of the user's that a planted link points at."""
    path = tmp_path / "victim.txt"
    path.write_text(VICTIM_TEXT)
    path.chmod(0o644)
    return path


def assert_untouched(victim: Path) -> None:
    assert victim.read_text() == VICTIM_TEXT
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644


def plant_link(lock: Path, victim: Path) -> None:
    lock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock.unlink(missing_ok=True)
    lock.symlink_to(victim)


def test_the_package_requires_a_filelock_that_follows_no_links() -> None:
    requirements = importlib.metadata.requires("zapier_nb") or []
    assert any(r.replace(" ", "").startswith("filelock>=3.20.1") for r in requirements)


def test_a_link_at_the_lock_path_touches_nothing_and_a_new_login_stays_in_memory(
    sandbox: Sandbox, cache_dir: Path, victim: Path, caplog: pytest.LogCaptureFixture
) -> None:
    _, lock = entry_paths(sandbox, cache_dir)
    plant_link(lock, victim)
    session = kernel(sandbox, cache_dir)
    log_in(session, sandbox)
    assert_untouched(victim)
    assert session.check().email == "ada@example.com"
    assert session.token_cache_path is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(lock) in w and "stops using the token cache" in w for w in warnings)
    session.refresh()  # no other process can hold this login: refreshing without the lock is safe
    assert_untouched(victim)


def test_a_cached_login_is_not_refreshed_without_the_lock(
    sandbox: Sandbox, cache_dir: Path, victim: Path, caught: list[BaseException]
) -> None:
    first = kernel(sandbox, cache_dir)
    log_in(first, sandbox)
    second = kernel(sandbox, cache_dir)  # shares the cached login, as another kernel would
    assert second.auth_method == "oauth"
    _, lock = entry_paths(sandbox, cache_dir)
    plant_link(lock, victim)
    sandbox.expire_access_tokens()
    with pytest.raises(TokenCacheError) as info:
        second.check()
    caught.append(info.value)
    assert "could spend a refresh token another kernel is using" in info.value.message
    assert str(lock) in info.value.message
    assert sandbox.count("token:refresh_token") == 0
    assert_untouched(victim)
    lock.unlink()  # the folder mended, the same session goes on
    assert second.check().email == "ada@example.com"
    assert sandbox.count("token:refresh_token") == 1


def test_a_fifo_at_the_entry_path_does_not_hang_the_session(
    sandbox: Sandbox, cache_dir: Path, caught: list[BaseException]
) -> None:
    entry, _ = entry_paths(sandbox, cache_dir)
    cache_dir.mkdir(parents=True, mode=0o700)
    os.mkfifo(entry, 0o600)
    outcome: list[BaseException | Session] = []

    def construct() -> None:
        try:
            outcome.append(kernel(sandbox, cache_dir))
        except BaseException as exc:
            outcome.append(exc)

    worker = threading.Thread(target=construct, daemon=True)
    worker.start()
    worker.join(10)
    assert not worker.is_alive(), "Session() blocked on a FIFO at the cache path"
    error = outcome[0]
    assert isinstance(error, TokenCacheError)
    caught.append(error)
    assert "not a regular file" in error.message
    assert f"rm {entry}" in error.message


def test_deeply_nested_junk_in_the_entry_is_ignored_not_a_crash(
    sandbox: Sandbox, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    entry, _ = entry_paths(sandbox, cache_dir)
    cache_dir.mkdir(parents=True, mode=0o700)
    descriptor = os.open(entry, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(descriptor, b"[" * 60_000)
    os.close(descriptor)
    session = kernel(sandbox, cache_dir)
    assert session.auth_method is None
    assert any("not JSON" in r.getMessage() for r in caplog.records)
    log_in(session, sandbox)
    assert kernel(sandbox, cache_dir).check().success


@pytest.mark.parametrize("mode", [0o770, 0o707, 0o777])
def test_a_cache_folder_others_can_write_to_is_not_used(
    sandbox: Sandbox, cache_dir: Path, mode: int, caplog: pytest.LogCaptureFixture
) -> None:
    cache_dir.mkdir(parents=True, mode=0o700)
    cache_dir.chmod(mode)
    session = kernel(sandbox, cache_dir)
    assert session.token_cache_path is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(str(cache_dir) in w and f"chmod 700 {cache_dir}" in w for w in warnings)
    log_in(session, sandbox)
    assert session.check().success
    assert list(cache_dir.iterdir()) == []


def test_a_folder_inside_one_others_can_change_is_not_used(
    sandbox: Sandbox, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = home / "shared"
    shared.mkdir(mode=0o700)
    shared.chmod(0o777)
    session = kernel(sandbox, shared / "tokens")
    assert session.token_cache_path is None
    assert any(f"lies inside {shared}" in r.getMessage() for r in caplog.records)
    log_in(session, sandbox)
    assert not (shared / "tokens").exists()


def test_a_folder_inside_a_sticky_shared_one_like_tmp_is_used(sandbox: Sandbox, home: Path) -> None:
    shared = home / "tmp-like"
    shared.mkdir(mode=0o700)
    shared.chmod(0o1777)
    session = kernel(sandbox, shared / "tokens")
    log_in(session, sandbox)
    assert session.token_cache_path is not None
    assert session.token_cache_path.exists()


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root to chown")
def test_a_cache_folder_of_another_user_is_not_used(sandbox: Sandbox, cache_dir: Path) -> None:
    cache_dir.mkdir(parents=True, mode=0o700)
    os.chown(cache_dir, 65534, -1)
    assert kernel(sandbox, cache_dir).token_cache_path is None


def test_a_folder_opened_up_after_login_stops_the_writes_and_keeps_the_login(
    sandbox: Sandbox, cache_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    session = kernel(sandbox, cache_dir)
    cache_dir.mkdir(parents=True, mode=0o700)
    cache_dir.chmod(0o777)
    log_in(session, sandbox)
    assert session.check().success
    assert not any(cache_dir.glob("*.json"))
    assert any("stops using the token cache" in r.getMessage() for r in caplog.records)


def test_logout_still_deletes_the_entry_when_the_lock_is_gone(
    sandbox: Sandbox, cache_dir: Path, victim: Path
) -> None:
    session = kernel(sandbox, cache_dir)
    log_in(session, sandbox)
    entry, lock = entry_paths(sandbox, cache_dir)
    plant_link(lock, victim)
    session.logout()
    assert not entry.exists()
    assert_untouched(victim)
    with pytest.raises(LoginRequiredError):
        session.check()
