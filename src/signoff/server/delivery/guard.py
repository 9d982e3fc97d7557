"""Outbound guard: user-supplied URLs may not reach private networks unless allowed.

The host is resolved first and every address it resolves to is checked, so a name that
points at 127.0.0.1 or a cloud metadata address is refused like the address itself.
IPv6 forms that carry an IPv4 address (mapped, compatible, 6to4, Teredo, NAT64) are
judged by that IPv4 address: that is where the packets end up.

:class:`GuardedBackend` does the same check when a connection is opened and connects to
exactly the address it checked. Without it the HTTP client resolves the name again, and
a name can answer a public address to the check and 127.0.0.1 to the connect (DNS
rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

import httpcore

from signoff.server.config import IPNetwork

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
"""The well-known and the local-use NAT64 prefixes; the last 32 bits are the IPv4 host."""


class Blocked(Exception):
    """The URL resolves to an address outbound calls may not reach."""


def _forbidden(address: IPAddress) -> bool:
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def _embedded(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address routes to, if it is a transition form."""
    if isinstance(address, ipaddress.IPv4Address):
        return []
    if address.ipv4_mapped:
        return [address.ipv4_mapped]
    if address.sixtofour:
        return [address.sixtofour]
    if address.teredo:  # (server, client); the client address comes un-obfuscated
        return list(address.teredo)
    if any(address in prefix for prefix in NAT64):
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if 1 < int(address) <= 0xFFFFFFFF:  # IPv4-compatible ::a.b.c.d (not :: or ::1)
        return [ipaddress.IPv4Address(int(address))]
    return []


def reachable(address: IPAddress, allow: list[IPNetwork]) -> bool:
    """Whether outbound calls may reach ``address``: allowed explicitly, or public."""
    if any(address in network for network in allow):
        return True
    embedded = _embedded(address)
    if embedded:
        return all(reachable(inner, allow) for inner in embedded)
    return not _forbidden(address)


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The one DNS lookup per check (tests replace it to script the answers)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise Blocked(f"cannot resolve {host}: {exc.strerror}") from None
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))


async def checked_addresses(host: str, port: int, allow: list[IPNetwork]) -> list[IPAddress]:
    """What ``host`` resolves to, once every one of the addresses has passed the guard."""
    try:  # an address needs no lookup (a lookup is a thread-pool hop per delivery)
        addresses: list[IPAddress] = [ipaddress.ip_address(host)]
    except ValueError:
        addresses = await resolve(host, port)
    for address in addresses:
        if not reachable(address, allow):
            raise Blocked(
                f"{host} resolves to {address}, a private or reserved address "
                "(allow it with --outbound-allow)"
            )
    return addresses


async def check_url(url: str, allow: list[IPNetwork]) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Blocked(f"not an http(s) URL: {url}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    await checked_addresses(parts.hostname, port, allow)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses the guard passed, resolving the host once per connect.

    httpcore asks for a connection by the URL's host name and then does TLS with that
    name as ``server_hostname``, so SNI, certificate checks and the ``Host`` header keep
    the name while the socket goes to the checked address. :class:`Blocked` raised here
    reaches the caller of the request unchanged.
    """

    def __init__(
        self, allow: list[IPNetwork], inner: httpcore.AsyncNetworkBackend | None = None
    ) -> None:
        self.allow = allow
        self.inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        error: Exception = httpcore.ConnectError(f"{host} resolves to no address")
        for address in await checked_addresses(host, port, self.allow):
            try:  # in resolver order, like a client connecting by name
                return await self.inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        raise error

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise Blocked("outbound calls go over TCP only")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)
