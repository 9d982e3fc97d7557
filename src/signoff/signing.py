"""HMAC-SHA256 signatures for callbacks and webhook deliveries.

Two schemes, both hex HMAC-SHA256:

* signoff callbacks carry ``X-Signoff-Signature: t=<unix seconds>,v1=<hex>`` where the MAC
  covers ``"<t>." + raw body``. Signing the timestamp lets a receiver refuse replays
  (the same idea as Stripe's ``Stripe-Signature``).
* webhook deliveries carry ``Cko-Signature: <hex>`` over the raw body alone, exactly as
  the hosted webhook platform does, so existing receivers verify them unchanged.

Verification always uses :func:`hmac.compare_digest` (constant time).
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Signoff-Signature"
CKO_SIGNATURE_HEADER = "Cko-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The signature is missing, malformed, wrong, or too old."""


def _key_bytes(key: str | bytes) -> bytes:
    return key.encode() if isinstance(key, str) else key


def hmac_hex(body: bytes, key: str | bytes) -> str:
    """Lower-case hex HMAC-SHA256 of ``body``: the ``Cko-Signature`` value."""
    return hmac.new(_key_bytes(key), body, hashlib.sha256).hexdigest()


def sign(body: bytes, key: str | bytes, *, timestamp: int | None = None) -> str:
    """The ``X-Signoff-Signature`` header value for ``body``."""
    ts = int(time.time()) if timestamp is None else timestamp
    mac = hmac_hex(str(ts).encode() + b"." + body, key)
    return f"t={ts},v1={mac}"


def verify(
    body: bytes,
    header: str | None,
    key: str | bytes,
    *,
    tolerance: int | None = DEFAULT_TOLERANCE_SECONDS,
    now: float | None = None,
) -> None:
    """Raise :class:`SignatureError` unless ``header`` signs ``body`` with ``key``.

    ``tolerance`` (seconds) bounds the age of the signed timestamp; ``None`` disables the
    check (for replaying stored deliveries in tests).
    """
    if not header:
        raise SignatureError(f"missing {SIGNATURE_HEADER} header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            raise SignatureError(f"malformed {SIGNATURE_HEADER} header")
        parts.setdefault(name, []).append(value)
    try:
        ts = int(parts["t"][0])
    except (KeyError, ValueError):
        raise SignatureError(f"{SIGNATURE_HEADER} has no valid timestamp") from None
    expected = hmac_hex(str(ts).encode() + b"." + body, key)
    # Several v1 values are allowed so that a key can be rotated without downtime.
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise SignatureError("signature does not match")
    current = time.time() if now is None else now
    if tolerance is not None and abs(current - ts) > tolerance:
        raise SignatureError("signature timestamp is outside the tolerance")


def verify_cko_signature(body: bytes, header: str | None, key: str | bytes) -> None:
    """Raise :class:`SignatureError` unless ``header`` is the ``Cko-Signature`` of ``body``."""
    if not header or not hmac.compare_digest(hmac_hex(body, key), header.strip().lower()):
        raise SignatureError(f"{CKO_SIGNATURE_HEADER} does not match")
