"""How a sandbox proves it is the one its Unix user started, and how it knows its owner.

At start the sandbox writes a random key to a file only its user can read:
`~/.local/state/zapier_nb/sandboxes/sandbox-<port>.json` (mode 0600, folder 0700). The
owner's Jupyter proxy reads it, and sends a fresh nonce with each request
(`x-zapier-nb-challenge`); the sandbox answers with an HMAC of its address, its port and
the nonce (`x-zapier-nb-proof`). Another program on the port, even one relaying to the
real sandbox from another port or address, cannot answer. The other way round, the proxy
signs a one-time nonce the sandbox issued (`x-zapier-nb-owner`): a page asked for through
the owner's proxy is the owner's, and may show the demo credentials.

Only the standard library: the proxy in the Jupyter server imports this module too.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path

CHALLENGE_HEADER = "x-zapier-nb-challenge"
PROOF_HEADER = "x-zapier-nb-proof"
NONCE_HEADER = "x-zapier-nb-nonce"
OWNER_HEADER = "x-zapier-nb-owner"
MAX_NONCE_LENGTH = 128

_KEY_MAX_BYTES = 4096
_OWNER_NONCES = 64
_OWNER_NONCE_TTL = 60.0
_NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def key_folder() -> Path:
    """The folder of this user's sandbox key files (in the home folder, whatever
    `JUPYTER_*` or `XDG_*` say, so a server and a sandbox started apart agree on it)."""
    return Path.home() / ".local" / "state" / "zapier_nb" / "sandboxes"


def key_path(port: int) -> Path:
    return key_folder() / f"sandbox-{port}.json"


def proof(key: bytes, address: str, port: int, nonce: str) -> str:
    """What the sandbox at `address`:`port` answers to the challenge `nonce`."""
    message = f"zapier_nb sandbox proof\n{address}\n{port}\n{nonce}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def owner_signature(key: bytes, nonce: str) -> str:
    """What the owner's proxy sends back for a nonce the sandbox issued."""
    return hmac.new(key, f"zapier_nb sandbox owner\n{nonce}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class KeyRecord:
    """A sandbox's key file: where it listens, and its key."""

    address: str
    port: int
    key: bytes


class KeyFileError(Exception):
    """A key file that is missing, unreadable, or not private to this user."""


def write_key(record: KeyRecord) -> Path | None:
    """Write the key file, atomically and private; None when the folder cannot hold it."""
    folder = key_folder()
    try:
        _private_folder(folder)
        path = key_path(record.port)
        temporary = folder / f".sandbox-{record.port}-{secrets.token_hex(8)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW
        descriptor = os.open(temporary, flags, 0o600)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8") as key_file:
                json.dump(
                    {"address": record.address, "port": record.port, "key": record.key.hex()},
                    key_file,
                )
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
    except OSError:
        return None
    return path


def remove_key(path: Path, record: KeyRecord) -> None:
    """Remove the key file, unless another sandbox on the same port has replaced it since."""
    with contextlib.suppress(KeyFileError, OSError):
        if read_key(path) == record:
            os.unlink(path)


def read_key(path: Path) -> KeyRecord:
    """The record in a key file that this user alone can read and write."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | _NO_FOLLOW)
    except FileNotFoundError:
        raise KeyFileError(f"there is no key file {path}") from None
    except OSError as exc:
        raise KeyFileError(f"its key file {path} cannot be read ({exc.strerror})") from None
    with os.fdopen(descriptor, "rb") as key_file:
        status = os.fstat(descriptor)
        if not stat.S_ISREG(status.st_mode):
            raise KeyFileError(f"its key file {path} is not a regular file")
        if os.name == "posix" and status.st_uid != os.getuid():
            raise KeyFileError(f"its key file {path} belongs to another user")
        if os.name == "posix" and status.st_mode & 0o077:
            raise KeyFileError(f"its key file {path} can be read by other users")
        raw = key_file.read(_KEY_MAX_BYTES + 1)
    try:
        entry = json.loads(raw)
        record = KeyRecord(str(entry["address"]), int(entry["port"]), bytes.fromhex(entry["key"]))
    except (ValueError, KeyError, TypeError):
        raise KeyFileError(f"its key file {path} is damaged") from None
    if len(record.key) < 16:
        raise KeyFileError(f"its key file {path} is damaged")
    return record


def _private_folder(folder: Path) -> None:
    """Create the folder (0700) and those above it that are missing; refuse one that is
    not this user's alone."""
    missing = []
    probe = folder
    while not probe.exists() and probe.parent != probe:
        missing.append(probe)
        probe = probe.parent
    for created in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(created, 0o700)
    status = os.lstat(folder)
    if os.name == "posix" and (
        not stat.S_ISDIR(status.st_mode) or status.st_uid != os.getuid() or status.st_mode & 0o077
    ):
        raise PermissionError(f"{folder} is not a private folder of this user")


class OwnerNonces:
    """One-time nonces for the owner's proxy: at most a few, each for a minute."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._issued: dict[str, float] = {}

    def issue(self) -> str:
        nonce = secrets.token_urlsafe(24)
        now = time.monotonic()
        with self._lock:
            self._drop_expired(now)
            while len(self._issued) >= _OWNER_NONCES:
                self._issued.pop(next(iter(self._issued)))
            self._issued[nonce] = now + _OWNER_NONCE_TTL
        return nonce

    def take(self, key: bytes, header: str) -> bool:
        """Whether `header` ("nonce signature") signs a nonce issued here; spends it."""
        nonce, _, signature = header.partition(" ")
        if not nonce or not signature:
            return False
        with self._lock:
            self._drop_expired(time.monotonic())
            if nonce not in self._issued:
                return False
            if not hmac.compare_digest(signature, owner_signature(key, nonce)):
                return False
            del self._issued[nonce]
            return True

    def _drop_expired(self, now: float) -> None:
        for nonce in [n for n, expires in self._issued.items() if expires <= now]:
            del self._issued[nonce]
