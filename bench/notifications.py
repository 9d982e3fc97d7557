"""Part 8: notifications (issue 17): how soon a reviewer's email arrives, and what telling
people costs the create path.

* latency: one SQLite ``signoff serve --smtp-url`` and a real SMTP server (aiosmtpd, in
  this process) on loopback; a finance group of two reviewers with emails; for each of N
  sequential approvals, the time from sending ``POST /api/approvals/request`` to the
  second email arriving, and from a reviewer's decision to the other's "Approved by"
  email;
* creates/s: part 7's refund create body (open to any reviewer), 16 at a time, on a
  service with ``--smtp-url`` (each create tells the three reviewers: three emails queued
  in its transaction, sent by the worker meanwhile) and on one without (none queued),
  rounds alternating.
"""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench import common
from bench.policies import creates_once

ADMIN_KEY = "bench-admin-key"
GROUP = "finance"
MEMBERS = ("fin-alice", "fin-bob", "fin-carol")


class Inbox:
    """A real SMTP server that notes when each message arrived (monotonic clock)."""

    def __init__(self) -> None:
        self.arrived: list[tuple[float, list[str], str]] = []
        self.changed = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.changed:
            subject = ""
            for line in envelope.content.decode("utf-8", "replace").splitlines():
                if line.lower().startswith("subject:"):
                    subject = line[8:].strip()
                    break
            self.arrived.append((time.monotonic(), list(envelope.rcpt_tos), subject))
            self.changed.notify_all()
        return "250 OK"

    def wait(self, count: int, timeout: float = 30.0) -> list[tuple[float, list[str], str]]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.arrived) >= count, timeout)
            return list(self.arrived)


def _reviewers(url: str) -> dict[str, str]:
    tokens = {}
    for name in MEMBERS:
        r = httpx.post(
            f"{url}/api/reviewers",
            json={"name": name, "email": f"{name}@example.com", "groups": [GROUP]},
            headers={"x-api-key": ADMIN_KEY},
            timeout=30,
        )
        r.raise_for_status()
        tokens[name] = r.json()["token"]
    return tokens


def _create(http: httpx.Client, i: int) -> str:
    r = http.post(
        "/api/approvals/request",
        json={
            "action": "process_refund_batch",
            "summary": f"Refund batch {i}",
            "details": {"total": 1200.0 + i},
            "groups": [GROUP],
            "requestedBy": MEMBERS[2],  # carol asks: alice and bob are told
        },
        headers={"x-api-key": common.API_KEY},
    )
    r.raise_for_status()
    return str(r.json()["id"])


def latency(quick: bool, workdir: Path) -> dict[str, Any]:
    from aiosmtpd.controller import Controller

    from signoff.server.process import free_port

    n = 30 if quick else 100
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    svc = common.service(
        workdir / "notify-latency",
        None,
        "--admin-key",
        f"admin={ADMIN_KEY}",
        "--smtp-url",
        f"smtp://127.0.0.1:{port}",
    )
    svc.start()
    told, heard = [], []
    try:
        tokens = _reviewers(svc.url)
        with httpx.Client(base_url=svc.url, timeout=30) as http:
            for i in range(n):
                before = len(inbox.arrived)
                t0 = time.monotonic()
                approval_id = _create(http, i)
                mails = inbox.wait(before + 2)
                told.append(mails[before + 1][0] - t0)
                t1 = time.monotonic()
                r = http.post(
                    f"/api/approvals/{approval_id}/decision",
                    json={"decision": "approve"},
                    headers={"Authorization": f"Bearer {tokens['fin-alice']}"},
                )
                r.raise_for_status()
                mails = inbox.wait(before + 3)
                assert "Approved by fin-alice" in mails[before + 2][2], mails[before + 2]
                heard.append(mails[before + 2][0] - t1)
    finally:
        svc.stop()
        controller.stop()

    def ms(values: list[float]) -> dict[str, float]:
        return {
            "median_ms": 1000 * statistics.median(values),
            "p95_ms": 1000 * common.pct(values, 95),
            "max_ms": 1000 * max(values),
        }

    return {"approvals": n, "both_told": ms(told), "decided_heard": ms(heard)}


def throughput(quick: bool, workdir: Path) -> dict[str, Any]:
    from aiosmtpd.controller import Controller

    from signoff.server.process import free_port

    rounds, duration, concurrency = (2, 3.0, 16) if quick else (5, 5.0, 16)
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    admin = ("--admin-key", f"admin={ADMIN_KEY}")
    services = {
        "no email": common.service(workdir / "notify-off", None, *admin),
        "3 emails per create": common.service(
            workdir / "notify-on", None, *admin, "--smtp-url", f"smtp://127.0.0.1:{port}"
        ),
    }
    rows: list[dict[str, Any]] = []
    try:
        for svc in services.values():
            svc.start()
            _reviewers(svc.url)
        for r in range(rounds):
            for name in list(services) if r % 2 == 0 else list(reversed(services)):
                row = creates_once(services[name], duration, concurrency)
                rows.append({"config": name, "round": r, **row})
    finally:
        for svc in services.values():
            svc.stop()
        controller.stop()
    summary = {}
    for name in services:
        mine = [row["create_per_s"] for row in rows if row["config"] == name]
        summary[name] = {"median_creates_per_s": statistics.median(mine), "rounds": mine}
    return {"rows": rows, "summary": summary, "emails_received": len(inbox.arrived)}


def run(quick: bool, workdir: Path) -> dict[str, Any]:
    return {
        "quick": quick,
        "latency": latency(quick, workdir),
        "throughput": throughput(quick, workdir),
    }
