"""Who may call what: API keys submit and read, reviewer tokens decide, admin keys may
do what API keys may and more (e.g. act on other keys' approvals).

The dependencies are ``async def`` although they never await: FastAPI runs a plain
``def`` dependency in its thread pool, a thread hop on every request.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from signoff.server.ratelimit import retry_after_header
from signoff.server.services import Services, get_services
from signoff.server.store.credentials import KeyEntry, Principal, find_stored, key_hash


def presented_key(request: Request) -> str | None:
    """``x-api-key``, ``Authorization: Bearer KEY``, or a bare ``Authorization: KEY``."""
    key = request.headers.get("x-api-key")
    if key:
        return key.strip()
    authorization = request.headers.get("authorization")
    if not authorization:
        return None
    scheme, _, rest = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and rest:
        return rest.strip()
    return authorization.strip()


def client_address(request: Request) -> str:
    """Whom failed keys are counted against (behind a proxy: as uvicorn's
    ``--forwarded-allow-ips`` lets it read ``X-Forwarded-For``)."""
    return request.client.host if request.client else "unknown"


def too_many_failures(wait: float) -> HTTPException:
    return HTTPException(
        429,
        "too many failed attempts to authenticate from this address; try again later",
        headers={"Retry-After": retry_after_header(wait)},
    )


async def principal(
    request: Request, services: Annotated[Services, Depends(get_services)]
) -> Principal:
    """The caller; after too many wrong keys from one address, 429 for every request
    from there until the bucket refills, so keys cannot be guessed at speed."""
    address = client_address(request)
    wait = services.auth_failures.wait(address)
    if wait:
        raise too_many_failures(wait)
    presented = presented_key(request)
    found = services.keyring.identify(presented)
    if found is None and presented:  # made on another process since the last re-read?
        found = await find_stored(services.approvals.engine, presented)
        if found is not None:
            services.keyring.entries.append(KeyEntry(key_hash(presented), found))
    if found is None:
        if presented:  # no key at all is a mistake, not a guess
            services.auth_failures.take(address)
        raise HTTPException(401, "missing or invalid API key or reviewer token")
    wait = services.limiter.take(f"{found.kind}:{found.name}")
    if wait:
        raise HTTPException(
            429,
            f"rate limit of {services.limiter.rate:g} requests per second exceeded",
            headers={"Retry-After": retry_after_header(wait)},
        )
    return found


async def api_key(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.kind not in ("api", "admin"):
        raise HTTPException(403, "this call needs an API key, not a reviewer token")
    return who


async def admin(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.kind != "admin":
        raise HTTPException(403, "this call needs an admin key")
    return who


async def reviewer(who: Annotated[Principal, Depends(principal)]) -> Principal:
    if who.kind != "reviewer":
        raise HTTPException(403, "only a reviewer token can decide; an API key cannot")
    return who


AnyCaller = Annotated[Principal, Depends(principal)]
ApiCaller = Annotated[Principal, Depends(api_key)]
ReviewerCaller = Annotated[Principal, Depends(reviewer)]
AdminCaller = Annotated[Principal, Depends(admin)]
