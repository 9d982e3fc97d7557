"""Notification targets: what kind of delivery each one is, whether the service can send
to it, and how it is shown without its secrets.

A target is an email address, ``slack-app:#channel`` (signoff's own Slack app, with
buttons) or a chat/push URL that Apprise speaks (``slack://``, ``msteams://``,
``discord://``, ``mmost://``, ``ntfy://``, ``pagerduty://``, ``json://``...). signoff
writes none of those protocols itself.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from signoff.models.reviewers import check_target
from signoff.server.store.kinds import DeliveryKind

SLACK_APP = "slack-app:"


@dataclass(frozen=True)
class Target:
    kind: DeliveryKind
    url: str
    """What the delivery row stores: ``mailto:addr``, the Apprise URL, ``slack-app:#c``."""

    @property
    def address(self) -> str:
        """The email address, the Slack channel, or the Apprise URL."""
        if self.kind is DeliveryKind.EMAIL:
            return self.url.removeprefix("mailto:")
        if self.kind is DeliveryKind.SLACK:
            return self.url.removeprefix(SLACK_APP)
        return self.url


def target_of(value: str) -> Target:
    """Classify a target already checked by :func:`check_target`."""
    value = check_target(value)
    if value.startswith(SLACK_APP):
        return Target(DeliveryKind.SLACK, value)
    if "://" in value:
        return Target(DeliveryKind.CHAT, value)
    return Target(DeliveryKind.EMAIL, "mailto:" + value)


def apprise_plugin(url: str) -> Any:
    """Apprise's plugin for ``url``; ``ValueError`` when Apprise does not know it."""
    import apprise

    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        scheme = url.split("://", 1)[0]
        raise ValueError(
            f"{scheme}:// is not a notification URL Apprise knows (or its tokens are "
            "missing); see https://github.com/caronc/apprise/wiki"
        )
    return plugin


def chat_targets(values: list[str]) -> list[str]:
    """A reviewer's own chat/push targets, each known to Apprise (email and Slack app
    targets are refused here: a reviewer's email is its own field); ``ValueError``."""
    found = []
    for value in values:
        target = target_of(value)
        if target.kind is DeliveryKind.CHAT:
            apprise_plugin(target.url)
        elif target.kind is DeliveryKind.EMAIL:
            raise ValueError(f"notify: {value} is an email address; give it as the email")
        found.append(target.url)
    return found


def check_targets(values: list[str], where: str) -> list[str]:
    """Problems with a policy file's targets (``where`` names the field)."""
    problems = []
    for value in values:
        try:
            target = target_of(value)
            if target.kind is DeliveryKind.CHAT:
                apprise_plugin(target.url)
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
    return problems


def mask_target(value: str) -> str:
    """A target as pages and the API show it: an Apprise URL's tokens masked (Apprise's
    own privacy form, without its query of defaults); addresses as they are."""
    try:
        target = target_of(value)
    except ValueError:
        return "(unreadable target)"
    if target.kind is not DeliveryKind.CHAT:
        return target.address
    try:
        return str(apprise_plugin(target.url).url(privacy=True)).split("?", 1)[0]
    except Exception:  # a stored URL a newer or older Apprise reads otherwise: never fail a read
        return target.url.split("://", 1)[0] + "://(unknown)"


def guarded_host(url: str) -> tuple[str, int] | None:
    """The host an Apprise URL makes the service connect to, when it names one (``json://``,
    ``ntfy://host/topic``, ``mmost://host``...): the SSRF guard checks its addresses.
    ``None`` for services at fixed public hosts, whose URL carries tokens where a host
    would be (``slack://T/B/C``, ``discord://id/token``)."""
    plugin = apprise_plugin(url)
    host = getattr(plugin, "host", None)
    if not isinstance(host, str) or not host:
        return None
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if "." not in host and host != "localhost":
            return None
    port = getattr(plugin, "port", None)
    secure = bool(getattr(plugin, "secure", False))
    return host.strip("[]"), int(port) if isinstance(port, int) else (443 if secure else 80)
