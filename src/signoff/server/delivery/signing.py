"""Every header signoff puts on a delivery, and its signatures, computed at send time.

One place and one moment for both kinds of signature: a callback's
``X-Signoff-Signature`` carries the send time (receivers refuse stale ones, so a retry
an hour later is signed anew), and a workflow action's ``Cko-Signature`` is the hex
HMAC-SHA256 of the exact body sent, as the hosted platform signs. Configured headers go
first; signoff's own always win, in any spelling.
"""

from __future__ import annotations

from signoff.server.store.kinds import DeliveryKind
from signoff.server.store.outbox import DueDelivery
from signoff.signing import CKO_SIGNATURE_HEADER, SIGNATURE_HEADER, hmac_hex, sign

CALLBACK_USER_AGENT = "Cheqpoint-Callback/1.0"
"""Seed 000: callbacks identify themselves with this ``User-Agent``."""
EVENT_USER_AGENT = "signoff-webhooks/1.0"
"""Event deliveries' default ``User-Agent`` (a configured one replaces it)."""

RESERVED_HEADERS = frozenset(
    {"host", "content-type", "content-length", "transfer-encoding", "connection"}
    | {CKO_SIGNATURE_HEADER.lower()}
)
"""Configured headers that could override, duplicate or desync what signoff sends."""


def reserved(name: str) -> bool:
    name = name.lower()
    return name in RESERVED_HEADERS or (
        name.startswith("x-signoff-") and name != "x-signoff-managed"
    )


def headers_for(item: DueDelivery, body: bytes, callback_secret: str) -> dict[str, str]:
    """The headers of one attempt: the configured ones (none of the reserved names), a
    default ``User-Agent`` for events, then signoff's own and the signature."""
    kept = {
        name.lower(): (name, value) for name, value in item.headers.items() if not reserved(name)
    }
    own = {
        "Content-Type": "application/json",
        "X-Signoff-Delivery": item.id,
        "X-Signoff-Attempt": str(item.attempt_count + 1),
    }
    if item.kind == DeliveryKind.CALLBACK:
        own["User-Agent"] = CALLBACK_USER_AGENT
        own[SIGNATURE_HEADER] = sign(body, callback_secret)
    else:
        kept.setdefault("user-agent", ("User-Agent", EVENT_USER_AGENT))
        if item.signature_key:
            own[CKO_SIGNATURE_HEADER] = hmac_hex(body, item.signature_key)
        elif item.kind == DeliveryKind.WORKFLOW and CKO_SIGNATURE_HEADER in item.headers:
            own[CKO_SIGNATURE_HEADER] = item.headers[CKO_SIGNATURE_HEADER]  # queued before 0004
    for name in own:
        kept.pop(name.lower(), None)
    return dict(kept.values()) | own
