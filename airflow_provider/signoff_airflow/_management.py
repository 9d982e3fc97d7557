"""What the webhook, workflow and subscription operators share: errors and secrets.

An API error becomes an Airflow exception that names the API's own error text and the
HTTP status; one a retry cannot fix (a refused body, a missing object, a conflict, a
refused key) fails the task without retrying. Secrets, as the core's one rule
(:mod:`signoff.secrets`) finds them (header values, signature keys, URL passwords), are
registered with Airflow's secrets masker, so no log shows them; what goes to XCom is
masked by the same rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

from signoff.client import APIError, RateLimited, ServerError, SignoffError
from signoff.secrets import masked, secrets_in


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


def hide(secrets: Iterable[str]) -> None:
    """Register each secret with Airflow's secrets masker: logs show ``***`` instead."""
    from airflow.sdk.log import mask_secret

    for secret in secrets:
        if secret:
            mask_secret(secret)


def shown(body: Any) -> Any:
    """``body`` as it may go to XCom: its secrets hidden from logs, and masked."""
    hide(secrets_in(body))
    return masked(body)
