"""Part 3: signed event deliveries to a local receiver.

A workflow sends ``payment_captured`` to a receiver process (``asyncio.start_server``,
keep-alive, answers 200, checks every ``Cko-Signature``). The parent publishes events with
``POST /events`` and compares what was acknowledged with what arrived:

* throughput: M events published as fast as C connections allow; deliveries/s from the
  first publish to the last arrival; publish-to-receive latency per event;
* crash: the service is killed with ``kill -9`` when half the events are acknowledged,
  restarted on the same database and port, and publishing goes on; then every
  acknowledged event must arrive (at least once), duplicates counted.
"""

from __future__ import annotations

import asyncio
import json
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench import common
from bench.rawhttp import Conn

SIGNATURE_KEY = "bench-cko-signature-key"
DELIVERY_TARGET = 500.0
FANOUT = 10
"""Actions per event in the fan-out run: deliveries there are not bounded by publishing."""


# ------------------------------------------------------------------ the receiver process


async def _receiver(port: int) -> None:
    from signoff.signing import verify_cko_signature

    seen: list[tuple[str, float, bool, str]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                path = head.split(b" ", 2)[1].decode()
                headers = {}
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    headers[name.strip().lower().decode()] = value.strip().decode()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                at = time.monotonic()
                try:
                    verify_cko_signature(body, headers.get("cko-signature", ""), SIGNATURE_KEY)
                    ok = True
                except Exception:
                    ok = False
                try:
                    event_id = json.loads(body)["id"]
                except Exception:
                    event_id = "?"
                seen.append((event_id, at, ok, path))
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass  # the sender hung up, or the receiver is shutting down
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=1024)
    print("listening", flush=True)
    loop = asyncio.get_running_loop()
    stdin = loop.run_in_executor(None, sys.stdin.readline)
    reported = -1
    started = time.monotonic()
    while time.monotonic() - started < 600:
        done, _ = await asyncio.wait({stdin}, timeout=0.2)
        if done:
            break
        if len(seen) != reported:
            reported = len(seen)
            print(f"count {reported}", flush=True)
    server.close()
    print("dump " + json.dumps(seen), flush=True)


def receiver_main(argv: list[str]) -> None:
    asyncio.run(_receiver(int(argv[0])))


