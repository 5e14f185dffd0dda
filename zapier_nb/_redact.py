"""Masking of secrets in server bodies, headers and text before they are kept or shown."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["MASK", "SECRET_FIELDS", "SECRET_HEADERS", "redact", "redact_headers", "scrub"]

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


def redact_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Mask the values of credential-bearing headers."""
    return [(name, MASK if name.lower() in SECRET_HEADERS else value) for name, value in headers]


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """Replace every occurrence of the given secret values in free text."""
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET_LENGTH:
            text = text.replace(secret, MASK)
    return text
