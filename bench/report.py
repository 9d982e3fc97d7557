# ruff: noqa: RUF001, E501
"""Turn bench/results.json into bench/REPORT.md and its PNG plots."""

from __future__ import annotations

import math
from typing import Any

from bench import common
from bench.common import Spread, spread

OUT = common.BENCH_DIR
LABEL = {
    "signoff": "signoff DecisionWaiter (one long-poll)",
    "poll3": "poll every 3 s (hosted SDK)",
    "poll5": "poll every 5 s (Airflow HITL trigger)",
}
SHORT = {"signoff": "signoff", "poll3": "poll 3 s", "poll5": "poll 5 s"}
COLORS = {"signoff": "#2b8a3e", "poll3": "#c92a2a", "poll5": "#e67700"}
# One long-poll round of DecisionWaiter is 25 s: the floor of its idle request rate.
SIGNOFF_IDLE_FLOOR = 1 / 25


def f(value: float, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:,.{digits}f}"


def s(sp: Spread, digits: int = 1) -> str:
    if sp.n == 0 or math.isnan(sp.median):
        return "–"
    if sp.n == 1:
        return f"{f(sp.median, digits)} (n=1)"
    return f"{f(sp.median, digits)} ({f(sp.q1, digits)}–{f(sp.q3, digits)})"


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


# ------------------------------------------------------------------ part 1


def waiting_stats(part: dict[str, Any]) -> dict[tuple[int, str], dict[str, Spread]]:
    stats: dict[tuple[int, str], dict[str, Spread]] = {}
    for n in part["sizes"]:
        for mode in LABEL:
            runs = [r for r in part["runs"] if r["n"] == n and r["mode"] == mode]
            if not runs:
                continue
            stats[(n, mode)] = {
                "req": spread([r["req_per_s"] for r in runs]),
                "ccpu": spread([r["client_cpu_pct"] for r in runs]),
                "scpu": spread([r["service_cpu_pct"] for r in runs]),
                "kib": spread([r["rss_per_waiter_bytes"] / 1024 for r in runs]),
                "p50": spread([common.pct(r["wake_ms"], 50) for r in runs if r["wake_ms"]]),
                "p99": spread([common.pct(r["wake_ms"], 99) for r in runs if r["wake_ms"]]),
                "p99ack": spread(
                    [common.pct(r["wake_after_ack_ms"], 99) for r in runs if r["wake_ms"]]
                ),
                "missed": spread([r["missed_wakes"] for r in runs]),
                "sample": spread([len(r["wake_ms"]) + r["missed_wakes"] for r in runs]),
            }
    return stats


