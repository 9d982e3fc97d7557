"""Part 6: profiles where a target is missed.

* wake: py-spy records ``signoff serve`` while a DecisionWaiter holds N waits and a
  reviewer decides a stream of them (the path behind the wake-latency p99 of part 1).

(The create-load profile of the service is taken by part 2 itself.)
"""

from __future__ import annotations

import asyncio
import random
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import common, pyspy
from bench.waiting import create_pending, one_run


def profile_wake(workdir: Path, n: int, decisions: int) -> dict[str, Any]:
    svc = common.service(workdir / "wake-profile")
    svc.start()
    assert svc.proc is not None
    (workdir / "service.pid").write_text(str(svc.proc.pid))
    try:
        ids = asyncio.run(create_pending(svc.url, n))
        sample = random.sample(ids, decisions)
        raw = workdir / "wake-profile.txt"
        seconds = 1.0 + 2.0 + decisions * 0.1 + 6.0
        rec = pyspy.record(svc.proc.pid, seconds, 200, raw)
        t = time.monotonic()
        run = one_run(svc.url, "signoff", ids, sample, 1.0, workdir)
        pyspy.finish(rec, max(5.0, seconds - (time.monotonic() - t) + 30))
        prof = pyspy.aggregate(raw) or {}
    finally:
        svc.stop()
    w = run["wake_ms"]
    prof.update(
        n=n,
        decisions=decisions,
        wake_p50_ms=common.pct(w, 50),
        wake_p99_ms=common.pct(w, 99),
    )
    return prof


def profile_delivery(workdir: Path, count: int) -> dict[str, Any]:
    from bench.delivery import throughput_once

    raw = workdir / "delivery-profile.txt"
    recorder: list[subprocess.Popen[bytes] | None] = []

    def attach(svc: Any) -> None:
        recorder.append(pyspy.record(svc.proc.pid, 12, 200, raw))
        time.sleep(0.5)

    result = throughput_once(workdir / "delivery-profile", count, on_started=attach)
    for rec in recorder:
        pyspy.finish(rec, 30)
    prof = pyspy.aggregate(raw) or {}
    prof.update(
        events=count,
        deliveries_per_s=result["deliveries_per_s"],
        latency_p50_ms=result["latency_p50_ms"],
    )
    return prof


def run(quick: bool, workdir: Path, **_: Any) -> dict[str, Any]:
    n = 1000
    out = {"wake": profile_wake(workdir, n, 20 if quick else 40)}
    d = out["delivery"] = profile_delivery(workdir, 400)
    print(
        f"  delivery profile: {d.get('samples', 0)} samples; {d['deliveries_per_s']:.0f} "
        f"deliveries/s",
        flush=True,
    )
    w = out["wake"]
    print(
        f"  wake profile (N={n}): {w.get('samples', 0)} samples; wake p50 "
        f"{w['wake_p50_ms']:.0f} ms p99 {w['wake_p99_ms']:.0f} ms",
        flush=True,
    )
    return out
