"""The token cache folder's whole path: links another user planted on the way, a link
into a folder others can change, a FIFO swapped in for the folder, a folder out of reach."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from cache_helpers import kernel
from helpers import log_in
from other_user import OtherUser, made_other_user

from zapier_nb import TokenCacheError
from zapier_nb._store import TokenStore
from zapier_nb.sandbox import Sandbox

REACH = """
import logging, sys, zapier_nb
logging.basicConfig(level=logging.WARNING, format="WARNING %(message)s")
try:
    session = zapier_nb.Session(client_id="c", redirect_uri="http://127.0.0.1:9/cb",
                                base_url="http://127.0.0.1:9", token_cache="read_write",
                                token_cache_dir=sys.argv[1])
    print("cache:", session.token_cache_path)
except BaseException as exc:
    print("raised", type(exc).__name__, exc)
"""


@pytest.fixture(scope="module")
def mallory() -> Iterator[OtherUser]:
    with made_other_user() as user:
        yield user


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_a_link_another_user_planted_on_the_way_is_not_followed(
    sandbox: Sandbox, home: Path, mallory: OtherUser, caplog: pytest.LogCaptureFixture
) -> None:
    private = home / "private"
    private.mkdir(mode=0o700)
    shared = Path(tempfile.mkdtemp(prefix="zapier-nb-sticky-", dir="/tmp"))
    try:
        shared.chmod(0o1777)  # like /tmp: anyone may add an entry
        link = shared / "zapier-cache"
        made = mallory.run_python(
            "import os, sys; os.symlink(sys.argv[1], sys.argv[2])", str(private), str(link)
        )
        assert made.returncode == 0, made.stderr
        session = kernel(sandbox, link / "tokens")
        assert session.token_cache_path is None
        assert any(f"goes through the link {link}" in w for w in warnings_of(caplog))
        log_in(session, sandbox)
        assert list(private.iterdir()) == []
    finally:
        link.unlink(missing_ok=True)
        shared.rmdir()


def test_a_link_into_a_folder_others_can_change_is_not_used(
    sandbox: Sandbox, home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    open_folder = home / "open"
    open_folder.mkdir()
    open_folder.chmod(0o777)
    (open_folder / "tokens").mkdir(mode=0o700)
    mine = home / "mine"
    mine.mkdir(mode=0o700)
    (mine / "cache").symlink_to(open_folder)
    session = kernel(sandbox, mine / "cache" / "tokens")
    assert session.token_cache_path is None
    assert any(f"lies inside {open_folder}" in w for w in warnings_of(caplog))
    log_in(session, sandbox)
    assert list((open_folder / "tokens").iterdir()) == []


def test_a_fifo_swapped_in_for_the_folder_does_not_hang_the_sync(home: Path) -> None:
    fifo = home / "tokens"
    os.mkfifo(fifo, 0o600)
    store = TokenStore(fifo, base_url="http://127.0.0.1:9", client_id="c", lock_wait=1)
    done = threading.Event()

    def sync() -> None:
        store._sync_directory()
        done.set()

    threading.Thread(target=sync, daemon=True).start()
    finished = done.wait(5)
    if not finished:  # release the blocked open, so the thread ends
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert finished, "syncing a FIFO in place of the cache folder blocked"


def test_a_folder_out_of_reach_is_named_with_what_to_do(mallory: OtherUser) -> None:
    locked = Path(tempfile.mkdtemp(prefix="zapier-nb-locked-", dir="/tmp"))  # 0700, not theirs
    try:
        ran = mallory.run_python(REACH, str(locked / "tokens"))
    finally:
        locked.rmdir()
    assert ran.returncode == 0, ran.stderr
    assert "raised" not in ran.stdout, ran.stdout
    assert "cache: None" in ran.stdout
    assert f"Cannot reach the token cache folder {locked / 'tokens'}" in ran.stderr
    assert "token_cache_dir=" in ran.stderr


def test_vetting_a_folder_out_of_reach_raises_a_token_cache_error(home: Path) -> None:
    store = TokenStore(
        home / ("x" * 300) / "tokens", base_url="http://127.0.0.1:9", client_id="c", lock_wait=1
    )
    with pytest.raises(TokenCacheError, match="Cannot reach the token cache folder"):
        store.vet()
