"""RFC 7636 checks, computed here so the sandbox shares no code with the client."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

_PKCE_VALUE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")


def is_pkce_value(value: str) -> bool:
    """True for 43 to 128 characters of the RFC 3986 unreserved set."""
    return _PKCE_VALUE.fullmatch(value) is not None


def s256_challenge(verifier: str) -> str:
    """BASE64URL-ENCODE(SHA256(ASCII(code_verifier))), unpadded."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def verifier_matches(verifier: str, challenge: str) -> bool:
    return hmac.compare_digest(s256_challenge(verifier), challenge)