class Receiver:
    def __init__(self) -> None:
        from signoff.server.process import free_port

        self.port = free_port()
        self.proc = subprocess.Popen(
            [common.PY, "-m", "bench", "_receiver", str(self.port)],
            cwd=common.ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.count = 0
        threading.Thread(target=self._read, daemon=True).start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if self.lines.get(timeout=0.5) == "listening":
                    return
            except queue.Empty:
                pass
        raise RuntimeError("receiver did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if line.startswith("count "):
                self.count = int(line.split()[1])
            else:
                self.lines.put(line)

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.count < count and time.monotonic() < deadline:
            time.sleep(0.05)

    def dump(self) -> list[tuple[str, float, bool, str]]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("stop\n")
        self.proc.stdin.flush()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line.startswith("dump "):
                self.proc.wait(10)
                return [tuple(x) for x in json.loads(line[5:])]  # type: ignore[misc]
        self.proc.kill()
        return []


# ------------------------------------------------------------------ publishing


async def publish(
    port_of: Any, count: int, concurrency: int, on_half: Any = None, budget: float = 120.0
) -> tuple[dict[str, float], int]:
    """Publish ``count`` events; returns {event id: send time} of acknowledged ones."""
    acked: dict[str, float] = {}
    attempts = 0
    todo = iter(range(count))
    half = asyncio.Event()
    deadline = time.monotonic() + budget
    headers = {"Authorization": f"Bearer {common.CKO_KEY}"}

    async def worker() -> None:
        nonlocal attempts
        conn = Conn("127.0.0.1", port_of())
        for i in todo:
            while time.monotonic() < deadline:
                attempts += 1
                sent = time.monotonic()
                try:
                    status, body = await conn.request(
                        "POST",
                        "/events",
                        {"type": "payment_captured", "data": {"id": f"pay_{i}", "seq": i}},
                        headers,
                    )
                except (ConnectionError, OSError):
                    conn = Conn("127.0.0.1", port_of())
                    await asyncio.sleep(0.1)
                    continue
                if status in (200, 201):
                    acked[json.loads(body)["id"]] = sent
                    if len(acked) >= count // 2 and not half.is_set():
                        half.set()
                    break
                await asyncio.sleep(0.1)
        await conn.close()

    async def crash() -> None:
        await half.wait()
        await asyncio.get_running_loop().run_in_executor(None, on_half)

    extra = [asyncio.create_task(crash())] if on_half else []
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    for task in extra:
        if not task.done():
            await task
    return acked, attempts


def setup_workflow(url: str, receiver: Receiver, fanout: int = 1) -> None:
    """One workflow; with ``fanout`` > 1 it has that many actions, all at the receiver."""
    from signoff.client import WorkflowsClient

    with WorkflowsClient(url, secret_key=common.CKO_KEY) as client:
        client.create(
            {
                "name": "bench receiver",
                "conditions": [{"type": "event", "events": {"gateway": ["payment_captured"]}}],
                "actions": [
                    {
                        "type": "webhook",
                        "url": receiver.url if fanout == 1 else f"{receiver.url}/{k}",
                        "signature": {"method": "HMACSHA256", "key": SIGNATURE_KEY},
                    }
                    for k in range(fanout)
                ],
            }
        )


def throughput_once(
    workdir: Path, count: int, on_started: Any = None, fanout: int = 1
) -> dict[str, Any]:
    receiver = Receiver()
    svc = common.service(workdir)
    svc.start()
    try:
        if on_started is not None:
            on_started(svc)
        setup_workflow(svc.url, receiver, fanout)
        t0 = time.monotonic()
        acked, _ = asyncio.run(publish(lambda: svc.port, count, 8))
        publish_s = time.monotonic() - t0
        receiver.wait_for(len(acked) * fanout, 90)
        seen = receiver.dump()
    finally:
        svc.stop()
        receiver.proc.kill()
    first: dict[str, float] = {}
    arrived: dict[tuple[str, str], float] = {}
    for event_id, at, _ok, path in seen:
        first.setdefault(event_id, at)
        arrived.setdefault((event_id, path), at)
    lat = [1000 * (at - acked[e]) for (e, _), at in arrived.items() if e in acked]
    last = max((at for _, at, _, _ in seen), default=t0)
    return {
        "fanout": fanout,
        "published": len(acked),
        "received": len(seen),
        "unique": len(arrived),
        "bad_signatures": sum(1 for _, _, ok, _ in seen if not ok),
        "publish_per_s": len(acked) / publish_s,
        "deliveries_per_s": len(seen) / max(last - t0, 1e-9),
        "latency_p50_ms": common.pct(lat, 50),
        "latency_p99_ms": common.pct(lat, 99),
        "lost": len(acked) * fanout - sum(1 for (e, _) in arrived if e in acked),
    }


def crash_once(workdir: Path, count: int) -> dict[str, Any]:
    receiver = Receiver()
    svc = common.service(workdir)
    svc.start()
    state: dict[str, Any] = {"svc": svc}

    def kill_and_restart() -> None:
        old = state["svc"]
        old.kill()  # kill -9
        state["killed_at"] = time.monotonic()
        new = common.service(workdir, old.database_url)
        new.port = old.port
        new.start()
        state["svc"] = new
        state["down_s"] = time.monotonic() - state["killed_at"]

    try:
        setup_workflow(svc.url, receiver)
        acked, attempts = asyncio.run(
            publish(lambda: state["svc"].port, count, 4, on_half=kill_and_restart)
        )
        receiver.wait_for(len(acked), 90)
        time.sleep(3.0)  # duplicates count too: give stragglers a moment before comparing ids
        seen = receiver.dump()
    finally:
        state["svc"].stop()
        receiver.proc.kill()
    ids = [e for e, _, _, _ in seen]
    unique = set(ids)
    return {
        "published": len(acked),
        "publish_attempts": attempts,
        "received": len(ids),
        "unique_received": len(unique),
        "lost": sum(1 for e in acked if e not in unique),
        "duplicates": len(ids) - len(unique),
        "unacknowledged_but_delivered": len(unique - set(acked)),
        "bad_signatures": sum(1 for _, _, ok, _ in seen if not ok),
        "downtime_s": state.get("down_s"),
    }


def run(quick: bool, workdir: Path, **_: Any) -> dict[str, Any]:
    reps = 2 if quick else 3
    count = 200 if quick else 400
    rows = []
    for rep in range(reps):
        for fanout in (1, FANOUT):  # interleaved: one event per delivery, then a fan-out
            r = throughput_once(workdir / f"deliver-{rep}-{fanout}", count, fanout=fanout)
            r["rep"] = rep
            rows.append(r)
            print(
                f"  rep {rep} fan-out {fanout}: published {r['published']} "
                f"({r['publish_per_s']:.0f}/s), received "
                f"{r['received']} ({r['deliveries_per_s']:.0f}/s), latency p50 "
                f"{r['latency_p50_ms']:.0f} ms p99 {r['latency_p99_ms']:.0f} ms, lost {r['lost']}, "
                f"bad signatures {r['bad_signatures']}",
                flush=True,
            )
    crashes = []
    for rep in range(1 if quick else 2):
        c = crash_once(workdir / f"crash-{rep}", count)
        crashes.append(c)
        print(f"  kill -9 run {rep}: {c}", flush=True)
    return {"reps": reps, "count": count, "throughput": rows, "crash": crashes}
