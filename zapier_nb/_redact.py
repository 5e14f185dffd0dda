"""Masking of secrets in server bodies and text before they are kept or shown."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

__all__ = [
    "MASK",
    "SECRET_FIELDS",
    "SECRET_HEADERS",
    "Secret",
    "printable",
    "redact",
    "scrub",
    "scrub_answer",
    "scrub_value",
    "scrubbed_errors",
]

MASK = "***"

SECRET_FIELDS = frozenset(
    {
        "access_token",
        "api_key",
        "client_secret",
        "code",
        "code_verifier",
        "id_token",
        "password",
        "refresh_token",
        "x-api-key",
    }
)

SECRET_HEADERS = frozenset({"authorization", "x-api-key", "cookie", "set-cookie"})

_MIN_SECRET_LENGTH = 6


class Secret:
    """A secret string that shows in no repr, no str and no traceback's local variables."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def redact(value: Any, mask: Callable[[Any], Any] = lambda _secret: MASK) -> Any:
    """Return a copy of a JSON-like value with every secret field's value replaced by `mask`."""
    if isinstance(value, Mapping):
        return {
            key: mask(item) if str(key).lower() in SECRET_FIELDS and item else redact(item, mask)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact(item, mask) for item in value]
    return value


class _Scrubber:
    """Masks secrets as written, and as URL- or form-encoded (`%2F` or `%2f`, `+` for a space).

    The encoded spellings are matched only in text that has a `%` or a `+`, so that the
    common case stays a plain replace.
    """

    def __init__(self, secrets: Iterable[str | None]) -> None:
        wanted = {secret for secret in secrets if secret and len(secret) >= _MIN_SECRET_LENGTH}
        self.secrets = sorted(wanted, key=len, reverse=True)
        self._encoded: re.Pattern[str] | None = None

    def text(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        if "%" in text or "+" in text:
            if self._encoded is None:
                self._encoded = re.compile(
                    "|".join(_spellings(secret) for secret in self.secrets), re.IGNORECASE
                )
            text = self._encoded.sub(MASK, text)
        return text

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.value(key): self.value(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(item) for item in value]
        return value


def _spellings(secret: str) -> str:
    """A pattern of every URL-encoded spelling of `secret`: each character as it is or as
    its `%XX` bytes, a space also as `+`."""
    parts = []
    for char in secret:
        encoded = "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
        options = [re.escape(char), encoded] + (["\\+"] if char == " " else [])
        parts.append(f"(?:{'|'.join(options)})")
    return "".join(parts)


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of the given secret values in free text, encoded ones too."""
    scrubber = _Scrubber(secrets)
    return scrubber.text(text) if scrubber.secrets else text


def scrub_value(value: Any, secrets: Iterable[str | None]) -> Any:
    """`scrub` applied to every string inside a JSON-like value (keys included)."""
    scrubber = _Scrubber(secrets)
    return scrubber.value(value) if scrubber.secrets else value


def scrub_answer(value: Any, raw: bytes, secrets: Iterable[str | None]) -> Any:
    """`scrub_value` of a decoded answer, skipped when its raw bytes cannot hold a secret
    in any spelling (no secret as written, and no `%`, `+` or JSON escape)."""
    scrubber = _Scrubber(secrets)
    if not scrubber.secrets:
        return value
    marks = (b"%", b"+", b"\\", *(secret.encode() for secret in scrubber.secrets))
    return scrubber.value(value) if any(mark in raw for mark in marks) else value


# C0 and C1 controls (DEL included), and the marks that reorder text on screen.
_CONTROLS = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI sequences (colours, cursor moves, clearing)
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC sequences (titles, hyperlinks)
    r"|[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]"
)


def printable(text: str) -> str:
    """Server text made safe for a terminal: escape sequences and control characters go,
    each line break and tab becoming a space."""
    return _CONTROLS.sub(lambda m: " " if m.group() in "\t\n\r" else "", text)


@contextlib.contextmanager
def scrubbed_errors(secrets: Callable[[], Iterable[str | None]]) -> Iterator[None]:
    """Mask the given secrets in an escaping error that can scrub itself (`scrub_secrets`).

    A server may echo what it was sent; an error must still not carry it onward.
    """
    try:
        yield
    except Exception as exc:
        scrub_secrets = getattr(exc, "scrub_secrets", None)
        if scrub_secrets is not None:
            scrub_secrets(list(secrets()))
        raise
