"""The on-disk token cache: one JSON file per base URL and client id, shared by a user's kernels.

A file is written atomically (a temporary file in the same directory, fsync, then
`os.replace`) with mode 0600, in a directory created with mode 0700; a file that
other users could read is refused. The lock file beside it (`filelock`) lets the
kernels of one user take turns refreshing: a rotating refresh token must never be
spent twice. File names are digests of the base URL and client id; only the JSON
file holds secrets, and only the token fields a restarted kernel needs (and, for a client
the server registered dynamically, that registration, which the refresh token is bound to).

The directory must be private, as ssh requires of `~/.ssh`: owned by the user and
writable by no one else, inside folders that only their owner (the user or root) can
change, or that are sticky like `/tmp`. Otherwise another user could swap the entry or
plant a link where the lock file goes, and nothing is cached there.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shlex
import stat
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import filelock
import platformdirs
from pydantic import ValidationError

from ._errors import APITimeoutError, TokenCacheError
from ._models import Token

__all__ = ["TokenStore", "default_cache_dir", "entry_stem", "open_store"]

logger = logging.getLogger("zapier_nb")

FORMAT_VERSION = 1
_FILE_MODE = 0o600
_DIR_MODE = 0o700
_MAX_BYTES = 64 * 1024
_LOCK_POLL_SECONDS = 0.005
_TOKEN_FIELDS = ("access_token", "refresh_token", "id_token", "scope", "lifetime", "expires_at")
# No links followed, and a FIFO planted at the path cannot block the open.
_READ_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)

_DIRECTORY_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_DIRECTORY", 0)
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def default_cache_dir() -> Path:
    """Where tokens are cached unless told otherwise: the user's config directory."""
    return platformdirs.user_config_path("zapier_nb", appauthor=False) / "tokens"


def entry_stem(base_url: str, client_id: str) -> str:
    """The file name (without suffix) of the entry for this API and OAuth app."""
    digest = hashlib.sha256(f"{base_url}\n{client_id}".encode()).hexdigest()
    return f"token-{digest[:32]}"


def open_store(
    directory: Path | None, *, base_url: str, client_id: str, timeout: float, max_retries: int
) -> TokenStore | None:
    """The token cache for this API and client, or None when its folder is not private."""
    # Wait as long as another process's refresh may take: its requests, retries and backoff.
    lock_wait = timeout * (max_retries + 1) + 4.0 * max_retries + 10.0
    store = TokenStore(
        directory or default_cache_dir(),
        base_url=base_url,
        client_id=client_id,
        lock_wait=lock_wait,
    )
    try:
        store.vet()
    except TokenCacheError as exc:
        logger.warning("%s This session caches nothing.", exc.message)
        return None
    return store