def waiting_section(part: dict[str, Any], out: list[str]) -> None:
    st = waiting_stats(part)
    out += [
        "## 1. Waiting cost: N pending approvals in one asyncio process",
        "",
        f"Each contender runs in its own fresh asyncio process against the same `signoff serve` "
        f"(SQLite), contenders shuffled within each repetition. Idle window "
        f"{part['idle_s']:.0f} s with nobody deciding; requests counted by the service "
        f"(`/metrics` deltas, scrapes excluded); CPU from `/proc/PID/stat` over the same window; "
        f"memory = growth of the waiter process's RSS from before the waits began, divided by "
        f"N. Then {part['sample']} approvals are approved one by one (50–150 ms apart) and "
        f"the waiter timestamps its wake-up: latency is from the moment the decision request is "
        f"sent (CLOCK_MONOTONIC, shared by both processes). A wake that does not happen within "
        f"the poll interval + 3 s counts as missed. Figures: median over repetitions "
        f"(IQR in brackets); repetitions per N: {part['reps']}.",
        "",
        "| N | contender | requests/s at the service | waiter CPU % | service CPU % | "
        "KiB per waiting approval | wake p50 ms | wake p99 ms | missed wakes |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (n, mode), v in st.items():
        out.append(
            f"| {n:,} | {SHORT[mode]} | {s(v['req'])} | {s(v['ccpu'])} | {s(v['scpu'])} | "
            f"{s(v['kib'])} | {s(v['p50'], 0)} | {s(v['p99'], 0)} | "
            f"{f(v['missed'].median, 0)} of {f(v['sample'].median, 0)} |"
        )
    out += ["", "**Ratios (polling ÷ signoff, medians):**", ""]
    out += [
        "| N | contender | requests/s ratio | service CPU ratio | memory ratio | "
        "wake p50 ratio | wake p99 ratio |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for n in part["sizes"]:
        base = st.get((n, "signoff"))
        if not base:
            continue
        for mode in ("poll3", "poll5"):
            v = st.get((n, mode))
            if not v:
                continue
            req_floor = max(base["req"].median, SIGNOFF_IDLE_FLOOR)
            req_ratio = v["req"].median / req_floor
            prefix = "≥ " if base["req"].median < SIGNOFF_IDLE_FLOOR else ""

            def ratio(a: Spread, b: Spread) -> str:
                if a.n == 0 or b.n == 0 or not b.median:
                    return "–"
                return f"{a.median / b.median:,.1f}×"

            out.append(
                f"| {n:,} | {SHORT[mode]} | {prefix}{req_ratio:,.0f}× | "
                f"{ratio(v['scpu'], base['scpu'])} | {ratio(v['kib'], base['kib'])} | "
                f"{ratio(v['p50'], base['p50'])} | {ratio(v['p99'], base['p99'])} |"
            )
    out += [
        "",
        f"signoff's idle request rate is measured as 0 when its 25 s long-poll round does not "
        f"end inside the window; its true floor is one request per 25 s "
        f"({SIGNOFF_IDLE_FLOOR:.2f}/s) whatever N is, which the ratios use (hence ≥).",
        "",
        "![idle requests per second](waiting_requests.png)",
        "![decision-to-wake latency](waiting_wake.png)",
        "![memory per waiting approval](waiting_memory.png)",
        "",
    ]
    plot_waiting(part, st)


def plot_waiting(part: dict[str, Any], st: dict[tuple[int, str], dict[str, Spread]]) -> None:
    plt = _plt()
    sizes = part["sizes"]
    fig, ax = plt.subplots(figsize=(6.4, 4))
    for mode in LABEL:
        xs = [n for n in sizes if (n, mode) in st]
        med = [max(st[(n, mode)]["req"].median, 0.01) for n in xs]
        lo = [max(st[(n, mode)]["req"].lo, 0.01) for n in xs]
        hi = [max(st[(n, mode)]["req"].hi, 0.01) for n in xs]
        ax.plot(xs, med, marker="o", color=COLORS[mode], label=LABEL[mode])
        ax.fill_between(xs, lo, hi, color=COLORS[mode], alpha=0.2)
    ax.plot(sizes, [n / 3 for n in sizes], ls=":", color=COLORS["poll3"], label="N/3 (ideal)")
    ax.plot(sizes, [n / 5 for n in sizes], ls=":", color=COLORS["poll5"], label="N/5 (ideal)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("approvals waiting (N)")
    ax.set_ylabel("requests/s reaching the service (idle)")
    ax.set_title("Idle cost of waiting (lower is better; 0.01 = none measured)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(OUT / "waiting_requests.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, len(sizes), figsize=(4 * len(sizes), 4), sharey=True)
    axes = axes if len(sizes) > 1 else [axes]
    for ax, n in zip(axes, sizes, strict=False):
        data, labels, colors = [], [], []
        for mode in LABEL:
            runs = [r for r in part["runs"] if r["n"] == n and r["mode"] == mode]
            vals = [x for r in runs for x in r["wake_ms"]]
            if vals:
                data.append([max(v, 1) for v in vals])
                labels.append(SHORT[mode])
                colors.append(COLORS[mode])
        if data:
            parts = ax.boxplot(data, patch_artist=True, whis=(0, 100))
            ax.set_xticks(range(1, len(labels) + 1), labels)
            for patch, color in zip(parts["boxes"], colors, strict=False):
                patch.set_facecolor(color)
                patch.set_alpha(0.5)
        ax.axhline(100, ls="--", color="grey", lw=1)
        ax.set_yscale("log")
        ax.set_title(f"N = {n:,}")
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("decision → waiter wakes (ms, log)")
    fig.suptitle("Decision-to-wake latency of the wakes that happened (missed: see table)")
    fig.tight_layout()
    fig.savefig(OUT / "waiting_wake.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4))
    width = 0.8 / len(LABEL)
    for i, mode in enumerate(LABEL):
        xs = [j for j, n in enumerate(sizes) if (n, mode) in st]
        vals = [st[(sizes[j], mode)]["kib"] for j in xs]
        ax.bar(
            [x + i * width for x in xs],
            [v.median for v in vals],
            width,
            yerr=[
                [v.median - v.lo for v in vals],
                [v.hi - v.median for v in vals],
            ],
            color=COLORS[mode],
            label=LABEL[mode],
        )
    ax.axhline(20, ls="--", color="grey", lw=1, label="20 KB target")
    ax.set_xticks([j + width for j in range(len(sizes))], [f"N = {n:,}" for n in sizes])
    ax.set_ylabel("waiter RSS growth per approval (KiB)")
    ax.set_title("Memory per waiting approval (bars: median, whiskers: min–max)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(OUT / "waiting_memory.png", dpi=110)
    plt.close(fig)


# ------------------------------------------------------------------ part 2


def service_section(part: dict[str, Any], out: list[str]) -> None:
    rows = part["throughput"]
    dbs = [db for db in ("sqlite", "postgresql") if any(r["db"] == db for r in rows)]
    out += [
        "## 2. The service: creates and decides per second",
        "",
        f"A separate load process (raw keep-alive HTTP on asyncio, {part['concurrency']} "
        f"connections) creates approvals for {part['duration_s']:.0f} s, then decides those it "
        f"created for up to {part['duration_s']:.0f} s. SQLite and PostgreSQL services run "
        f"side by side and take turns (order alternates). Median of {part['reps']} "
        f"repetitions (IQR).",
        "",
        "| database | creates/s | create p50 ms | create p99 ms | decides/s | decide p50 ms | "
        "decide p99 ms |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    st = {}
    for db in dbs:
        mine = [r for r in rows if r["db"] == db]
        st[db] = {
            k: spread([r[k] for r in mine])
            for k in (
                "create_per_s",
                "create_p50_ms",
                "create_p99_ms",
                "decide_per_s",
                "decide_p50_ms",
                "decide_p99_ms",
            )
        }
        v = st[db]
        out.append(
            f"| {db} | {s(v['create_per_s'])} | {s(v['create_p50_ms'], 0)} | "
            f"{s(v['create_p99_ms'], 0)} | {s(v['decide_per_s'])} | {s(v['decide_p50_ms'], 0)} "
            f"| {s(v['decide_p99_ms'], 0)} |"
        )
    if len(dbs) == 2:
        a, b = st["postgresql"], st["sqlite"]
        out += [
            "",
            f"PostgreSQL ÷ SQLite: creates/s {a['create_per_s'].median / b['create_per_s'].median:.2f}×, "
            f"decides/s {a['decide_per_s'].median / b['decide_per_s'].median:.2f}×. "
            f"Target ≥ 1,000 creates/s on SQLite: "
            f"{b['create_per_s'].median / 1000:.1%} of it.",
        ]
    errors = [r["errors"] for r in rows if r["errors"]]
    if errors:
        out += ["", f"Errors seen by the load process: {errors}"]
    out += ["", "![service throughput](service_throughput.png)", ""]
    if part.get("held"):
        out += [
            "### Held long-poll waiters (SQLite)",
            "",
            "M connections each re-issue `GET /api/approvals/{id}?waitMs=30000` (50 pending "
            "approvals shared); the peak of requests in flight is read from `/metrics` once a "
            "second, with the service's RSS at that moment. One run per size.",
            "",
            "| waiters opened | peak held at once | seconds to peak | service RSS before MB | "
            "RSS at peak MB | KiB per held waiter |",
            "|---:|---:|---:|---:|---:|---:|",
        ]
        for h in part["held"]:
            out.append(
                f"| {h['target']:,} | {h['peak_held']:,} | {f(h['seconds_to_peak'])} | "
                f"{f(h['service_rss_before_mb'], 0)} | {f(h['service_rss_peak_mb'], 0)} | "
                f"{f(h['kib_per_held'])} |"
            )
        out.append("")
    plot_service(rows, dbs)


def plot_service(rows: list[dict[str, Any]], dbs: list[str]) -> None:
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 4))
    for ax, (metric, title) in zip(
        axes, [("per_s", "operations per second"), ("p99_ms", "p99 latency (ms)")], strict=False
    ):
        for i, db in enumerate(dbs):
            mine = [r for r in rows if r["db"] == db]
            vals = [spread([r[f"{op}_{metric}"] for r in mine]) for op in ("create", "decide")]
            ax.bar(
                [j + i * 0.4 for j in range(2)],
                [v.median for v in vals],
                0.4,
                yerr=[[v.median - v.lo for v in vals], [v.hi - v.median for v in vals]],
                label=db,
                color=["#1c7ed6", "#862e9c"][i],
            )
        if metric == "per_s":
            ax.axhline(1000, ls="--", color="grey", lw=1, label="1,000/s target (SQLite)")
        ax.set_xticks([0.2, 1.2], ["create", "decide"])
        ax.set_title(title)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3, axis="y")
    fig.suptitle("signoff serve under load (bars: median, whiskers: min–max)")
    fig.tight_layout()
    fig.savefig(OUT / "service_throughput.png", dpi=110)
    plt.close(fig)


def _profile_tables(prof: dict[str, Any], out: list[str]) -> None:
    total = max(prof["samples"], 1)
    out += [
        f"{prof['samples']:,} samples, {prof['busy_samples']:,} not idle. "
        "Top functions by own time:",
        "",
        "| samples | % | function (file) |",
        "|---:|---:|---|",
    ]
    for name, n in prof["top_self"]:
        out.append(f"| {n} | {100 * n / total:.1f} | `{name}` |")
    out += [
        "",
        "signoff / SQLAlchemy / pydantic / json frames by inclusive time:",
        "",
        "| samples | % | function (file) |",
        "|---:|---:|---|",
    ]
    for name, n in prof["top_inclusive"]:
        out.append(f"| {n} | {100 * n / total:.1f} | `{name}` |")
    out.append("")


def profile_section(part: dict[str, Any], out: list[str]) -> None:
    prof = part.get("profile")
    if not prof:
        return
    out += [
        "### Profile: the service during a create load (py-spy, 100 Hz, 5 s, SQLite)",
        "",
    ]
    _profile_tables(prof, out)


def wake_profile_section(part: dict[str, Any], out: list[str]) -> None:
    w = part.get("wake")
    d = part.get("delivery")
    out += ["## 6. Profiles where a target is missed", ""]
    if w and w.get("samples"):
        out += [
            "### The wake path",
            "",
            f"py-spy (200 Hz) on `signoff serve` (SQLite) while one DecisionWaiter holds "
            f"N = {w['n']:,} waits and {w['decisions']} of them are approved 50–150 ms apart. "
            f"Wake latency in this profiled run: p50 {f(w['wake_p50_ms'], 0)} ms, p99 "
            f"{f(w['wake_p99_ms'], 0)} ms.",
            "",
        ]
        _profile_tables(w, out)
    if d and d.get("samples"):
        out += [
            "### Delivery",
            "",
            f"py-spy (200 Hz, 12 s) on `signoff serve` (SQLite) while {d['events']} events are "
            f"published and delivered to the receiver: {f(d['deliveries_per_s'])} deliveries/s, "
            f"publish→receive p50 {f(d['latency_p50_ms'], 0)} ms in this profiled run.",
            "",
        ]
        _profile_tables(d, out)


# ------------------------------------------------------------------ part 3


def delivery_section(part: dict[str, Any], out: list[str]) -> None:
    keys = ("publish_per_s", "deliveries_per_s", "latency_p50_ms", "latency_p99_ms")
    fanouts = sorted({r.get("fanout", 1) for r in part["throughput"]})
    out += [
        "## 3. Delivery: signed webhook deliveries to a local receiver",
        "",
        f"A workflow sends `payment_captured` (with a `Cko-Signature` key) to a receiver "
        f"process (`asyncio.start_server`, keep-alive, answers 200, verifies every signature "
        f"with `signoff.signing.verify_cko_signature`). {part['count']} events are published "
        f"with `POST /events` over 8 connections on a fresh SQLite service; deliveries/s runs "
        f"from the first publish to the last arrival. With fan-out 1 each event is one "
        f"delivery, so deliveries can go no faster than publishing (a write to the same "
        f"store, part 2); with fan-out > 1 the workflow has that many actions (all at the "
        f"receiver), which measures sending rather than publishing. Runs interleaved; median "
        f"of {part['reps']} runs each (IQR).",
        "",
        "| fan-out | publishes/s | deliveries/s | publish→receive p50 ms | p99 ms | lost | "
        "bad signatures |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    best = 0.0
    for fanout in fanouts:
        rows = [r for r in part["throughput"] if r.get("fanout", 1) == fanout]
        st = {k: spread([r[k] for r in rows]) for k in keys}
        best = max(best, st["deliveries_per_s"].median)
        out.append(
            f"| {fanout} | {s(st['publish_per_s'])} | {s(st['deliveries_per_s'])} | "
            f"{s(st['latency_p50_ms'], 0)} | {s(st['latency_p99_ms'], 0)} | "
            f"{sum(r['lost'] for r in rows)} | {sum(r['bad_signatures'] for r in rows)} |"
        )
    out += [
        "",
        f"Target ≥ 500 deliveries/s: best {best:,.0f}/s, {best / 500:.0%} of it. In the "
        "fan-out run the backlog of queued deliveries grows while publishing lasts, which is "
        "what the publish→receive latency there shows.",
        "",
        "### `kill -9` midway, then restart",
        "",
        "Publishing over 4 connections; when half the events are acknowledged the service is "
        "killed with SIGKILL, restarted on the same database and port, and publishing resumes "
        "(a publish that fails is retried). Published = acknowledged with 2xx.",
        "",
        "| run | published | received | unique | lost | duplicates | delivered but never "
        "acknowledged | bad signatures | downtime s |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, c in enumerate(part["crash"]):
        out.append(
            f"| {i} | {c['published']} | {c['received']} | {c['unique_received']} | "
            f"{c['lost']} | {c['duplicates']} | {c['unacknowledged_but_delivered']} | "
            f"{c['bad_signatures']} | {f(c['downtime_s'])} |"
        )
    out.append("")


# ------------------------------------------------------------------ part 4


def subscriptions_section(part: dict[str, Any], out: list[str]) -> None:
    rows = part["runs"]

    def calls(r: dict[str, Any], key: str) -> str:
        return ", ".join(f"{n} {m}" for m, n in sorted(r[key].items())) or "none"

    st = {k: spread([r[k] for r in rows]) for k in ("plan_s", "apply_s", "noop_plan_s")}
    out += [
        "## 4. Subscriptions as code",
        "",
        f"A spec of {part['count']:,} webhooks (each with a secret header from the "
        f"environment) against an empty service: `plan`, `apply`, then the same `plan` again "
        f"(nothing to change). Calls counted with an httpx event hook. "
        f"Median of {part['reps']} runs, each on a fresh service (IQR).",
        "",
        "| step | wall s | calls (run 0) |",
        "|---|---:|---|",
        f"| plan (all to create) | {s(st['plan_s'], 2)} | {calls(rows[0], 'plan_calls')} |",
        f"| apply | {s(st['apply_s'], 1)} | {calls(rows[0], 'apply_calls')} |",
        f"| no-change plan | {s(st['noop_plan_s'], 2)} | {calls(rows[0], 'noop_plan_calls')} |",
        "",
        f"Apply: {part['count'] / st['apply_s'].median:,.0f} webhooks/s, one call per webhook. "
        f"Every apply succeeded: {all(r['applied_ok'] for r in rows)}; every no-change plan "
        f"found nothing to change: {not any(r['noop_has_changes'] for r in rows)}.",
        "",
    ]


# ------------------------------------------------------------------ part 7


def _micro_row(part: dict[str, Any], lib: str, n: int, case: str) -> dict[str, Any] | None:
    for row in part["micro"]["rows"]:
        if (row["lib"], row["rules"], row["case"]) == (lib, n, case):
            return dict(row)
    return None


def policies_stats(part: dict[str, Any]) -> dict[str, Any]:
    rows = part["service"]["throughput"]
    st = {
        mode: {
            k: spread([r[k] for r in rows if r["mode"] == mode])
            for k in ("create_per_s", "create_p50_ms", "create_p99_ms", "service_cpu_ms_per_create")
        }
        for mode in ("none", "rules100")
    }
    none, rules = st["none"]["create_per_s"].median, st["rules100"]["create_per_s"].median
    st["slowdown"] = 1 - rules / none if none else float("nan")
    cpu0, cpu1 = (st[m]["service_cpu_ms_per_create"].median for m in ("none", "rules100"))
    st["cpu_extra_ms"] = cpu1 - cpu0
    return st


def policies_summary(part: dict[str, Any]) -> str:
    st = policies_stats(part)
    per = ", ".join(
        f"{f(r['median_us'], 0)}" for n in (1, 10, 100) if (r := _micro_row(part, "cel", n, "none"))
    )
    verdict = "met" if st["slowdown"] < 0.05 else "missed"
    celpy = _micro_row(part, "celpy", 100, "none")
    lib = (
        f"; cel-python for the same 100 rules {f(celpy['median_us'] / 1000, 1)} ms" if celpy else ""
    )
    return (
        f"- **Policies (CEL) per create**: {per} µs median for 1/10/100 rules none of which "
        f"matches (`common-expression-language`{lib}); creates/s with no policy "
        f"{f(st['none']['create_per_s'].median)} vs 100 rules "
        f"{f(st['rules100']['create_per_s'].median)}: {st['slowdown']:.1%} slower "
        f"(target under 5 %: {verdict})."
    )


def policies_section(part: dict[str, Any], out: list[str]) -> None:
    m, sv = part["micro"], part["service"]
    libs = m["libraries"]
    out += [
        "## 7. Policies: CEL conditions on every create",
        "",
        f"Run on {part['date']} on this machine ({part['cpus']} cores, shared; load average "
        f"{part['load_before']} before, {part.get('load_after', '?')} after), "
        f"`common-expression-language` {libs['common-expression-language']} (`cel`, the "
        f"service's) and `cel-python` {libs['cel-python'] or 'not installed'} (`celpy`, "
        f"bench-only). Every rule is `{m['condition']}` with a threshold of its own; the "
        f"request is a refund batch of {m['items']} payments (id, amount, reason, customer "
        f"each) totalling 25,000.50, above every threshold: risk `high` matches rule 0, "
        f"`low` matches none after all three clauses of every rule ran (the worst case).",
        "",
        f"**Micro-benchmark**: `match(compiled, request_facts(request))`, what "
        f"`POST /api/approvals/request` runs, timed call by call in one process: "
        f"{m['rounds']} rounds, configurations shuffled in each, {m['samples']} calls per "
        f"configuration and round with `cel` (fewer with `celpy`); µs per create, median and "
        f"p99 of all calls. `celpy` does the same: the facts converted once per create "
        f"(`json_to_cel`), then every rule evaluated in order.",
        "",
        "| rules | first rule matches: cel median / p99 µs | none matches: cel median / p99 µs "
        "| celpy, first matches | celpy, none matches |",
        "|---:|---:|---:|---:|---:|",
    ]
    base = _micro_row(part, "cel", 0, "none")
    if base:
        out.append(f"| 0 (no policy) | – | {f(base['median_us'])} / {f(base['p99_us'])} | – | – |")
    for n in (1, 10, 100):
        cells = []
        for lib in ("cel", "celpy"):
            for case in ("first", "none"):
                r = _micro_row(part, lib, n, case)
                cells.append(f"{f(r['median_us'], 0)} / {f(r['p99_us'], 0)}" if r else "–")
        out.append(f"| {n} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |")
    p = m["parts"]
    out += [
        "",
        f"Where a create's time goes (medians): `request_facts` {f(p['request_facts_us']['median_us'])} µs; "
        f"`cel.Context(variables=facts)` {f(p['cel_context_us']['median_us'], 0)} µs (the same "
        f"facts without the 20 items: {f(p['cel_context_no_items_us']['median_us'], 0)} µs); one "
        f"rule's `execute` on that context {f(p['cel_eval_us']['median_us'])} µs"
        + (
            f"; celpy: converting the facts {f(p['celpy_convert_us']['median_us'], 0)} µs, one "
            f"evaluation {f(p['celpy_eval_us']['median_us'], 0)} µs"
            if "celpy_convert_us" in p
            else ""
        )
        + ".",
        "",
    ]
    st = policies_stats(part)
    out += [
        f"**Against the service**: two `signoff serve` (SQLite, one process each), one with no "
        f"policy ever applied, one with the 100 rules applied (`PUT /api/policies`); a separate "
        f"load process ({sv['concurrency']} keep-alive connections, as part 2) creates the "
        f"low-risk refund batch for {sv['duration_s']:.0f} s on one, then the other, order "
        f"alternating, {sv['rounds']} rounds each after an unrecorded warm-up; the service's "
        f"CPU from `/proc`. Median (IQR). Checked afterwards: a high-risk batch on the 100-rule "
        f"service is routed by `{sv['probe']['rules100_high_rule']}`, a low-risk one by "
        f"{sv['probe']['rules100_low_rule'] or 'no rule'}.",
        "",
        "| service | creates/s | create p50 ms | create p99 ms | service CPU ms per create |",
        "|---|---:|---:|---:|---:|",
    ]
    for mode, label in (("none", "no policy"), ("rules100", "100 rules, none matches")):
        v = st[mode]
        out.append(
            f"| {label} | {s(v['create_per_s'])} | {s(v['create_p50_ms'], 0)} | "
            f"{s(v['create_p99_ms'], 0)} | {s(v['service_cpu_ms_per_create'], 2)} |"
        )
    out += [
        "",
        f"100 rules ÷ none, creates/s (medians): {1 - st['slowdown']:.3f}, i.e. "
        f"{st['slowdown']:.1%} slower (target under 5 %: "
        f"{'met' if st['slowdown'] < 0.05 else 'missed'}); service CPU per create "
        f"{st['cpu_extra_ms']:+.2f} ms. Per round, creates/s: "
        + "; ".join(f"{r['mode']} {f(r['create_per_s'], 0)}" for r in sv["throughput"])
        + ".",
        "",
    ]


# ------------------------------------------------------------------ the whole report


def summary(results: dict[str, Any]) -> list[str]:
    lines = []
    w = results.get("waiting")
    if w:
        st = waiting_stats(w)
        # the headline is N = 1,000 where polling still keeps up; larger N are named after
        n = 1000 if 1000 in w["sizes"] else max(w["sizes"])
        sig, p3, p5 = st.get((n, "signoff")), st.get((n, "poll3")), st.get((n, "poll5"))
        if sig and p3 and p5:
            lines.append(
                f"- **Waiting (N = {n:,})**: signoff's shared long-poll made "
                f"{f(sig['req'].median, 2)} requests/s while idle vs {f(p3['req'].median)} "
                f"(poll 3 s) and {f(p5['req'].median)} (poll 5 s); the polling processes used "
                f"{f(p3['ccpu'].median, 0)} % / {f(p5['ccpu'].median, 0)} % of a core (N/3 and "
                f"N/5 requests/s needed) and missed "
                f"{f(p3['missed'].median, 0)} and {f(p5['missed'].median, 0)} of "
                f"{f(p3['sample'].median, 0)} wakes; the service spent "
                f"{f(sig['scpu'].median)} % CPU vs {f(p3['scpu'].median)} % and "
                f"{f(p5['scpu'].median)} %. Memory {f(sig['kib'].median)} KiB per waiting "
                f"approval (target < 20 KB: {'met' if sig['kib'].median < 19.5 else 'missed'}). "
                f"Wake p50/p99 {f(sig['p50'].median, 0)}/{f(sig['p99'].median, 0)} ms vs "
                f"{f(p3['p50'].median, 0)}/{f(p3['p99'].median, 0)} ms (3 s) and "
                f"{f(p5['p50'].median, 0)}/{f(p5['p99'].median, 0)} ms (5 s); p99 < 100 ms "
                f"target: {'met' if sig['p99'].median < 100 else 'missed'}"
                + "".join(
                    f" (N = {m:,}: p99 {f(st[(m, 'signoff')]['p99'].median, 0)} ms)"
                    for m in w["sizes"]
                    if m != n and (m, "signoff") in st
                )
                + "".join(
                    f". At N = {m:,} polling saturated its process "
                    f"({f(st[(m, 'poll3')]['ccpu'].median, 0)} % CPU) and missed "
                    f"{f(st[(m, 'poll3')]['missed'].median, 0)} (3 s) and "
                    f"{f(st[(m, 'poll5')]['missed'].median, 0)} (5 s) of "
                    f"{f(st[(m, 'poll3')]['sample'].median, 0)} wakes"
                    for m in w["sizes"]
                    if m > n and (m, "poll3") in st and (m, "poll5") in st
                )
                + ". Idle requests "
                f"independent of N: "
                f"{'met' if all(st[(m, 'signoff')]['req'].median <= 0.2 for m in w['sizes']) else 'missed'}."
            )
    sv = results.get("service")
    if sv:
        rows = sv["throughput"]
        for db in ("sqlite", "postgresql"):
            mine = [r for r in rows if r["db"] == db]
            if mine:
                c = spread([r["create_per_s"] for r in mine]).median
                d = spread([r["decide_per_s"] for r in mine]).median
                target = (
                    f" (target ≥ 1,000/s: {'met' if c >= 1000 else 'missed, ' + f'{c / 1000:.0%}'})"
                    if db == "sqlite"
                    else ""
                )
                lines.append(
                    f"- **Service on {db}**: {c:,.0f} creates/s{target}, {d:,.0f} decides/s."
                )
        if sv.get("held"):
            h = sv["held"][-1]
            if h["target"] >= 10000:
                verdict = (
                    f"target 10k under 500 MB: "
                    f"{'met' if h['peak_held'] >= 10000 and h['service_rss_peak_mb'] < 500 else 'missed'}"
                )
            else:
                verdict = (
                    f"10k not run: projected "
                    f"{h['service_rss_before_mb'] + 10000 * h['kib_per_held'] / 1024:.0f} MB vs "
                    "the 500 MB target"
                )
            lines.append(
                f"- **Held long-polls**: {h['peak_held']:,} of {h['target']:,} held at once, "
                f"service RSS {h['service_rss_peak_mb']:.0f} MB ({h['kib_per_held']:.0f} KiB "
                f"each; {verdict})."
            )
    dv = results.get("delivery")
    if dv:
        dps = max(
            spread(
                [r["deliveries_per_s"] for r in dv["throughput"] if r.get("fanout", 1) == k]
            ).median
            for k in {r.get("fanout", 1) for r in dv["throughput"]}
        )
        lost = sum(c["lost"] for c in dv["crash"])
        dup = sum(c["duplicates"] for c in dv["crash"])
        lines.append(
            f"- **Delivery**: {dps:,.0f} signed deliveries/s (target ≥ 500: "
            f"{'met' if dps >= 500 else 'missed'}); after `kill -9` midway: {lost} lost "
            f"(target 0: {'met' if lost == 0 else 'MISSED'}), {dup} duplicates."
        )
    sb = results.get("subscriptions")
    if sb:
        r0 = sb["runs"][0]
        lines.append(
            f"- **Subscriptions as code**: {sb['count']:,} webhooks planned in "
            f"{spread([r['plan_s'] for r in sb['runs']]).median:.2f} s with "
            f"{sum(r0['plan_calls'].values())} calls, applied in "
            f"{spread([r['apply_s'] for r in sb['runs']]).median:.1f} s with "
            f"{sum(r0['apply_calls'].values())} calls; a no-change plan makes "
            f"{sum(r0['noop_plan_calls'].values())} calls (reads only)."
        )
    lines += engines_summary(results.get("engines"))
    if results.get("policies"):
        lines.append(policies_summary(results["policies"]))
    return lines


def engines_summary(part: dict[str, Any] | None) -> list[str]:
    from bench.engines import airflow, prefect

    lines = []
    for name, mod in (("Airflow", airflow), ("Prefect", prefect)):
        sub = (part or {}).get(name.lower())
        line = mod.summary(sub) if sub and "error" not in sub else None
        lines.append(line or f"- **{name}**: not measured in this run (see part 5).")
    return lines


def engines_section(part: dict[str, Any] | None, out: list[str]) -> None:
    from bench.engines import airflow, prefect

    out += ["## 5. Real engines: decision to the pipeline moving on", ""]
    for name, mod in (("Airflow", airflow), ("Prefect", prefect)):
        sub = (part or {}).get(name.lower())
        if not sub:
            out += [f"### {name}", "", "Not measured in this run.", ""]
        elif "error" in sub:
            out += [f"### {name}", "", "The run failed:", "", "```", sub["error"], "```", ""]
        else:
            out += mod.section(sub)


def notifications_section(part: dict[str, Any], out: list[str]) -> None:
    lat, thr = part["latency"], part["throughput"]
    out += [
        "## Part 8: notifications",
        "",
        f"{lat['approvals']} approvals one after another on SQLite, each for a finance group of "
        "two reviewers with emails, a real SMTP server (aiosmtpd) on loopback"
        + (" (`--quick`: fewer approvals and rounds)" if part.get("quick") else "")
        + ":",
        "",
        "| from | to | median | p95 | max |",
        "|---|---|---|---|---|",
        f"| `POST /api/approvals/request` sent | the second reviewer's email arrived | "
        f"{f(lat['both_told']['median_ms'])} ms | {f(lat['both_told']['p95_ms'])} ms | "
        f"{f(lat['both_told']['max_ms'])} ms |",
        f"| alice's decision sent | bob's \"Approved by fin-alice\" email arrived | "
        f"{f(lat['decided_heard']['median_ms'])} ms | {f(lat['decided_heard']['p95_ms'])} ms | "
        f"{f(lat['decided_heard']['max_ms'])} ms |",
        "",
        "Creates/s (16 at a time, part 7's refund body, rounds alternating):",
        "",
        "| service | median creates/s | rounds |",
        "|---|---|---|",
    ]
    for name, row in thr["summary"].items():
        rounds = ", ".join(f(v, 0) for v in row["rounds"])
        out.append(f"| {name} | {f(row['median_creates_per_s'], 0)} | {rounds} |")
    out += [
        "",
        f"_{thr['emails_received']} emails received in the creates/s runs. Part wall time "
        f"{f(part.get('wall_s', float('nan')))} s; load average after it: "
        f"{part.get('load_after')}._",
        "",
    ]


def write_report(results: dict[str, Any]) -> None:
    from bench.notes import FINDINGS

    out = ["# signoff benchmarks", ""]
    quick = " (`--quick`)" if results.get("quick") else ""
    out += [
        f"Generated by `bash bench/run`{quick} on {results.get('machine', {}).get('started', '?')}"
        f"; whole run {f(results.get('total_wall_s', float('nan')) / 60)} min. Every figure "
        "is the median of repeated runs with its spread (IQR, or min–max in plots); "
        "contenders ran interleaved in the same run against the same service; loopback only. "
        "Part start times: "
        + ", ".join(
            f"{k} {v.get('started', 'with the run')}"
            for k, v in results.items()
            if isinstance(v, dict) and "wall_s" in v
        )
        + " (a part shown with a time of its own was rerun by `--parts`, results merged).",
        "",
        "## Summary",
        "",
        *summary(results),
        "",
        FINDINGS.strip(),
        "",
        "## The machine",
        "",
        "| | |",
        "|---|---|",
    ]
    for k, v in results.get("machine", {}).items():
        out.append(f"| {k} | {v} |")
    out.append(
        f"| load average (1/5/15 min) | before {results.get('load_before', '?')}; "
        f"after {results.get('load_after', '?')} |"
    )
    out += [
        "",
        "The machine is shared: other engineers' test suites (each starting its own "
        "`signoff serve`, pytest, Airflow) ran during this benchmark, so a load average "
        "above 2 on 2 cores means every figure here had roughly half a core to itself at "
        "times. Contenders were interleaved so that each saw the same noise; absolute "
        "throughputs are lower bounds, ratios are the robust part.",
        "",
    ]
    for key in ("waiting", "service", "delivery", "subscriptions"):
        if key in results:
            load = results[key].get("load_after")
            if key == "waiting":
                waiting_section(results[key], out)
            elif key == "service":
                service_section(results[key], out)
                profile_section(results[key], out)
            elif key == "delivery":
                delivery_section(results[key], out)
            else:
                subscriptions_section(results[key], out)
            out += [
                f"_Part wall time {f(results[key].get('wall_s', float('nan')))} s; load "
                f"average after it: {load}._",
                "",
            ]
    engines_section(results.get("engines"), out)
    if "profiles" in results:
        wake_profile_section(results["profiles"], out)
    if "policies" in results:
        policies_section(results["policies"], out)
        out += [
            f"_Part wall time {f(results['policies'].get('wall_s', float('nan')))} s._",
            "",
        ]
    if "notifications" in results:
        notifications_section(results["notifications"], out)
    (OUT / "REPORT.md").write_text("\n".join(out))
