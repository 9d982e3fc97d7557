"""The outbound guard: IPv6 forms that carry an IPv4 address, the allow-list, and pinning.

Pinning tests send through the worker's real transport to real sockets on 127.0.0.1;
only the DNS answers are scripted (``guard.resolve`` is the one lookup of a check).
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Callable, Iterator
from typing import cast

import pytest

from signoff.server.config import IPNetwork, Settings
from signoff.server.delivery import guard
from signoff.server.delivery.guard import Blocked, check_url, reachable
from signoff.server.delivery.signing import headers_for
from signoff.server.delivery.worker import DeliveryWorker
from signoff.server.store.outbox import Attempt, DueDelivery, OutboxStore
from tests.receiver import receiver

V4 = ipaddress.IPv4Address
NO_STORE = cast(OutboxStore, None)
"""Sending needs no store: only claiming and settling do."""
LOOPBACK: list[IPNetwork] = [ipaddress.ip_network("127.0.0.0/8")]


def sixtofour(v4: str) -> str:
    return str(ipaddress.IPv6Address((0x2002 << 112) | (int(V4(v4)) << 80)))


def teredo(server: str, client: str) -> str:
    """A Teredo address; the client address is stored inverted (RFC 4380)."""
    obfuscated = ~int(V4(client)) & 0xFFFFFFFF
    return str(ipaddress.IPv6Address((0x20010000 << 96) | (int(V4(server)) << 64) | obfuscated))


def nat64(v4: str, prefix: str = "64:ff9b::") -> str:
    return str(ipaddress.IPv6Address(int(ipaddress.IPv6Address(prefix)) | int(V4(v4))))


def mapped(v4: str) -> str:
    return f"::ffff:{v4}"


def compatible(v4: str) -> str:
    return str(ipaddress.IPv6Address(int(V4(v4))))


def test_the_address_builders_make_what_ipaddress_decodes() -> None:
    assert sixtofour("169.254.169.254") == "2002:a9fe:a9fe::"
    assert ipaddress.IPv6Address(sixtofour("10.0.0.1")).sixtofour == V4("10.0.0.1")
    assert ipaddress.IPv6Address(teredo("65.54.227.120", "127.0.0.1")).teredo == (
        V4("65.54.227.120"),
        V4("127.0.0.1"),
    )
    assert nat64("127.0.0.1") == "64:ff9b::7f00:1"
    assert ipaddress.IPv6Address(mapped("10.0.0.1")).ipv4_mapped == V4("10.0.0.1")
    assert compatible("10.0.0.1") == "::a00:1"


@pytest.mark.parametrize(
    "address",
    [
        sixtofour("169.254.169.254"),
        sixtofour("127.0.0.1"),
        sixtofour("10.0.0.1"),
        teredo("65.54.227.120", "127.0.0.1"),  # private client
        teredo("169.254.169.254", "8.8.8.8"),  # private server
        nat64("169.254.169.254"),
        nat64("127.0.0.1"),
        nat64("10.0.0.1", "64:ff9b:1::"),
        mapped("127.0.0.1"),
        mapped("169.254.169.254"),
        mapped("192.168.1.1"),
        compatible("127.0.0.1"),
        compatible("169.254.169.254"),
        compatible("0.0.0.2"),
        "::1",
        "::",
        "fe80::1",
        "fd00::1",
        "127.0.0.1",
        "169.254.169.254",
        "100.64.0.1",
    ],
)
def test_addresses_that_reach_private_networks_are_refused(address: str) -> None:
    assert not reachable(ipaddress.ip_address(address), [])


@pytest.mark.parametrize(
    "address",
    [
        sixtofour("8.8.8.8"),
        teredo("65.54.227.120", "8.8.8.8"),
        nat64("8.8.8.8"),
        nat64("1.1.1.1", "64:ff9b:1::"),
        mapped("8.8.8.8"),
        compatible("8.8.8.8"),
        "2606:4700:4700::1111",
        "8.8.8.8",
    ],
)
def test_public_addresses_in_every_form_are_allowed(address: str) -> None:
    assert reachable(ipaddress.ip_address(address), [])


def test_the_allow_list_allows_an_address_and_its_ipv6_forms_only() -> None:
    for address in ["127.0.0.1", "127.9.9.9", mapped("127.0.0.1"), sixtofour("127.0.0.1")]:
        assert reachable(ipaddress.ip_address(address), LOOPBACK), address
    for address in ["10.0.0.1", sixtofour("169.254.169.254"), teredo("10.0.0.1", "127.0.0.1")]:
        assert not reachable(ipaddress.ip_address(address), LOOPBACK), address
    assert reachable(ipaddress.ip_address("::1"), [ipaddress.ip_network("::1/128")])


async def test_check_url_refuses_6to4_metadata_without_a_lookup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def no_lookup(host: str, port: int) -> list[guard.IPAddress]:
        raise AssertionError(f"looked up {host}")

    monkeypatch.setattr(guard, "resolve", no_lookup)
    with pytest.raises(Blocked) as refused:
        await check_url("http://[2002:a9fe:a9fe::]/latest/meta-data", [])
    assert str(refused.value) == (
        "2002:a9fe:a9fe:: resolves to 2002:a9fe:a9fe::, a private or reserved address "
        "(allow it with --outbound-allow)"
    )
    await check_url("http://127.0.0.1:9/", LOOPBACK)


# Pinning: the connection goes to the address that was checked.


class Resolver:
    """Scripted DNS: each lookup of a name gets the next answer (the last one repeats)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = [[ipaddress.ip_address(a) for a in answer] for answer in answers]
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[guard.IPAddress]:
        self.lookups.append(host)
        return self.answers[min(len(self.lookups), len(self.answers)) - 1]


