"""The gate every request passes before a handler runs: only what the stores can hold.

Validation in the models says what a field means; this says what no field may carry at
all, whatever the route: a NUL (PostgreSQL text cannot hold it), a lone surrogate (not
Unicode: every later read of the row would fail to encode it), NaN or Infinity (not
JSON, and PostgreSQL's JSON refuses them), or nesting so deep that a recursive parser or
validator blows its stack before the documented depth limit is ever applied. Refused
here, nothing reaches a store half-checked, and the answer is a 4xx with ``error``.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote_to_bytes

from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from signoff.models._base import MAX_JSON_DEPTH, json_problem, text_problem
from signoff.server.errors import CKO_PREFIXES, ERROR_TYPES, VALIDATION_STATUS, cko_body

BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class NotFinite(Exception):
    """A JSON number that is no finite double: NaN, Infinity, or beyond 1.8e308."""


def _constant(name: str) -> Any:
    raise NotFinite(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise NotFinite(text)
    return value


def body_problem(body: bytes) -> str | None:
    """Why a JSON body cannot be stored, naming its top-level field; ``None`` if it can.

    A body that is not JSON at all is left to the route, whose parser says so (400).
    """
    try:
        value = json.loads(body, parse_constant=_constant, parse_float=_finite_float)
    except NotFinite as exc:
        return f"numbers must be finite, not {exc}"
    except RecursionError:
        return f"nested deeper than {MAX_JSON_DEPTH} levels"
    except ValueError:
        return None
    if not isinstance(value, dict):
        return json_problem(value, MAX_JSON_DEPTH + 1)
    for key, child in value.items():
        if problem := text_problem(key):
            return f"a field name {problem}"
        if problem := json_problem(child, MAX_JSON_DEPTH):
            return f"{key}: {problem}"
    return None


def _is_json(content_type: str) -> bool:
    """FastAPI parses a body as JSON when the type says so or is absent."""
    media = content_type.split(";", 1)[0].strip().lower()
    return not media or media == "application/json" or media.endswith("+json")


class InputGuard:
    """Refuses bodies over ``limit`` bytes (413) and unstorable input (404/422/400)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if text_problem(path):
            await self._refuse(scope, send, 404, f"path: {text_problem(path)}")
            return
        if b"\x00" in unquote_to_bytes(scope.get("query_string", b"")):
            await self._refuse(scope, send, 422, "query: contains a NUL character")
            return
        headers = dict(scope.get("headers", []))
        length = headers.get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            await self._refuse(scope, send, 413, f"request body is larger than {self.limit} bytes")
            return
        if scope["method"] not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        body, more = b"", True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.limit:
                await self._refuse(
                    scope, send, 413, f"request body is larger than {self.limit} bytes"
                )
                return
        problem = None
        content_type = headers.get(b"content-type", b"").decode("latin-1")
        if body and _is_json(content_type):
            problem = body_problem(body)
        elif b"\x00" in body or b"%00" in body:
            problem = "body: contains a NUL character"
        if problem:
            await self._refuse(scope, send, self._invalid_status(path), problem)
            return
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    def _invalid_status(path: str) -> int:
        return next((s for p, s in VALIDATION_STATUS.items() if path.startswith(p)), 422)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, status: int, message: str) -> None:
        content: dict[str, Any] = {"error": message}
        if scope["path"].startswith(CKO_PREFIXES):
            headers = dict(scope.get("headers", []))
            request_id = headers.get(b"cko-request-id", b"").decode("latin-1") or None
            error_type = ERROR_TYPES.get(status, "request_invalid")
            content = cko_body(message, error_type, [], request_id)
        await JSONResponse(content, status_code=status)(scope, _no_receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """Hands the route the body read here, then the client's own messages (disconnects)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def _no_receive() -> Message:
    return {"type": "http.disconnect"}
