"""Part 1: what N pending approvals cost while nobody decides, and how fast a decision wakes
its waiter. Contenders, each in its own fresh asyncio process (the way a triggerer runs):

* ``signoff``: ``signoff.waiting.DecisionWaiter``, all N share one ``POST /api/approvals/wait``.
* ``poll3``: one loop of ``GET /api/approvals/{id}`` every 3 s per approval (hosted SDK).
* ``poll5``: the same every 5 s (Airflow's HITL trigger).

The waiter process prints ``base`` (imports done, client warm), ``ready`` (N waits running),
and ``woke ID MONOTONIC`` per decision it sees; CLOCK_MONOTONIC is system-wide on Linux,
so the parent's decision timestamp and the child's wake timestamp compare directly.
"""

from __future__ import annotations

import asyncio
import json
import queue
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench import common
from bench.rawhttp import Conn

CONTENDERS = {"signoff": 0.0, "poll3": 3.0, "poll5": 5.0}
MAX_LIFETIME = 240.0  # a waiter process never outlives this


# ------------------------------------------------------------------ the waiter process


async def _waiter_main(mode: str, url: str, ids: list[str]) -> None:
    from signoff.client import AsyncApprovalsClient
    from signoff.waiting import DecisionWaiter

    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    http = httpx.AsyncClient(timeout=httpx.Timeout(60.0), limits=limits)
    client = AsyncApprovalsClient(url, api_key=common.API_KEY, http_client=http)
    await client.get(ids[0])  # warm: imports, connection, models
    print("base", flush=True)
    errors = 0

    def woke(approval_id: str) -> None:
        print(f"woke {approval_id} {time.monotonic():.6f}", flush=True)

    async def with_waiter(waiter: Any, approval_id: str) -> None:
        await waiter.wait(approval_id, timeout=MAX_LIFETIME)
        woke(approval_id)

    async def polling(approval_id: str, interval: float) -> None:
        nonlocal errors
        await asyncio.sleep(random.uniform(0, interval))  # triggers start at different times
        while True:
            try:
                approval = await client.get(approval_id)
                if approval.is_decided:
                    woke(approval_id)
                    return
            except httpx.HTTPError:
                errors += 1
            await asyncio.sleep(interval)

    if mode == "signoff":
        waiter = DecisionWaiter(client)
        tasks = [asyncio.create_task(with_waiter(waiter, i)) for i in ids]
    else:
        tasks = [asyncio.create_task(polling(i, CONTENDERS[mode])) for i in ids]
    await asyncio.sleep(0.5)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    stdin_closed = loop.run_in_executor(None, sys.stdin.read)
    await asyncio.wait_for(stdin_closed, MAX_LIFETIME)
    for task in tasks:
        task.cancel()
    print(f"errors {errors}", flush=True)


def waiter_main(argv: list[str]) -> None:
    mode, url, ids_file = argv
    ids = Path(ids_file).read_text().split()
    try:
        asyncio.run(_waiter_main(mode, url, ids))
    except (TimeoutError, asyncio.TimeoutError):
        pass


# ------------------------------------------------------------------ the parent


async def create_pending(url: str, count: int, concurrency: int = 16) -> list[str]:
    ids: list[str] = []
    todo = iter(range(count))
    host, port = url.removeprefix("http://").split(":")
    headers = {"x-api-key": common.API_KEY}

    async def worker() -> None:
        conn = Conn(host, int(port))
        for i in todo:
            status, body = await conn.request(
                "POST",
                "/api/approvals/request",
                {"action": "bench_wait", "summary": f"pending #{i}", "details": {"i": i}},
                headers,
            )
            if status == 201:
                ids.append(json.loads(body)["id"])
        await conn.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ids


def _reader(proc: subprocess.Popen[str], lines: queue.Queue[str]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line.strip())


def _expect(lines: queue.Queue[str], word: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.5)
        except queue.Empty:
            continue
        if line.startswith(word):
            return
    raise RuntimeError(f"waiter did not say {word!r} within {timeout}s")