Install = Callable[[Resolver], Resolver]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Install:
    """Installs a scripted resolver for both the worker's check and the connect."""

    def install(resolver: Resolver) -> Resolver:
        monkeypatch.setattr(guard, "resolve", resolver)
        return resolver

    return install


async def send(
    url: str, allow: list[IPNetwork], kind: str = "webhook", headers: dict[str, str] | None = None
) -> Attempt:
    worker = DeliveryWorker(
        NO_STORE,
        Settings(outbound_allow=allow, delivery_timeout=5.0),
        "secret",
    )
    item = DueDelivery(
        id="dlv_test",
        kind=kind,
        subject_id="evt_test",
        url=url,
        payload='{"id":"evt_test"}',
        headers=headers or {},
        attempt_count=0,
    )
    try:
        return await worker._send(item)
    finally:
        await worker.close()


async def test_a_name_that_rebinds_to_loopback_after_the_check_is_never_connected(
    dns: Install,
) -> None:
    """``localhost`` really is 127.0.0.1: a client that resolved again would get there."""
    resolver = dns(Resolver(["8.8.8.8"], ["127.0.0.1"]))
    with receiver() as hook:
        attempt = await send(f"http://localhost:{hook.port}/hook", allow=[])
        assert hook.received == []
    assert resolver.lookups == ["localhost", "localhost"]  # the check, then the connect
    assert attempt.state == "failed" and attempt.status_code is None
    assert attempt.error == (
        "blocked: localhost resolves to 127.0.0.1, a private or reserved address "
        "(allow it with --outbound-allow)"
    )


async def test_an_allowed_name_is_connected_at_the_checked_address_with_its_host_header(
    dns: Install,
) -> None:
    dns(Resolver(["127.0.0.1"]))  # receiver.test is in no real DNS: only the pin reaches it
    with receiver() as hook:
        attempt = await send(f"http://receiver.test:{hook.port}/hook", allow=LOOPBACK)
        (received,) = hook.wait_for(1)
    assert attempt.error is None and attempt.state == "delivered"
    assert received.headers["host"] == f"receiver.test:{hook.port}"
    assert received.body == b'{"id":"evt_test"}'


async def test_every_resolved_address_is_checked_and_tried_in_turn(
    dns: Install,
) -> None:
    dns(Resolver(["127.0.0.2", "127.0.0.1"]))  # nothing listens on 127.0.0.2
    with receiver() as hook:
        attempt = await send(f"http://two.test:{hook.port}/hook", allow=LOOPBACK)
        assert attempt.state == "delivered" and len(hook.wait_for(1)) == 1
    dns(Resolver(["127.0.0.1", "10.0.0.1"]))
    refused = await send("http://mixed.test:9/hook", allow=LOOPBACK)
    assert refused.error is not None and "mixed.test resolves to 10.0.0.1" in refused.error


