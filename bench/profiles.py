"""Part 6: profiles where a target is missed.

* wake: py-spy records ``signoff serve`` while a DecisionWaiter holds N waits and a
  reviewer decides a stream of them (the path behind the wake-latency p99 of part 1).

(The create-load profile of the service is taken by part 2 itself.)
"""

from __future__ import annotations

import asyncio
import random
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench import common
from bench.waiting import create_pending, one_run


def aggregate(raw: Path) -> dict[str, Any] | None:
    from bench.service import _idle, _short

    if not raw.exists():
        return None
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for name in {_short(frame) for frame in frames}:
            inclusive[name] += n
        own[_short(frames[-1])] += n
    return {
        "samples": total,
        "busy_samples": total - sum(v for k, v in own.items() if _idle(k)),
        "top_self": [(k, v) for k, v in own.most_common(40) if not _idle(k)][:15],
        "top_inclusive": [
            (k, v)
            for k, v in inclusive.most_common(300)
            if any(s in k for s in ("signoff/", "sqlalchemy/", "pydantic", "aiosqlite", "json"))
        ][:20],
    }


def profile_wake(workdir: Path, n: int, decisions: int) -> dict[str, Any]:
    spy = shutil.which("py-spy") or str(Path(common.PY).parent / "py-spy")
    svc = common.service(workdir / "wake-profile")
    svc.start()
    assert svc.proc is not None
    (workdir / "service.pid").write_text(str(svc.proc.pid))
    try:
        ids = asyncio.run(create_pending(svc.url, n))
        sample = random.sample(ids, decisions)
        raw = workdir / "wake-profile.txt"
        seconds = 1.0 + 2.0 + decisions * 0.1 + 6.0
        rec = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(svc.proc.pid),
                "--duration",
                str(int(seconds)),
                "--rate",
                "200",
                "--format",
                "raw",
                "--output",
                str(raw),
                "--nonblocking",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        t = time.monotonic()
        run = one_run(svc.url, "signoff", ids, sample, 1.0, workdir)
        try:
            rec.wait(max(5.0, seconds - (time.monotonic() - t) + 30))
        except subprocess.TimeoutExpired:
            rec.kill()
        prof = aggregate(raw) or {}
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

    spy = shutil.which("py-spy") or str(Path(common.PY).parent / "py-spy")
    raw = workdir / "delivery-profile.txt"
    recorder: list[subprocess.Popen[bytes]] = []

    def attach(svc: Any) -> None:
        recorder.append(
            subprocess.Popen(
                [
                    spy,
                    "record",
                    "--pid",
                    str(svc.proc.pid),
                    "--duration",
                    "12",
                    "--rate",
                    "200",
                    "--format",
                    "raw",
                    "--output",
                    str(raw),
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        time.sleep(0.5)

    result = throughput_once(workdir / "delivery-profile", count, on_started=attach)
    for rec in recorder:
        try:
            rec.wait(30)
        except subprocess.TimeoutExpired:
            rec.kill()
    prof = aggregate(raw) or {}
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
