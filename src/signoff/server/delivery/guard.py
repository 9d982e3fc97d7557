"""Outbound guard: user-supplied URLs may not reach private networks unless allowed.

The host is resolved first and every address it resolves to is checked, so a name that
points at 127.0.0.1 or a cloud metadata address is refused like the address itself.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

from signoff.server.config import IPNetwork


class Blocked(Exception):
    """The URL resolves to an address outbound calls may not reach."""


def _forbidden(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


async def _resolve(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Blocked(f"cannot resolve {host}: {exc.strerror}") from None
    return [ipaddress.ip_address(info[4][0]) for info in infos]


async def check_url(url: str, allow: list[IPNetwork]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Blocked(f"not an http(s) URL: {url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:  # an address needs no lookup (a lookup is a thread-pool hop per delivery)
        addresses = [ipaddress.ip_address(parts.hostname)]
    except ValueError:
        addresses = await _resolve(parts.hostname, port)
    for address in addresses:
        if _forbidden(address) and not any(address in network for network in allow):
            raise Blocked(
                f"{parts.hostname} resolves to {address}, a private or reserved address "
                "(allow it with --outbound-allow)"
            )
