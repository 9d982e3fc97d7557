"""Every error leaves the service as ``{"error": "..."}`` with the right status."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from signoff.server.domain.errors import DomainError
from signoff.server.ids import new_id

log = logging.getLogger(__name__)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def validation_message(exc: RequestValidationError) -> tuple[int, str]:
    errors = exc.errors()
    if any(error.get("type") == "json_invalid" for error in errors):
        return 400, "request body is not valid JSON"
    messages = []
    for error in errors[:5]:
        msg = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        messages.append(f"{_field(tuple(error.get('loc', ())))}: {msg}")
    return 422, "; ".join(messages)


class CkoError(HTTPException):
    """An error of the webhook management API, in the hosted platform's shape.

    ``{"error": "...", "error_type": "request_invalid", "error_codes": ["url_invalid"],
    "request_id": "..."}``: signoff's ``error`` plus what the checkout SDK reads.
    """

    def __init__(self, status_code: int, message: str, *codes: str, error_type: str = "") -> None:
        super().__init__(status_code, message)
        self.error_type = error_type or (
            "request_invalid" if status_code in (400, 422) else ERROR_TYPES.get(status_code, "")
        )
        self.error_codes = list(codes)


ERROR_TYPES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 409: "conflict"}

CKO_PREFIXES = ("/webhooks", "/workflows", "/events", "/deliveries")
"""Routes of the webhook management API: their errors carry the hosted platform's fields."""

VALIDATION_STATUS = {"/webhooks": 400}
"""Seed 002 answers invalid webhooks with 400; everything else uses 422."""


def cko_body(
    message: str, error_type: str, codes: list[str], request_id: str | None
) -> dict[str, Any]:
    return {
        "error": message,
        "error_type": error_type,
        "error_codes": codes,
        "request_id": request_id or new_id("req"),
    }


def _cko_body(request: Request, message: str, error_type: str, codes: list[str]) -> dict[str, Any]:
    return cko_body(message, error_type, codes, request.headers.get("cko-request-id"))


def install(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        body: dict[str, Any] = {"error": str(exc.detail)}
        if request.url.path.startswith(CKO_PREFIXES):
            error_type = getattr(exc, "error_type", "") or ERROR_TYPES.get(exc.status_code, "")
            body = _cko_body(request, str(exc.detail), error_type, getattr(exc, "error_codes", []))
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message = validation_message(exc)
        path = request.url.path
        if not path.startswith(CKO_PREFIXES):
            return JSONResponse({"error": message}, status_code=status)
        if status == 422:
            status = next((s for p, s in VALIDATION_STATUS.items() if path.startswith(p)), 422)
        codes = sorted(
            {f"{_field(tuple(error.get('loc', ())))}_invalid" for error in exc.errors()[:5]}
        )
        return JSONResponse(
            _cko_body(request, message, "request_invalid", codes), status_code=status
        )

    @app.exception_handler(DomainError)
    async def refused(request: Request, exc: DomainError) -> JSONResponse:
        """A domain call said no: its status, its message, and for the webhook API the
        hosted platform's fields with the error's code."""
        body: dict[str, Any] = {"error": exc.message}
        if exc.problems:
            body["problems"] = [{"field": f, "message": m} for f, m in exc.problems]
        if request.url.path.startswith(CKO_PREFIXES):
            error_type = ERROR_TYPES.get(exc.status, "request_invalid")
            body = _cko_body(request, exc.message, error_type, [exc.code])
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(DBAPIError)
    async def database_down(_request: Request, exc: DBAPIError) -> JSONResponse:
        if not exc.connection_invalidated and not isinstance(
            exc, OperationalError | InterfaceError
        ):
            log.exception("database error")
            return JSONResponse({"error": "internal error"}, status_code=500)
        return database_unavailable()

    @app.exception_handler(PoolTimeout)
    async def pool_exhausted(_request: Request, exc: PoolTimeout) -> JSONResponse:
        return database_unavailable()

    @app.exception_handler(OSError)
    async def unreachable(_request: Request, exc: OSError) -> JSONResponse:
        return database_unavailable()

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse({"error": "internal error"}, status_code=500)


def database_unavailable() -> JSONResponse:
    """Nothing was written; the caller may retry (the clients do, on 503)."""
    return JSONResponse(
        {"error": "database unavailable, try again shortly"},
        status_code=503,
        headers={"Retry-After": "1"},
    )
