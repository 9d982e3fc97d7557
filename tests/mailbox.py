"""A real SMTP server (aiosmtpd) on a loopback port that keeps every message it takes.

It stands where a team's mail relay would: the service speaks SMTP to it over a real
socket, and tests read the messages as a mail client would (subject, text, links).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from signoff.server.process import free_port


@dataclass
class Mail:
    to: list[str]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    @property
    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else ""

    def link(self, decision: str = "approve") -> str:
        """The signed decision link for ``decision``, as a reader would click it."""
        found = re.search(rf"(https?://\S+/l/\S+\?decision={decision})", self.text)
        assert found, f"no {decision} link in:\n{self.text}"
        return found.group(1)


@dataclass
class Mailbox:
    port: int
    mails: list[Mail] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    refuse: bool = False
    """Answer 451 (try again later) to every message while set."""
    answer: str | None = None
    """While set, answer every message with this instead of taking it, e.g.
    ``"550 5.1.1 no such user"`` (a permanent refusal)."""

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Mail]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.mails) >= count, timeout)
            return list(self.mails)

    def to(self, address: str) -> list[Mail]:
        with self.arrived:
            return [mail for mail in self.mails if address in mail.to]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.answer is not None:
            return self.answer
        if self.refuse:
            return "451 4.3.0 try again later"
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        with self.arrived:
            self.mails.append(Mail(list(envelope.rcpt_tos), message))
            self.arrived.notify_all()
        return "250 OK"


@contextmanager
def mailbox(port: int = 0) -> Iterator[Mailbox]:
    box = Mailbox(port=port or free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()