class TokenStore:
    """Reads, writes and locks the cached token of one base URL and client id."""

    def __init__(self, directory: Path, *, base_url: str, client_id: str, lock_wait: float) -> None:
        self.directory = Path(directory)
        self._base_url = base_url
        self._client_id = client_id
        self._lock_wait = lock_wait
        stem = entry_stem(base_url, client_id)
        self.path = self.directory / f"{stem}.json"
        self.lock_path = self.directory / f"{stem}.lock"
        self._file_lock: filelock.BaseFileLock | None = None

    def __repr__(self) -> str:
        return f"TokenStore(path={str(self.path)!r})"

    # -- the entry ----------------------------------------------------------------------

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> tuple[bool, Token | None]:
        """Whether an entry exists, and its token (None if absent or unreadable)."""
        present, token, _ = self.read_entry()
        return present, token

    def read_entry(self) -> tuple[bool, Token | None, dict[str, Any] | None]:
        """`read()`, and the client registration saved with the token, if one was."""
        try:
            descriptor = os.open(self.path, _READ_FLAGS)
        except FileNotFoundError:
            return False, None, None
        except OSError as exc:
            raise self._unreadable(_reason(exc)) from None
        with os.fdopen(descriptor, "rb") as cache_file:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                raise self._unreadable("it is not a regular file")
            self._check_private(status)
            raw = cache_file.read(_MAX_BYTES + 1)
        token, client, problem = self._parse(raw)
        if problem:
            logger.warning(
                "ignoring the token cache file %s (%s); the next login or refresh replaces it",
                self.path,
                problem,
            )
        return True, token, client

    def load(self) -> Token | None:
        return self.read()[1]

    def save(self, token: Token, *, client: dict[str, Any] | None = None) -> None:
        """Write the entry atomically; raises OSError when the disk refuses. `client` is
        the registration the token was issued to (a client secret in it is kept as
        privately as the token)."""
        if self._file_lock is None or not self._file_lock.is_locked:
            self._ensure_directory()  # under the lock, taking it made and vetted the folder
        entry = self._entry(token)
        if client is not None:
            entry["client"] = client
        data = json.dumps(entry, indent=1).encode()
        descriptor, temporary = tempfile.mkstemp(
            prefix=".token-", suffix=".tmp", dir=self.directory
        )
        try:
            with os.fdopen(descriptor, "wb") as cache_file:
                if os.name == "posix":
                    os.fchmod(cache_file.fileno(), _FILE_MODE)
                cache_file.write(data)
                cache_file.flush()
                os.fsync(cache_file.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        self._sync_directory()

    def delete(self) -> None:
        """Remove the entry (the lock file stays: another process may be holding it)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        self._sync_directory()

    # -- the lock -----------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the lock shared with other processes (blocking, up to the lock wait).

        Raises `TokenCacheError` when the lock cannot be taken at all (a link or a file
        of another user at its path, a folder that cannot be written).
        """
        lock = self._lock()
        try:
            lock.acquire(timeout=self._lock_wait, poll_interval=_LOCK_POLL_SECONDS)
        except filelock.Timeout:
            raise self._lock_timeout() from None
        except OSError as exc:
            raise self._unlockable(exc) from None
        try:
            yield
        finally:
            lock.release()

    @contextlib.asynccontextmanager
    async def alocked(self) -> AsyncIterator[None]:
        """`locked()` for a coroutine: polls, so the event loop keeps running meanwhile."""
        import asyncio  # here, so that sync-only use never pays for importing asyncio

        lock = self._lock()
        deadline = time.monotonic() + self._lock_wait
        while True:
            try:
                lock.acquire(timeout=0)
                break
            except filelock.Timeout:
                if time.monotonic() >= deadline:
                    raise self._lock_timeout() from None
                await asyncio.sleep(_LOCK_POLL_SECONDS)
            except OSError as exc:
                raise self._unlockable(exc) from None
        try:
            yield
        finally:
            lock.release()

    def vet(self) -> None:
        """Raise `TokenCacheError` unless the directory (if it exists) and the folders
        above it are private enough to hold tokens: every folder and link on the path as
        written, and every folder on the path it resolves to (as ssh checks `~/.ssh`)."""
        if os.name != "posix":
            return
        try:
            written = self.directory.absolute()
            for component in reversed(written.parents):
                self._vet_component(component, own=False)
            self._vet_component(written, own=True)
            resolved = Path(os.path.realpath(written))
            if resolved.exists():
                self._vet_own(resolved)
            nearest = _nearest_existing(resolved)
            for folder in (nearest, *nearest.parents):
                self._vet_parent(folder)
        except OSError as exc:
            raise self._unreachable(exc) from None

    # -- internals ----------------------------------------------------------------------

    def _lock(self) -> filelock.BaseFileLock:
        try:
            self._ensure_directory()
        except OSError as exc:
            raise self._unlockable(exc) from None
        if self._file_lock is None:
            self._file_lock = filelock.FileLock(str(self.lock_path), mode=_FILE_MODE)
        return self._file_lock

    def _lock_timeout(self) -> APITimeoutError:
        return APITimeoutError(
            f"Waited {self._lock_wait:.0f} s for another kernel or script to finish refreshing "
            f"the Zapier token (lock file {self.lock_path}). Try again; if no other notebook "
            "or script uses this login, restart this kernel."
        )

    def _unlockable(self, exc: OSError) -> TokenCacheError:
        return TokenCacheError(
            f"Cannot take the token cache's lock {self.lock_path} ({_reason(exc)}). Check that "
            f"the folder {self.directory} is yours and that nothing else is at that path."
        )

    def _unreadable(self, reason: str) -> TokenCacheError:
        quoted = shlex.quote(str(self.path))
        return TokenCacheError(
            f"Cannot read the token cache file {self.path} ({reason}). Delete it (rm {quoted}) "
            "and log in again, or pass token_cache='none' to skip the cache."
        )

    def _vet_own(self, directory: Path) -> None:
        status = os.stat(directory)
        if status.st_uid != os.getuid() or status.st_mode & 0o022:
            owner = "you" if status.st_uid == os.getuid() else f"user id {status.st_uid}"
            quoted = shlex.quote(str(directory))
            raise TokenCacheError(
                f"The token cache folder {directory} (owned by {owner}, mode "
                f"{status.st_mode & 0o777:03o}) can be changed by other users, so no token is "
                f"kept there. Make it yours and private (chmod 700 {quoted}), or choose another "
                "with token_cache_dir= or ZAPIER_NB_CACHE_DIR."
            )

    def _vet_component(self, path: Path, *, own: bool) -> None:
        """One step of the path as written: a link must be owned by the user or root, a
        folder must be one that only they can change (or sticky; the cache folder itself
        must be theirs)."""
        try:
            status = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            return
        if not stat.S_ISLNK(status.st_mode):
            if stat.S_ISDIR(status.st_mode):
                self._vet_own(path) if own else self._vet_parent(path)
            return
        if status.st_uid not in (0, os.getuid()):
            raise TokenCacheError(
                f"The token cache folder {self.directory} goes through the link {path}, which "
                f"belongs to user id {status.st_uid}, so no token is kept there. Choose a "
                "folder inside your home with token_cache_dir= or ZAPIER_NB_CACHE_DIR."
            )

    def _unreachable(self, exc: OSError) -> TokenCacheError:
        return TokenCacheError(
            f"Cannot reach the token cache folder {self.directory} ({_reason(exc)}). Check "
            "that you may open every folder on the way to it (ls -ld each one), or choose "
            "another with token_cache_dir= or ZAPIER_NB_CACHE_DIR."
        )

    def _vet_parent(self, folder: Path) -> None:
        status = os.stat(folder)
        trusted_owner = status.st_uid in (0, os.getuid())
        open_to_others = status.st_mode & 0o022 and not status.st_mode & stat.S_ISVTX
        if trusted_owner and not open_to_others:
            return
        raise TokenCacheError(
            f"The token cache folder {self.directory} lies inside {folder} (mode "
            f"{status.st_mode & 0o7777:04o}, owner id {status.st_uid}), which other users can "
            "change, so no token is kept there. Choose a folder inside your home with "
            "token_cache_dir= or ZAPIER_NB_CACHE_DIR."
        )

    def _ensure_directory(self) -> None:
        missing: list[Path] = []
        directory = self.directory
        while not directory.exists() and directory.parent != directory:
            missing.append(directory)
            directory = directory.parent
        for created in reversed(missing):
            with contextlib.suppress(FileExistsError):
                os.mkdir(created, _DIR_MODE)
                if os.name == "posix":
                    os.chmod(created, _DIR_MODE)
        self.vet()

    def _sync_directory(self) -> None:
        if os.name != "posix":
            return
        with contextlib.suppress(OSError):
            # A FIFO swapped in for the folder cannot block the open (the lock is held).
            descriptor = os.open(self.directory, _DIRECTORY_FLAGS)
            try:
                os.fsync(descriptor)
            finally:
                os.close(descriptor)

    def _check_private(self, status: os.stat_result) -> None:
        if os.name != "posix":
            return
        quoted = shlex.quote(str(self.path))
        if status.st_uid != os.getuid():
            raise TokenCacheError(
                f"The token cache file {self.path} belongs to another user, so it is not "
                f"trusted. Delete it (rm {quoted}) and log in again, or pass token_cache='none'."
            )
        if status.st_mode & 0o077:
            raise TokenCacheError(
                f"The token cache file {self.path} can be read by other users (mode "
                f"{status.st_mode & 0o777:03o}), so it is not used. Make it private with "
                f"`chmod 600 {quoted}` and try again, or delete it and log in again."
            )

    def _entry(self, token: Token) -> dict[str, Any]:
        fields = token.model_dump(include=set(_TOKEN_FIELDS))
        for name in ("access_token", "refresh_token", "id_token"):
            secret = getattr(token, name)
            fields[name] = secret.get_secret_value() if secret is not None else None
        return {
            "version": FORMAT_VERSION,
            "base_url": self._base_url,
            "client_id": self._client_id,
            **{name: fields[name] for name in _TOKEN_FIELDS},
        }

    def _parse(self, raw: bytes) -> tuple[Token | None, dict[str, Any] | None, str]:
        if len(raw) > _MAX_BYTES:
            return None, None, "too large"
        try:
            entry = json.loads(raw)
        except (ValueError, RecursionError):
            return None, None, "not JSON"
        if not isinstance(entry, dict) or entry.get("version") != FORMAT_VERSION:
            return None, None, "unknown format"
        if entry.get("base_url") != self._base_url or entry.get("client_id") != self._client_id:
            return None, None, "written for another base URL or client id"
        try:
            token = Token.model_validate({name: entry.get(name) for name in _TOKEN_FIELDS})
        except ValidationError as exc:
            fields = sorted(
                {str(err["loc"][0]) for err in exc.errors(include_input=False) if err["loc"]}
            )
            return None, None, f"bad fields: {', '.join(fields) or 'unknown'}"
        client = entry.get("client")
        return token, client if isinstance(client, dict) else None, ""


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__


def _nearest_existing(path: Path) -> Path:
    while not os.path.lexists(path) and path.parent != path:
        path = path.parent
    return path
