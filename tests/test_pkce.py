from __future__ import annotations

import base64
import math
import re

import pytest

from zapier_nb import _pkce

# RFC 7636 Appendix B: the 32 octets, the verifier they encode, and its S256 challenge.
RFC_OCTETS = bytes(
    [116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186,
     22, 212, 37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121]
)  # fmt: skip
RFC_VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
RFC_CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_rfc7636_appendix_b_vector() -> None:
    assert base64.urlsafe_b64encode(RFC_OCTETS).rstrip(b"=").decode() == RFC_VERIFIER
    assert _pkce.create_s256_challenge(RFC_VERIFIER) == RFC_CHALLENGE


def test_verifier_has_rfc_length_charset_and_at_least_256_bits() -> None:
    verifiers = {_pkce.generate_code_verifier() for _ in range(200)}
    assert len(verifiers) == 200
    for verifier in verifiers:
        assert _pkce.CODE_VERIFIER_MIN_LENGTH <= len(verifier) <= _pkce.CODE_VERIFIER_MAX_LENGTH
        assert re.fullmatch(r"[A-Za-z0-9\-._~]+", verifier)
        # Each base64url character carries 6 bits.
        assert len(verifier) * 6 >= 256
    assert _pkce.DEFAULT_VERIFIER_BYTES * 8 >= 256


def test_verifier_characters_are_spread_over_the_alphabet() -> None:
    text = "".join(_pkce.generate_code_verifier() for _ in range(100))
    counts = {char: text.count(char) for char in set(text)}
    assert len(counts) == 64
    expected = len(text) / 64
    assert max(counts.values()) < expected * 1.6
    assert math.isclose(sum(counts.values()), len(text))


@pytest.mark.parametrize("num_bytes", [31, 97])
def test_verifier_sizes_outside_the_rfc_are_refused(num_bytes: int) -> None:
    with pytest.raises(ValueError, match="RFC 7636"):
        _pkce.generate_code_verifier(num_bytes)


@pytest.mark.parametrize(
    "verifier",
    ["short", "a" * 129, "a" * 42, "has space" + "a" * 40, "plus+sign" + "a" * 40],
)
def test_invalid_verifiers_are_refused(verifier: str) -> None:
    assert not _pkce.is_valid_code_verifier(verifier)
    with pytest.raises(ValueError, match="unreserved"):
        _pkce.create_s256_challenge(verifier)


def test_boundary_lengths_are_accepted() -> None:
    assert _pkce.is_valid_code_verifier("a" * 43)
    assert _pkce.is_valid_code_verifier("~._-" * 32)


def test_state_is_fresh_and_url_safe() -> None:
    states = {_pkce.generate_state() for _ in range(100)}
    assert len(states) == 100
    assert all(re.fullmatch(r"[A-Za-z0-9_\-]{32}", state) for state in states)
