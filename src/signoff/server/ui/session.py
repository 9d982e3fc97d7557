"""Reviewer sessions in a signed cookie, and the CSRF token every form carries.

The cookie holds no secret: which reviewer token was used (as a keyed fingerprint, so
replacing or revoking the token ends the session), the id of the session's row in the
``sessions`` table (signing out revokes the row, so a copied cookie stops working on
every process sharing the database), a CSRF token and when it was issued, signed with
HMAC-SHA256. It is ``HttpOnly`` and ``SameSite=Lax``
(``Lax``, not ``Strict``: a reviewer who follows a ``reviewUrl`` from chat or e-mail
must arrive signed in; cross-site POSTs still carry no cookie).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from signoff.server.ids import new_id
from signoff.server.store.credentials import Keyring, Principal

COOKIE = "signoff_session"
MAX_AGE = 12 * 3600
"""A signed-in session lasts a working day; then the reviewer signs in again."""


@dataclass(frozen=True)
class Session:
    csrf: str
    issued: int
    reviewer: Principal | None = None
    id: str | None = None
    """The ``sessions`` row of a signed-in session; ``None`` before signing in."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionCodec:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"signoff-ui-session:" + secret.encode()).digest()

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def fingerprint(self, key_hash: str) -> str:
        """Names a reviewer token inside the cookie without revealing even its hash."""
        return _b64(hmac.new(self._key, b"token:" + key_hash.encode(), hashlib.sha256).digest())[
            :22
        ]

    def encode(self, data: dict[str, object]) -> str:
        payload = _b64(json.dumps(data, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def decode(self, value: str, keyring: Keyring, now: float | None = None) -> Session | None:
        """The session in a cookie, or ``None`` if forged, stale or its token is gone.

        Whether a signed-in session was signed out is the database's to say (the caller
        checks ``Session.id``).
        """
        payload, _, signature = value.partition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            csrf, issued = str(data["c"]), int(data["t"])
        except (ValueError, KeyError, TypeError):
            return None
        if issued + MAX_AGE < (now if now is not None else time.time()):
            return None
        kid, sid = data.get("k"), data.get("s")
        if kid is None:
            return Session(csrf=csrf, issued=issued)
        if not isinstance(sid, str):  # signed in before sessions were revocable
            return None
        for entry in keyring.entries:
            if entry.principal.kind == "reviewer" and hmac.compare_digest(
                self.fingerprint(entry.hash), str(kid)
            ):
                return Session(csrf=csrf, issued=issued, reviewer=entry.principal, id=sid)
        return None

    def anonymous(self) -> tuple[Session, str]:
        session = Session(csrf=secrets.token_urlsafe(24), issued=int(time.time()))
        return session, self.encode({"c": session.csrf, "t": session.issued})

    def signed_in(self, principal: Principal, key_hash: str) -> tuple[Session, str]:
        """A fresh CSRF token at sign-in, so one planted before it is worthless after, and
        a new session id (the caller records it before handing out the cookie)."""
        session = Session(
            csrf=secrets.token_urlsafe(24),
            issued=int(time.time()),
            reviewer=principal,
            id=new_id("ses"),
        )
        value = self.encode(
            {
                "c": session.csrf,
                "t": session.issued,
                "k": self.fingerprint(key_hash),
                "s": session.id,
            }
        )
        return session, value


def is_secure(request: Request, base_url: str) -> bool:
    """Secure cookies over HTTPS, including behind a proxy that terminates TLS."""
    return request.url.scheme == "https" or base_url.startswith("https://")


def set_cookie(response: Response, value: str, *, secure: bool) -> None:
    response.set_cookie(
        COOKIE,
        value,
        max_age=MAX_AGE,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )


def clear_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="lax", secure=secure)


def csrf_ok(session: Session | None, presented: str | None) -> bool:
    return bool(session and presented and hmac.compare_digest(session.csrf, presented))
