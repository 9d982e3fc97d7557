"""Settings of ``signoff serve``; every option is also ``SIGNOFF_<NAME>`` in the environment."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = "sqlite:///signoff.db"
    api_keys: list[str] = field(default_factory=list)
    reviewer_tokens: list[str] = field(default_factory=list)
    public_url: str | None = None
    """Base of the ``reviewUrl`` links; defaults to ``http://host:port``."""
    default_expiry_seconds: int = 24 * 3600
    signing_secret: str | None = None
    """Key of the ``X-Signoff-Signature`` on callbacks; generated and stored when unset."""
    outbound_allow: list[IPNetwork] = field(default_factory=list)
    """Private networks that callbacks and deliveries may reach anyway (e.g. 127.0.0.0/8)."""
    max_body_bytes: int = 1024 * 1024
    delivery_backoff_base: float = 2.0
    delivery_backoff_cap: float = 3600.0
    delivery_max_attempts: int = 12
    delivery_timeout: float = 10.0
    endpoint_flag_after: int = 5
    """Consecutive failed attempts after which an endpoint shows as failing."""
    endpoint_deactivate_after: float = 72 * 3600.0
    """Seconds an endpoint may keep failing before it is deactivated."""
    sweep_interval: float = 1.0
    rate_limit: float = 2000.0
    """Requests per second per key (bursts of twice that); 0 turns the limit off."""
    auth_failure_rate: float = 10.0
    """Failed keys or sign-ins per second per client address, in bursts of ten times that;
    past it every authenticated request from there is 429 for a while. 0: no limit."""
    keyring_refresh: float = 5.0
    """Seconds between re-reads of stored keys, so rotation needs no restart."""

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::") else self.host
        return f"http://{host}:{self.port}"


def parse_networks(values: list[str]) -> list[IPNetwork]:
    """``127.0.0.0/8,10.1.2.3`` -> networks; raises ``ValueError`` naming the bad one."""
    networks: list[IPNetwork] = []
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"not an IP address or network: {item!r}") from None
    return networks
