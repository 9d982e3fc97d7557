"""What every client shares: building requests, and turning one sans-I/O call into a sync
method and an async method (so each endpoint is written once, typed once)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, TypeVar

import httpx

from signoff.client._transport import RetryPolicy, Step, drive_async, drive_sync, send

P = ParamSpec("P")
T = TypeVar("T")
C = TypeVar("C", bound="Calls")


class Calls:
    """Base of the sans-I/O call sets; subclasses say how to authenticate."""

    idempotency_header = "Idempotency-Key"

    def __init__(self, base_url: str, *, retry: RetryPolicy | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.retry = retry or RetryPolicy()

    def __repr__(self) -> str:  # keys stay out of logs and tracebacks
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def _headers(self, auth: str) -> dict[str, str]:
        return {}

    def _request(
        self,
        method: str,
        path: str,
        *,
        auth: str = "api",
        json: Any = None,
        params: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        read_timeout: float | None = None,
    ) -> Step[httpx.Response]:
        headers = self._headers(auth)
        if idempotency_key:
            headers[self.idempotency_header] = idempotency_key
        extensions = {}
        if read_timeout is not None:
            extensions["timeout"] = httpx.Timeout(10.0, read=read_timeout).as_dict()
        request = httpx.Request(
            method,
            self.base_url + path,
            json=json,
            params=params,
            headers=headers,
            extensions=extensions,
        )
        retryable = method in ("GET", "PUT", "DELETE") or bool(idempotency_key)
        return (yield from send(request, self.retry, retryable=retryable))


class SyncClient:
    """Holds an ``httpx.Client`` and a call set; methods come from :func:`sync_method`."""

    calls: Calls

    def __init__(self, calls: Calls, *, timeout: float, http_client: httpx.Client | None) -> None:
        self.calls = calls
        self._http = http_client or httpx.Client(timeout=httpx.Timeout(timeout))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.calls.base_url!r})"

    def __enter__(self: T) -> T:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()


class AsyncClient:
    calls: Calls

    def __init__(
        self, calls: Calls, *, timeout: float, http_client: httpx.AsyncClient | None
    ) -> None:
        self.calls = calls
        self._http = http_client or httpx.AsyncClient(timeout=httpx.Timeout(timeout))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.calls.base_url!r})"

    async def __aenter__(self: T) -> T:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()


def sync_method(call: Callable[Concatenate[C, P], Step[T]]) -> Callable[Concatenate[Any, P], T]:
    """``call`` (a generator method of a :class:`Calls`) as a blocking client method."""

    @functools.wraps(call)
    def method(self: SyncClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return drive_sync(self._http, call(self.calls, *args, **kwargs))  # type: ignore[arg-type]

    return method


def async_method(
    call: Callable[Concatenate[C, P], Step[T]],
) -> Callable[Concatenate[Any, P], Coroutine[Any, Any, T]]:
    """``call`` as a coroutine client method."""

    @functools.wraps(call)
    async def method(self: AsyncClient, /, *args: P.args, **kwargs: P.kwargs) -> T:
        return await drive_async(self._http, call(self.calls, *args, **kwargs))  # type: ignore[arg-type]

    return method
