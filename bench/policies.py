"""Part 7: approval policies (CEL conditions) on the create path.

* micro: ``policies.match(compiled, policies.request_facts(request))``, what every
  ``POST /api/approvals/request`` runs, timed call by call for 1, 10 and 100 rules when the
  first rule matches and when none does (every rule evaluated); a refund batch of 20 items;
* libraries: the same condition with ``common-expression-language`` (``cel``, what the
  service uses) and ``cel-python`` (``celpy``, bench-only: bench/run installs it), per create
  (convert the facts once, evaluate every rule) and per evaluation;
* service: creates/s on one SQLite ``signoff serve`` with no policy vs another with 100
  rules of which none matches, rounds alternating, with the service's CPU per create.
"""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import time
from collections import Counter
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench import common
from bench.rawhttp import Conn

ADMIN_KEY = "bench-admin-key"
SLOWDOWN_TARGET = 0.05  # creates/s with 100 rules at most 5 % below none (issue 16)
SIZES = (1, 10, 100)
ITEMS = 20
CONDITION = (
    'action == "refund_batch" && details.amount > {threshold:.1f} '
    '&& risk_level in ["high", "critical"]'
)


def condition(i: int) -> str:
    """Rule i's condition: the same three clauses, a threshold of its own."""
    return CONDITION.format(threshold=10000.0 + 100.0 * i)


def document(rules: int) -> dict[str, Any]:
    """A policy file of ``rules`` routing rules (finance, 2 approvals, 30 min SLA)."""
    return {
        "groups": {
            "finance": {"members": ["fin-alice", "fin-bob", "fin-carol"]},
            "leads": {"members": ["lead-dana"]},
        },
        "policies": [
            {
                "name": f"refund-batch-{i:03d}",
                "when": condition(i),
                "groups": ["finance"],
                "required_approvals": 2,
                "sla": {"within": "30m", "escalate_to": ["leads"]},
            }
            for i in range(rules)
        ],
    }


def refund_batch(risk_level: str) -> dict[str, Any]:
    """A create body: a refund batch of 20 payments, total 25,000.50 (above every rule's
    threshold, so only ``risk_level`` decides: high matches rule 0, low matches none after
    all three clauses of every rule were evaluated)."""
    items = [
        {
            "payment_id": f"pay_{random.getrandbits(100):026x}",
            "amount": round(1250.025 + i * 0.5, 2),
            "currency": "EUR",
            "reason": random.choice(["duplicate", "fraudulent", "requested_by_customer"]),
            "customer": {"id": f"cus_{i:05d}", "email": f"customer{i}@example.com"},
        }
        for i in range(ITEMS)
    ]
    return {
        "action": "refund_batch",
        "summary": f"Refund batch of {ITEMS} payments, EUR 25,000.50",
        "details": {
            "batch_id": f"rb_{random.getrandbits(40):010x}",
            "currency": "EUR",
            "amount": 25000.5,
            "count": ITEMS,
            "merchant": "acme-shop",
            "items": items,
        },
        "riskLevel": risk_level,
        "requestedBy": "refunds-pipeline",
    }


# ------------------------------------------------------------------ micro-benchmark


def _timed(fn: Any, samples: int) -> list[float]:
    """Microseconds per call, one ``perf_counter_ns`` pair around each call."""
    clock = time.perf_counter_ns
    out = []
    for _ in range(samples):
        t = clock()
        fn()
        out.append((clock() - t) / 1000)
    return out


def _stats(us: list[float]) -> dict[str, float]:
    return {
        "n": len(us),
        "median_us": common.pct(us, 50),
        "p99_us": common.pct(us, 99),
        "min_us": min(us),
    }


