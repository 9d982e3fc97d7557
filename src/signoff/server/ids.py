"""Identifiers in the shapes the hosted services use (``req_…``, ``wh_…``, ``evt_…``)."""

from __future__ import annotations

import base64
import secrets


def new_id(prefix: str) -> str:
    """``prefix`` + 26 lower-case base32 characters (130 random bits)."""
    raw = base64.b32encode(secrets.token_bytes(20)).decode().lower().rstrip("=")
    return f"{prefix}_{raw[:26]}"
