"""PKCE (RFC 7636) as pure functions: verifier, S256 challenge and login state."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets

__all__ = [
    "CODE_VERIFIER_MAX_LENGTH",
    "CODE_VERIFIER_MIN_LENGTH",
    "DEFAULT_VERIFIER_BYTES",
    "create_s256_challenge",
    "generate_code_verifier",
    "generate_state",
    "is_valid_code_verifier",
]

CODE_VERIFIER_MIN_LENGTH = 43
CODE_VERIFIER_MAX_LENGTH = 128
# 64 random bytes give an 86-character verifier: 512 bits, twice the RFC's recommended 256.
DEFAULT_VERIFIER_BYTES = 64
_STATE_BYTES = 24

_UNRESERVED = re.compile(r"[A-Za-z0-9\-._~]+")


def _base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def generate_code_verifier(num_bytes: int = DEFAULT_VERIFIER_BYTES) -> str:
    """A high-entropy verifier of RFC 7636 section 4.1: base64url of `num_bytes` random bytes."""
    verifier = _base64url(secrets.token_bytes(num_bytes))
    if not CODE_VERIFIER_MIN_LENGTH <= len(verifier) <= CODE_VERIFIER_MAX_LENGTH:
        raise ValueError(
            f"{num_bytes} bytes give a {len(verifier)}-character verifier; RFC 7636 needs "
            f"{CODE_VERIFIER_MIN_LENGTH} to {CODE_VERIFIER_MAX_LENGTH}. Use 32 to 96 bytes."
        )
    return verifier


def is_valid_code_verifier(verifier: str) -> bool:
    """True if the verifier has RFC 7636's length and only unreserved characters."""
    return (
        CODE_VERIFIER_MIN_LENGTH <= len(verifier) <= CODE_VERIFIER_MAX_LENGTH
        and _UNRESERVED.fullmatch(verifier) is not None
    )


def create_s256_challenge(verifier: str) -> str:
    """BASE64URL(SHA256(ASCII(verifier))), RFC 7636 section 4.2."""
    if not is_valid_code_verifier(verifier):
        raise ValueError("The code verifier is not 43 to 128 unreserved characters (RFC 7636 4.1).")
    return _base64url(hashlib.sha256(verifier.encode("ascii")).digest())


def generate_state() -> str:
    """An unguessable `state` for one login (RFC 6749 section 10.12)."""
    return secrets.token_urlsafe(_STATE_BYTES)