def micro(quick: bool) -> dict[str, Any]:
    import cel

    from signoff.models import ApprovalRequest
    from signoff.server.domain import policies

    celpy: Any
    try:
        import celpy
    except ImportError:  # bench/run installs it; a bare `python -m bench` may not have it
        celpy = None
    rounds, samples = (3, 150) if quick else (7, 400)
    requests = {
        case: ApprovalRequest.model_validate(refund_batch(risk))
        for case, risk in (("first", "high"), ("none", "low"))
    }
    compiled = {n: policies.compile_document(document(n), set()) for n in (0, *SIZES)}
    # correctness first: rule 0 for "first", nothing (and no failure) for "none"
    for n in SIZES:
        rule, failed = policies.match(compiled[n], policies.request_facts(requests["first"]))
        assert rule is not None and rule.spec.name == "refund-batch-000" and not failed
        rule, failed = policies.match(compiled[n], policies.request_facts(requests["none"]))
        assert rule is None and not failed, (n, rule, failed)

    celpy_progs: list[Any] = []
    if celpy is not None:
        env = celpy.Environment()
        celpy_progs = [env.program(env.compile(condition(i))) for i in range(max(SIZES))]

    def celpy_match(n: int, known: dict[str, Any]) -> int | None:
        activation = {k: celpy.json_to_cel(v) for k, v in known.items()}  # once per create
        for i, prog in enumerate(celpy_progs[:n]):
            if bool(prog.evaluate(activation)):
                return i
        return None

    if celpy is not None:  # both libraries agree on every rule
        for case, want in (("first", 0), ("none", None)):
            got = celpy_match(max(SIZES), policies.request_facts(requests[case]))
            assert got == want, (case, got)

    def cel_match(c: Any, req: Any) -> None:
        policies.match(c, policies.request_facts(req))

    configs: list[tuple[str, int, str]] = [("cel", 0, "none")]
    configs += [("cel", n, case) for n in SIZES for case in ("first", "none")]
    if celpy is not None:
        configs += [("celpy", n, case) for n in SIZES for case in ("first", "none")]
    timings: dict[tuple[str, int, str], list[float]] = {c: [] for c in configs}
    per_round: dict[tuple[str, int, str], list[float]] = {c: [] for c in configs}
    for _ in range(rounds):
        random.shuffle(configs)
        for lib, n, case in configs:
            req = requests[case]
            call: Any
            if lib == "cel":
                call = partial(cel_match, compiled[n], req)
                k = samples
            else:
                call = partial(lambda n, req: celpy_match(n, policies.request_facts(req)), n, req)
                k = max(10, samples // (8 if case == "first" else 4 * n))
            call()  # warm
            us = _timed(call, k)
            timings[(lib, n, case)] += us
            per_round[(lib, n, case)].append(common.pct(us, 50))

    # where a create's time goes: the facts, the context, one evaluation
    facts = policies.request_facts(requests["none"])
    program = compiled[1].rules[0].program
    context = cel.Context(variables=facts)
    program.execute(context)
    parts = {
        "request_facts_us": _stats(
            _timed(lambda: policies.request_facts(requests["none"]), samples * 2)
        ),
        "cel_context_us": _stats(_timed(lambda: cel.Context(variables=facts), samples * 2)),
        "cel_context_no_items_us": _stats(
            _timed(
                lambda: cel.Context(
                    variables={
                        **facts,
                        "details": {k: v for k, v in facts["details"].items() if k != "items"},
                    }
                ),
                samples * 2,
            )
        ),
        "cel_eval_us": _stats(_timed(lambda: program.execute(context), samples * 10)),
    }
    if celpy is not None:
        activation = {k: celpy.json_to_cel(v) for k, v in facts.items()}
        parts["celpy_convert_us"] = _stats(
            _timed(lambda: {k: celpy.json_to_cel(v) for k, v in facts.items()}, samples // 4)
        )
        parts["celpy_eval_us"] = _stats(
            _timed(lambda: celpy_progs[0].evaluate(activation), samples // 4)
        )
    rows = []
    for lib, n, case in sorted(timings, key=lambda c: (c[0], c[1], c[2])):
        row = {"lib": lib, "rules": n, "case": case, **_stats(timings[(lib, n, case)])}
        row["round_medians_us"] = per_round[(lib, n, case)]
        rows.append(row)
    from importlib.metadata import version

    return {
        "rounds": rounds,
        "samples": samples,
        "items": ITEMS,
        "condition": condition(0),
        "rows": rows,
        "parts": parts,
        "libraries": {
            "common-expression-language": version("common-expression-language"),
            "cel-python": version("cel-python") if celpy is not None else None,
        },
    }


# ------------------------------------------------------------------ against the service


async def _creates(url: str, duration: float, concurrency: int) -> dict[str, Any]:
    host, port = url.removeprefix("http://").split(":")
    api = {"x-api-key": common.API_KEY}
    bodies = [refund_batch("low") for _ in range(64)]
    lat: list[float] = []
    errors: Counter[str] = Counter()

    async def creator(deadline: float, k: int) -> None:
        conn = Conn(host, int(port))
        i = k
        while time.monotonic() < deadline:
            i += concurrency
            t = time.monotonic()
            try:
                status, _ = await conn.request(
                    "POST", "/api/approvals/request", bodies[i % len(bodies)], api
                )
            except (ConnectionError, OSError):
                errors["conn"] += 1
                continue
            if status == 201:
                lat.append(time.monotonic() - t)
            else:
                errors[str(status)] += 1
        await conn.close()

    t0 = time.monotonic()
    await asyncio.gather(*(creator(t0 + duration, k) for k in range(concurrency)))
    took = time.monotonic() - t0
    return {
        "creates": len(lat),
        "create_per_s": len(lat) / took,
        "create_p50_ms": 1000 * common.pct(lat, 50),
        "create_p99_ms": 1000 * common.pct(lat, 99),
        "errors": dict(errors),
    }


def load_main(argv: list[str]) -> None:
    url, duration, concurrency = argv[0], float(argv[1]), int(argv[2])
    print(json.dumps(asyncio.run(_creates(url, duration, concurrency))), flush=True)


def creates_once(svc: Any, duration: float, concurrency: int) -> dict[str, Any]:
    cpu0 = common.cpu_seconds(svc.proc.pid)
    out = subprocess.run(
        [common.PY, "-m", "bench", "_policy_load", svc.url, str(duration), str(concurrency)],
        cwd=common.ROOT,
        capture_output=True,
        text=True,
        timeout=duration * 2 + 120,
    )
    cpu = common.cpu_seconds(svc.proc.pid) - cpu0
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"load process failed: {out.stderr[-2000:]}")
    r = dict(json.loads(lines[-1]))
    r["service_cpu_ms_per_create"] = 1000 * cpu / max(r["creates"], 1)
    return r


def _probe(url: str, risk: str) -> dict[str, Any]:
    r = httpx.post(
        f"{url}/api/approvals/request",
        json=refund_batch(risk),
        headers={"x-api-key": common.API_KEY},
        timeout=30,
    )
    r.raise_for_status()  # the create answers id and status; the rule is on the approval
    got = httpx.get(
        f"{url}/api/approvals/{r.json()['id']}", headers={"x-api-key": common.API_KEY}, timeout=30
    )
    got.raise_for_status()
    return dict(got.json())


def service(quick: bool, workdir: Path) -> dict[str, Any]:
    rounds = 3 if quick else 7
    duration = 3.0 if quick else 5.0
    concurrency = 16
    admin = ("--admin-key", f"admin={ADMIN_KEY}")
    services = {
        "none": common.service(workdir / "policies-none", None, *admin),
        "rules100": common.service(workdir / "policies-100", None, *admin),
    }
    rows: list[dict[str, Any]] = []
    out: dict[str, Any] = {"rounds": rounds, "duration_s": duration, "concurrency": concurrency}
    for svc in services.values():
        svc.start()
    try:
        applied = httpx.put(
            f"{services['rules100'].url}/api/policies",
            json={"document": document(100)},
            headers={"x-api-key": ADMIN_KEY},
            timeout=60,
        )
        applied.raise_for_status()
        out["applied_version"] = applied.json().get("version")
        for svc in services.values():  # warm-up, not recorded
            creates_once(svc, 1.0, concurrency)
        for rep in range(rounds):
            order = list(services)
            if rep % 2:
                order.reverse()
            for mode in order:
                r = creates_once(services[mode], duration, concurrency)
                r.update(mode=mode, rep=rep)
                rows.append(r)
                print(
                    f"  {mode:8s} rep {rep}: {r['create_per_s']:7.1f} creates/s "
                    f"(p50 {r['create_p50_ms']:.0f} ms, p99 {r['create_p99_ms']:.0f} ms), "
                    f"service {r['service_cpu_ms_per_create']:.2f} ms CPU per create, "
                    f"errors {r['errors']} (load {common.loadavg()})",
                    flush=True,
                )
        # the rules were live: a high-risk batch is routed by rule 0, a low-risk one by none
        high = _probe(services["rules100"].url, "high")
        low = _probe(services["rules100"].url, "low")
        plain = _probe(services["none"].url, "high")
        out["probe"] = {
            "rules100_high_rule": high.get("policyRule"),
            "rules100_low_rule": low.get("policyRule"),
            "none_high_rule": plain.get("policyRule"),
        }
        print(f"  probe: {out['probe']}", flush=True)
        assert out["probe"] == {
            "rules100_high_rule": "refund-batch-000",
            "rules100_low_rule": None,
            "none_high_rule": None,
        }, out["probe"]
    finally:
        for svc in services.values():
            svc.stop()
    out["throughput"] = rows
    return out


def run(quick: bool, workdir: Path, **_: Any) -> dict[str, Any]:
    import os

    started = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "cpus": os.cpu_count(),
        "load_before": common.loadavg(),
    }
    m = micro(quick)
    for row in m["rows"]:
        print(
            f"  {row['lib']:6s} {row['rules']:3d} rules, {row['case']:5s}: "
            f"median {row['median_us']:8.1f} µs, p99 {row['p99_us']:8.1f} µs (n={row['n']})",
            flush=True,
        )
    print(
        "  parts: " + ", ".join(f"{k} {v['median_us']:.1f} µs" for k, v in m["parts"].items()),
        flush=True,
    )
    return {**started, "micro": m, "service": service(quick, workdir)}
