"""Masking of secrets in server bodies and text before they are kept or shown."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

__all__ = [
    "MASK",
    "SECRET_FIELDS",
    "SECRET_HEADERS",
    "Secret",
    "redact",
    "scrub",
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


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of the given secret values in free text."""
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET_LENGTH:
            text = text.replace(secret, MASK)
    return text


def scrub_value(value: Any, secrets: Iterable[str | None]) -> Any:
    """`scrub` applied to every string inside a JSON-like value (keys included)."""
    wanted = [secret for secret in secrets if secret and len(secret) >= _MIN_SECRET_LENGTH]
    if not wanted:
        return value
    if isinstance(value, str):
        return scrub(value, wanted)
    if isinstance(value, Mapping):
        return {scrub_value(key, wanted): scrub_value(item, wanted) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_value(item, wanted) for item in value]
    return value


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
