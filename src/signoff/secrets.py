"""What counts as a secret when signoff shows something, and how it is masked.

One rule for every place that displays configuration or delivery records: the API's
reads, the reviewer pages, plan output and logs. A URL's userinfo password is a secret
(``https://user:pass@host/``); the URL itself, user name included, is not.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

MASK = "***"


def mask_url(url: str) -> str:
    """``url`` with the password of its userinfo replaced by ``***``; otherwise unchanged."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:{MASK}@{host}"))
