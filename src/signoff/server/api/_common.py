"""Pieces the routers share."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from signoff.models import ErrorBody
from signoff.server.errors import CkoError
from signoff.server.services import Services
from signoff.server.store.credentials import Principal
from signoff.server.store.idempotency import KeyReused

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
    produce: Callable[[], Awaitable[tuple[int, Any]]],
) -> Response:
    """Answer ``produce()``; with an idempotency key, replay the first answer instead.

    The key is scoped to the caller, method and path; reused with another body it is 409.
    """
    if not key:
        status, content = await produce()
        return _json(status, content)
    scoped = f"{who.name}:{request.method}:{request.url.path}:{key}"
    digest = body_hash(body)
    try:
        remembered = await services.idempotency.recall(scoped, digest)
    except KeyReused:
        raise CkoError(
            409, "Cko-Idempotency-Key was already used with a different request body",
            "idempotency_key_reused",
        ) from None  # fmt: skip
    if remembered is not None:
        return _json(*remembered)
    status, content = await produce()
    await services.idempotency.remember(scoped, digest, status, content)
    return _json(status, content)


def _json(status: int, content: Any) -> Response:
    if status == 204 or content is None:
        return Response(status_code=status)
    return JSONResponse(content, status_code=status)
