"""Part 4: webhooks as code. A spec of W webhooks: plan + apply against an empty service
(calls made, wall time), then the no-change plan (calls made: it should only read)."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from bench import common


def spec_text(count: int) -> str:
    lines = ["webhooks:"]
    for i in range(count):
        lines += [
            f"  hook-{i:05d}:",
            f"    url: https://hooks{i % 50}.example.com/h/{i}",
            "    event_types: [payment_captured, payment_refunded]",
            "    headers:",
            "      Authorization: ${env:HOOK_TOKEN}",
        ]
    return "\n".join(lines) + "\n"


def once(workdir: Path, count: int) -> dict[str, Any]:
    from signoff.subscriptions import SubscriptionsClient, loads

    svc = common.service(workdir)
    svc.start()
    calls: Counter[str] = Counter()
    http = httpx.Client(timeout=60, event_hooks={"request": [lambda r: calls.update([r.method])]})
    try:
        t = time.monotonic()
        spec = loads(spec_text(count), "bench.yaml", {"HOOK_TOKEN": "secret-token"})
        load_s = time.monotonic() - t
        client = SubscriptionsClient(svc.url, secret_key=common.CKO_KEY, http_client=http)
        t = time.monotonic()
        plan = client.plan(spec)
        plan_s = time.monotonic() - t
        plan_calls = dict(calls)
        calls.clear()
        t = time.monotonic()
        result = client.apply(plan)
        apply_s = time.monotonic() - t
        apply_calls = dict(calls)
        calls.clear()
        t = time.monotonic()
        again = client.plan(spec)
        noop_s = time.monotonic() - t
        noop_calls = dict(calls)
    finally:
        http.close()
        svc.stop()
    return {
        "webhooks": count,
        "load_s": load_s,
        "plan_s": plan_s,
        "plan_calls": plan_calls,
        "apply_s": apply_s,
        "apply_calls": apply_calls,
        "applied_ok": result.ok,
        "applied_steps": len(result.steps),
        "noop_plan_s": noop_s,
        "noop_plan_calls": noop_calls,
        "noop_has_changes": again.has_changes,
    }


def run(quick: bool, workdir: Path, **_: Any) -> dict[str, Any]:
    count = 300 if quick else 1000
    reps = 2 if quick else 3
    rows = []
    for rep in range(reps):
        r = once(workdir / f"subs-{rep}", count)
        r["rep"] = rep
        rows.append(r)
        print(
            f"  rep {rep}: plan {r['plan_s']:.2f}s {r['plan_calls']}, apply {r['apply_s']:.1f}s "
            f"{r['apply_calls']} ok={r['applied_ok']}, no-change plan {r['noop_plan_s']:.2f}s "
            f"{r['noop_plan_calls']} changes={r['noop_has_changes']}",
            flush=True,
        )
    return {"count": count, "reps": reps, "runs": rows}