@pytest.fixture
def tls_listener() -> Iterator[tuple[int, list[bytes]]]:
    """Accepts one connection and keeps the first bytes: a TLS ClientHello, with the SNI."""
    server = socket.create_server(("127.0.0.1", 0))
    hellos: list[bytes] = []

    def accept() -> None:
        conn, _ = server.accept()
        with conn:
            hellos.append(conn.recv(4096))

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1], hellos
    finally:
        server.close()
        thread.join(5)


async def test_tls_to_a_pinned_address_still_names_the_host(
    dns: Install,
    tls_listener: tuple[int, list[bytes]],
) -> None:
    port, hellos = tls_listener
    dns(Resolver(["127.0.0.1"]))
    attempt = await send(f"https://receiver.test:{port}/hook", allow=LOOPBACK)
    assert attempt.error is not None  # the listener never answers the handshake
    (hello,) = hellos
    assert hello[:1] == b"\x16" and b"receiver.test" in hello  # handshake record with SNI


# Configured headers never replace signoff's own.

HOSTILE = {
    "host": "internal.example",
    "content-type": "text/plain",
    "Content-Length": "1",
    "transfer-encoding": "chunked",
    "CONNECTION": "keep-alive, Upgrade",
    "cko-signature": "forged",
    "X-Signoff-Delivery": "dlv_forged",
    "x-signoff-attempt": "99",
    "x-signoff-signature": "forged",
    "X-Signoff-Anything": "forged",
    "X-Signoff-Managed": "my-subscription",
    "Authorization": "Bearer s3cret",
    "user-agent": "custom/1.0",
}


def test_signoffs_own_headers_win_in_any_spelling() -> None:
    signed = DueDelivery(
        "dlv_1", "workflow", "evt_1", "http://x/", "{}", {**HOSTILE, "Cko-Signature": "real"}, 2
    )
    headers = headers_for(signed, b"{}", "secret")
    assert {name.lower(): value for name, value in headers.items()} == {
        "content-type": "application/json",
        "x-signoff-delivery": "dlv_1",
        "x-signoff-attempt": "3",
        "cko-signature": "real",
        "x-signoff-managed": "my-subscription",
        "authorization": "Bearer s3cret",
        "user-agent": "custom/1.0",
    }
    assert len({name.lower() for name in headers}) == len(headers)  # nothing duplicated
    unsigned = DueDelivery(
        "dlv_2", "webhook", "evt_1", "http://x/", "{}", {"Cko-Signature": "configured"}, 0
    )
    assert "Cko-Signature" not in headers_for(unsigned, b"{}", "secret")
    callback = DueDelivery("dlv_3", "callback", "apr_1", "http://x/", "{}", HOSTILE, 0)
    headers = headers_for(callback, b"{}", "secret")
    assert headers["User-Agent"] == "Cheqpoint-Callback/1.0"
    assert headers["X-Signoff-Signature"].startswith("t=")
    assert "user-agent" not in headers and "x-signoff-signature" not in headers


async def test_hostile_configured_headers_do_not_reach_the_wire(
    dns: Install,
) -> None:
    dns(Resolver(["127.0.0.1"]))
    with receiver() as hook:
        attempt = await send(
            f"http://receiver.test:{hook.port}/hook",
            allow=LOOPBACK,
            kind="workflow",
            headers={**HOSTILE, "Cko-Signature": "real"},
        )
        (received,) = hook.wait_for(1)
    assert attempt.state == "delivered"
    assert received.body == b'{"id":"evt_test"}'
    sent = received.headers
    assert sent["host"] == f"receiver.test:{hook.port}"
    assert sent["content-type"] == "application/json"
    assert sent["content-length"] == str(len(received.body))
    assert "transfer-encoding" not in sent and "x-signoff-anything" not in sent
    assert sent["connection"] != "keep-alive, Upgrade"
    assert sent["cko-signature"] == "real" and sent["x-signoff-delivery"] == "dlv_test"
    assert sent["x-signoff-managed"] == "my-subscription"
