"""What the webhook, workflow and subscription operators share: errors and secrets.

An API error becomes an Airflow exception that names the API's own error text and the
HTTP status; one a retry cannot fix (a refused body, a missing object, a conflict, a
refused key) fails the task without retrying. Secrets (authorization-like header values,
signature keys) are registered with Airflow's secrets masker, so no log shows them, and
are replaced by ``(secret)`` in what goes to XCom.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from signoff.client import APIError, RateLimited, ServerError, SignoffError
from signoff.subscriptions import MANAGED_HEADER

MASK = "(secret)"
SENSITIVE_HEADER = re.compile(r"auth|token|key|secret|signature|password|cookie", re.IGNORECASE)
"""Header names whose values are treated as secrets (``Authorization``, ``X-Api-Key``...)."""


class SignoffAPIError(AirflowException):
    """The management API answered with an error a retry may fix (5xx, 429) or could not
    be reached."""


class SignoffRequestRefused(AirflowFailException):
    """The management API refused the request (4xx): retrying the same request cannot help."""


@contextmanager
def api_errors(what: str) -> Iterator[None]:
    """Turn the core's errors into Airflow's, naming ``what`` was being done."""
    try:
        yield
    except APIError as exc:
        message = f"{what} failed: HTTP {exc.status_code}: {exc.error}"
        if isinstance(exc, (ServerError, RateLimited)):
            raise SignoffAPIError(message) from exc
        raise SignoffRequestRefused(message) from exc
    except SignoffError as exc:
        raise SignoffAPIError(f"{what} failed: {exc}") from exc


def is_sensitive_header(name: str) -> bool:
    return name.lower() != MANAGED_HEADER.lower() and bool(SENSITIVE_HEADER.search(name))


def secrets_in(body: Any) -> list[str]:
    """Sensitive header values and signature keys anywhere in a webhook or workflow body."""
    found: list[str] = []
    if isinstance(body, dict):
        for name, value in body.items():
            if name == "headers" and isinstance(value, dict):
                found += [str(v) for k, v in value.items() if is_sensitive_header(str(k)) and v]
            elif name == "signature" and isinstance(value, dict) and value.get("key"):
                found.append(str(value["key"]))
            else:
                found += secrets_in(value)
    elif isinstance(body, list):
        for item in body:
            found += secrets_in(item)
    return found


def masked(body: Any) -> Any:
    """A copy of ``body`` with the values :func:`secrets_in` finds replaced by ``(secret)``."""
    if isinstance(body, dict):
        copy: dict[str, Any] = {}
        for name, value in body.items():
            if name == "headers" and isinstance(value, dict):
                copy[name] = {
                    k: MASK if is_sensitive_header(str(k)) and v else v for k, v in value.items()
                }
            elif name == "signature" and isinstance(value, dict) and value.get("key"):
                copy[name] = {**value, "key": MASK}
            else:
                copy[name] = masked(value)
        return copy
    if isinstance(body, list):
        return [masked(item) for item in body]
    return body


def hide(secrets: Any) -> None:
    """Register each secret with Airflow's secrets masker: logs show ``***`` instead."""
    from airflow.sdk.log import mask_secret

    for secret in secrets:
        if secret:
            mask_secret(secret)
