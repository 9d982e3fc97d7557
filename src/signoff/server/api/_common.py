"""Pieces the routers share."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from signoff.models import ErrorBody
from signoff.server.errors import CkoError
from signoff.server.services import Services
from signoff.server.store.credentials import Principal
from signoff.server.store.idempotency import KeyReused, Work

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text}
    for code, text in (
        (400, "Malformed request"),
        (401, "Missing or invalid credentials"),
        (403, "Credentials not allowed to do this"),
        (404, "Not found"),
        (409, "Conflict"),
        (413, "Request body too large"),
        (422, "Invalid field"),
        (429, "Rate limit exceeded (see Retry-After)"),
        (503, "Database unavailable (see Retry-After)"),
    )
}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: ERRORS[code] for code in codes}


def body_hash(body: dict[str, Any]) -> str:
    """Stable hash of a request body, to tell a replay from a reused idempotency key."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


async def replayable(
    services: Services,
    who: Principal,
    request: Request,
    key: str | None,
    body: dict[str, Any],
    work: Work,
) -> Response:
    """Answer ``work``; with an idempotency key, exactly once: replays get the first answer.

    The key is scoped to the caller, method and path; reused with another body it is 409.
    ``work`` gets the transaction to write in (``None`` without a key: it opens its own).
    """
    if not key:
        status, content = await work(None)
        return _json(status, content)
    scoped = f"{who.kind}:{who.name}:{request.method}:{request.url.path}:{key}"
    try:
        status, content = await services.idempotency.run_once(scoped, body_hash(body), work)
    except KeyReused:
        raise CkoError(
            409, "Cko-Idempotency-Key was already used with a different request body",
            "idempotency_key_reused",
        ) from None  # fmt: skip
    return _json(status, content)


def _json(status: int, content: Any) -> Response:
    if status == 204 or content is None:
        return Response(status_code=status)
    return JSONResponse(content, status_code=status)
