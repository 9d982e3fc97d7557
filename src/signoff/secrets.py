"""What counts as a secret when signoff shows something, and how it is masked.

One rule for every place that displays configuration or delivery records: the API's
reads, the reviewer pages, plan output, the Airflow operators' XCom and logs. In a
webhook or workflow body (wire dict or spec payload) the secrets are

* every header value: headers carry credentials under any name (``Authorization``,
  ``X-Api-Key``, but also ``X-Tenant-Token`` or a bespoke one), and no name pattern can
  tell which do, so none is shown;
* a signature's ``key`` (what signs the deliveries);
* the password of a URL's userinfo (``https://user:pass@host/``); the URL itself, user
  name included, is not a secret.

A masked value reads :data:`SECRET`; inside a URL the password reads :data:`MASK`, so
that the URL stays a URL (and reads as the service's own reads show it).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
"""What a URL's password reads (see :func:`mask_url`)."""

SECRET = "(secret)"  # noqa: S105 (the placeholder shown instead of a secret)
"""What a masked header value or signature key reads."""


def mask_url(url: str) -> str:
    """``url`` with the password of its userinfo replaced by ``***``; otherwise unchanged."""
    password = _url_password(url)
    if password is None:
        return url
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))


def masked(body: Any) -> Any:
    """A copy of ``body`` (any JSON-like value) with every secret masked (see above)."""
    return _walk(body, [])


def mask_field(name: str, value: Any) -> Any:
    """``value`` as shown when it is the field ``name`` of a body (e.g. one field of a
    plan's change): ``mask_field("headers", {...})`` masks every value."""
    return _field(name, value, [])


def secrets_in(body: Any) -> list[str]:
    """The secrets :func:`masked` hides in ``body``, e.g. to register them with a log
    masker before anything is logged (empty values are left out: nothing to hide)."""
    found: list[str] = []
    _walk(body, found)
    return [secret for secret in found if secret]


def _url_password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def _walk(body: Any, found: list[str]) -> Any:
    if isinstance(body, dict):
        return {name: _field(str(name), value, found) for name, value in body.items()}
    if isinstance(body, list):
        return [_walk(item, found) for item in body]
    return body


def _field(name: str, value: Any, found: list[str]) -> Any:
    if value is None:
        return None
    if name == "headers" and isinstance(value, dict):
        found += [str(v) for v in value.values() if v is not None]
        return {k: None if v is None else SECRET for k, v in value.items()}
    if name == "signature" and isinstance(value, dict) and value.get("key") is not None:
        found.append(str(value["key"]))
        return {**_walk(value, found), "key": SECRET}
    if name == "url" and isinstance(value, str):
        password = _url_password(value)
        if password:
            found.append(password)
        return mask_url(value)
    return _walk(value, found)
