from __future__ import annotations

import pytest

from signoff.signing import SignatureError, hmac_hex, sign, verify, verify_cko_signature


def test_sign_and_verify_round_trip() -> None:
    header = sign(b'{"a":1}', "secret", timestamp=1_700_000_000)
    verify(b'{"a":1}', header, "secret", now=1_700_000_100)


@pytest.mark.parametrize(
    ("body", "key", "now", "message"),
    [
        (b'{"a":2}', "secret", 1_700_000_000, "does not match"),
        (b'{"a":1}', "other", 1_700_000_000, "does not match"),
        (b'{"a":1}', "secret", 1_700_001_000, "outside the tolerance"),
    ],
)
def test_verify_refuses(body: bytes, key: str, now: float, message: str) -> None:
    header = sign(b'{"a":1}', "secret", timestamp=1_700_000_000)
    with pytest.raises(SignatureError, match=message):
        verify(body, header, key, now=now)


def test_verify_refuses_missing_and_malformed_headers() -> None:
    with pytest.raises(SignatureError, match="missing"):
        verify(b"x", None, "k")
    with pytest.raises(SignatureError, match="malformed"):
        verify(b"x", "garbage", "k")
    with pytest.raises(SignatureError, match="timestamp"):
        verify(b"x", "v1=abc", "k")


def test_rotation_accepts_any_listed_signature() -> None:
    old = sign(b"x", "old", timestamp=10).split("v1=")[1]
    new = sign(b"x", "new", timestamp=10)
    verify(b"x", f"{new},v1={old}", "old", now=10)


def test_cko_signature_is_hex_hmac_of_the_body() -> None:
    # Known answer: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
    body = b"The quick brown fox jumps over the lazy dog"
    assert (
        hmac_hex(body, "key") == "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
    )
    verify_cko_signature(body, hmac_hex(body, "key").upper(), "key")
    with pytest.raises(SignatureError):
        verify_cko_signature(body, hmac_hex(body, "nope"), "key")
