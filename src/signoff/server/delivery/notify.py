"""Sends notifications the outbox holds: email over SMTP (aiosmtplib), chat and push
through Apprise, and signoff's Slack app through slack-sdk. None of those protocols is
written here; this module maps each one's outcome onto an attempt (error, excerpt,
retry or give up), as ``worker._send`` does for HTTP.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from signoff.server.config import Settings, smtp_target
from signoff.server.delivery.guard import Blocked, checked_addresses
from signoff.server.delivery.targets import guarded_host
from signoff.server.store.kinds import DeliveryKind
from signoff.server.store.outbox import DueDelivery

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sent:
    error: str | None = None
    excerpt: str | None = None
    retry: bool = True


class Notifier:
    """One per worker: the SMTP target, the Slack client, and the send of each kind."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._slack: Any = None

    async def send(self, item: DueDelivery) -> Sent:
        try:
            message = json.loads(item.payload)
        except ValueError:
            return Sent("the stored notification is not JSON", retry=False)
        if not isinstance(message, dict):
            return Sent("the stored notification is not an object", retry=False)
        try:
            if item.kind is DeliveryKind.EMAIL:
                return await self._email(item.id, item.url.removeprefix("mailto:"), message)
            if item.kind is DeliveryKind.CHAT:
                return await self._chat(item.url, message)
            return await self._slack_post(item.url.removeprefix("slack-app:"), message)
        except Blocked as exc:
            return Sent(f"blocked: {exc}", retry=False)

    async def _email(self, delivery_id: str, to: str, message: dict[str, Any]) -> Sent:
        """One message per delivery, whatever the attempt: its ``Message-ID`` is the
        delivery's, so a resend after a crash between sending and recording it is the
        same message to mail clients and relays."""
        import aiosmtplib

        if not self.settings.smtp_url:
            return Sent("no --smtp-url: email is off", retry=False)
        server = smtp_target(self.settings.smtp_url)
        mail = EmailMessage()
        mail["Subject"] = str(message.get("subject", "signoff"))
        mail["From"] = self.settings.smtp_from
        mail["To"] = to
        mail["Message-ID"] = f"<{delivery_id}@signoff>"
        mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
        mail.set_content(str(message.get("text", "")))
        if message.get("html"):
            mail.add_alternative(str(message["html"]), subtype="html")
        try:
            _, answer = await aiosmtplib.send(
                mail,
                hostname=server.host,
                port=server.port,
                username=server.username,
                password=server.password,
                use_tls=server.use_tls,
                start_tls=server.start_tls,
                timeout=self.settings.delivery_timeout,
            )
        except aiosmtplib.SMTPResponseException as exc:  # 5xx: the server will never take it
            return Sent(f"mail server answered {exc.code}: {exc.message}", retry=exc.code < 500)
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            return Sent(f"{type(exc).__name__}: {exc}")
        return Sent(excerpt=answer[:500] or None)

    async def _chat(self, url: str, message: dict[str, Any]) -> Sent:
        """Apprise makes its own connection: the host its URL names is checked first, so
        a target cannot point the service at a private address (unless allowed)."""
        import apprise

        try:
            host = guarded_host(url)
        except ValueError as exc:
            return Sent(str(exc), retry=False)
        if host is not None:
            await checked_addresses(host[0], host[1], self.settings.outbound_allow)
        notifier = apprise.Apprise()
        notifier.add(url)
        with apprise.LogCapture(level=logging.WARNING) as captured:
            ok = await notifier.async_notify(
                body=str(message.get("text", "")), title=str(message.get("subject", ""))
            )
            said = captured.getvalue().strip()
        if ok:
            return Sent()
        return Sent(said.splitlines()[-1][:500] if said else "the chat service refused it")

    def slack(self) -> Any:
        """The Web API client (``--slack-api-url`` points it at a stand-in in tests)."""
        from slack_sdk.web.async_client import AsyncWebClient

        if self._slack is None:
            self._slack = AsyncWebClient(
                token=self.settings.slack_bot_token,
                base_url=self.settings.slack_api_url,
                timeout=int(self.settings.delivery_timeout),
            )
        return self._slack

    async def _slack_post(self, channel: str, message: dict[str, Any]) -> Sent:
        from slack_sdk.errors import SlackApiError

        if not self.settings.slack_bot_token:
            return Sent("no --slack-bot-token: Slack app mode is off", retry=False)
        slack = message.get("slack")
        slack = slack if isinstance(slack, dict) else {}
        text, blocks = str(slack.get("text", "")), slack.get("blocks")
        update = message.get("update")
        try:
            if isinstance(update, dict):
                answer = await self.slack().chat_update(
                    channel=update["channel"], ts=update["ts"], text=text, blocks=blocks
                )
            else:
                answer = await self.slack().chat_postMessage(
                    channel=channel, text=text, blocks=blocks
                )
        except SlackApiError as exc:
            error = str(exc.response.get("error", exc))
            retry = exc.response.status_code >= 500 or error in ("ratelimited", "rate_limited")
            return Sent(f"Slack answered {error}", retry=retry)
        except (OSError, asyncio.TimeoutError) as exc:
            return Sent(f"{type(exc).__name__}: {exc}")
        return Sent(excerpt=json.dumps({"channel": answer.get("channel"), "ts": answer.get("ts")}))

    async def close(self) -> None:
        session = getattr(self._slack, "session", None)
        if session is not None:
            await session.close()