def one_run(
    url: str, mode: str, ids: list[str], sample: list[str], idle: float, workdir: Path
) -> dict[str, Any]:
    ids_file = workdir / f"ids-{mode}.txt"
    ids_file.write_text("\n".join(ids))
    proc = subprocess.Popen(
        [common.PY, "-m", "bench", "_waiter", mode, url, str(ids_file)],
        cwd=common.ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_reader, args=(proc, lines), daemon=True).start()
    service_pid = int(Path(workdir / "service.pid").read_text())
    try:
        _expect(lines, "base", 60)
        rss0 = common.rss_bytes(proc.pid)
        _expect(lines, "ready", 120)
        time.sleep(1.5 if mode == "signoff" else 0.5)
        m0, c0, s0, t0 = (
            common.scrape(url),
            common.cpu_seconds(proc.pid),
            common.cpu_seconds(service_pid),
            time.monotonic(),
        )
        time.sleep(idle)
        m1, c1, s1, t1 = (
            common.scrape(url),
            common.cpu_seconds(proc.pid),
            common.cpu_seconds(service_pid),
            time.monotonic(),
        )
        rss1 = common.rss_bytes(proc.pid)
        window = t1 - t0
        decided_at: dict[str, float] = {}
        acked_at: dict[str, float] = {}
        with httpx.Client(
            timeout=30, headers={"Authorization": f"Bearer {common.REVIEWER_TOKEN}"}
        ) as reviewer:
            for approval_id in sample:
                decided_at[approval_id] = time.monotonic()
                reviewer.post(
                    f"{url}/api/approvals/{approval_id}/decision",
                    json={"decision": "approve", "note": "bench"},
                ).raise_for_status()
                acked_at[approval_id] = time.monotonic()
                time.sleep(random.uniform(0.05, 0.15))
        woke: dict[str, float] = {}
        deadline = time.monotonic() + CONTENDERS[mode] + 3.0
        while len(woke) < len(sample) and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if line.startswith("woke "):
                _, approval_id, at = line.split()
                woke[approval_id] = float(at)
        latencies = [woke[i] - decided_at[i] for i in sample if i in woke]
        after_ack = [woke[i] - acked_at[i] for i in sample if i in woke]
        return {
            "mode": mode,
            "n": len(ids),
            "req_per_s": common.requests_between(m0, m1) / window,
            "client_cpu_pct": 100 * (c1 - c0) / window,
            "service_cpu_pct": 100 * (s1 - s0) / window,
            "rss_per_waiter_bytes": (rss1 - rss0) / len(ids),
            "client_rss_mb": rss1 / 2**20,
            "wake_ms": [1000 * x for x in latencies],
            "wake_after_ack_ms": [1000 * x for x in after_ack],
            "missed_wakes": len(sample) - len(latencies),
        }
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run(quick: bool, workdir: Path) -> dict[str, Any]:
    sizes = [100, 1000] + ([] if quick else [5000])
    reps = {100: 2, 1000: 2} if quick else {100: 3, 1000: 3, 5000: 2}
    idle = 4.0
    k = 10 if quick else 12
    runs_total = sum(reps[n] for n in sizes) * len(CONTENDERS)
    svc = common.service(workdir / "wait")
    svc.start()
    (workdir / "service.pid").write_text(str(svc.proc.pid if svc.proc else 0))
    results: list[dict[str, Any]] = []
    try:
        t = time.monotonic()
        pool = asyncio.run(create_pending(svc.url, max(sizes) + k * runs_total + 10))
        print(f"  created {len(pool)} pending approvals in {time.monotonic() - t:.1f}s")
        for n in sizes:
            for rep in range(reps[n]):
                order = list(CONTENDERS)
                random.shuffle(order)  # interleaved, in a different order each repetition
                for mode in order:
                    ids = pool[:n]
                    sample = random.sample(ids, k)
                    chosen = set(sample)
                    pool = [i for i in ids if i not in chosen] + pool[n:]
                    r = one_run(svc.url, mode, ids, sample, idle, workdir)
                    r["rep"] = rep
                    results.append(r)
                    w = sorted(r["wake_ms"])
                    print(
                        f"  N={n:5d} {mode:8s} rep {rep}: {r['req_per_s']:8.1f} req/s, "
                        f"{r['rss_per_waiter_bytes'] / 1024:6.1f} KiB/waiter, "
                        f"client cpu {r['client_cpu_pct']:5.1f}%, service cpu "
                        f"{r['service_cpu_pct']:5.1f}%, wake p50 "
                        f"{common.pct(w, 50):7.1f} ms p99 {common.pct(w, 99):7.1f} ms"
                        f" missed {r['missed_wakes']}",
                        flush=True,
                    )
                    time.sleep(1.0)
    finally:
        svc.stop()
    return {"sizes": sizes, "reps": reps, "idle_s": idle, "sample": k, "runs": results}
