# ruff: noqa: RUF001
"""Shared pieces of the benchmarks: services, /metrics, /proc readings, statistics."""

from __future__ import annotations

import asyncio
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from signoff.server.process import ServiceProcess

API_KEY = "bench-pipeline-key"
REVIEWER_TOKEN = "bench-reviewer-token"
CKO_KEY = "sk_sbox_benchbenchbenchbenchbenchbench"
SIGNING_SECRET = "bench-signing-secret"
PG_SERVER = os.environ.get(
    "SIGNOFF_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
PY = sys.executable


def raise_fd_limit(want: int = 20000) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(want, hard) if hard != resource.RLIM_INFINITY else want
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def service(workdir: Path, database_url: str | None = None, *extra: str) -> ServiceProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    return ServiceProcess(
        database_url=database_url or f"sqlite:///{workdir / f'signoff-{uuid.uuid4().hex[:6]}.db'}",
        api_keys=[API_KEY, CKO_KEY],
        reviewer_tokens=[f"bench={REVIEWER_TOKEN}"],
        extra_args=[
            "--signing-secret",
            SIGNING_SECRET,
            "--outbound-allow",
            "127.0.0.0/8",
            "--delivery-backoff",
            "0.2",
            *extra,
        ],
        log_path=workdir / "serve.log",
    )


# ---------------------------------------------------------------- PostgreSQL scratch database


@contextmanager
def scratch_pg() -> Iterator[str | None]:
    """A fresh database on the local server, dropped afterwards; None when unreachable."""
    import asyncpg

    name = f"signoff_bench_{uuid.uuid4().hex[:8]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(PG_SERVER, timeout=5)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        print(f"  PostgreSQL unavailable ({exc}); skipping", flush=True)
        yield None
        return
    base = PG_SERVER.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        try:
            asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        except Exception as exc:
            print(f"  could not drop {name}: {exc}", flush=True)


# ---------------------------------------------------------------- /metrics and /proc


def scrape(url: str) -> dict[tuple[str, str], float]:
    """Request totals by (method, route) from ``GET /metrics`` (the scrape itself included)."""
    text = httpx.get(f"{url}/metrics", headers={"x-api-key": API_KEY}, timeout=30).text
    totals: dict[tuple[str, str], float] = {}
    for line in text.splitlines():
        if line.startswith("signoff_http_requests_total{"):
            labels, value = line[len("signoff_http_requests_total{") :].rsplit("} ", 1)
            parts = dict(p.split("=", 1) for p in labels.split('",'))
            method = parts["method"].strip('"')
            route = parts["route"].strip('"')
            totals[(method, route)] = float(value)
    return totals


def in_flight(url: str) -> int:
    text = httpx.get(f"{url}/metrics", headers={"x-api-key": API_KEY}, timeout=30).text
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("signoff_http_requests_in_flight{") and "/metrics" not in line
        )
    )


def requests_between(
    before: dict[tuple[str, str], float], after: dict[tuple[str, str], float]
) -> float:
    """Requests other than the /metrics scrapes."""
    return sum(v - before.get(k, 0) for k, v in after.items() if k[1] != "/metrics")


PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def loadavg() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


# ---------------------------------------------------------------- statistics


@dataclass
class Spread:
    median: float
    q1: float
    q3: float
    lo: float
    hi: float
    n: int

    def fmt(self, digits: int = 1, unit: str = "") -> str:
        f = f"{{:.{digits}f}}"
        return (
            f"{f.format(self.median)}{unit} (IQR {f.format(self.q1)}–{f.format(self.q3)}, "
            f"n={self.n})"
        )


def spread(values: Sequence[float]) -> Spread:
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return Spread(float("nan"), float("nan"), float("nan"), float("nan"), float("nan"), 0)
    if len(vals) >= 2:
        q = statistics.quantiles(vals, n=4, method="inclusive")
        q1, q3 = q[0], q[2]
    else:
        q1 = q3 = vals[0]
    return Spread(statistics.median(vals), q1, q3, vals[0], vals[-1], len(vals))


def pct(values: Sequence[float], p: float) -> float:
    vals = sorted(values)
    if not vals:
        return float("nan")
    k = (len(vals) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(vals) - 1)
    return vals[lo] + (vals[hi] - vals[lo]) * (k - lo)


# ---------------------------------------------------------------- the machine


def machine() -> dict[str, str]:
    mem = "?"
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break

    def version(module: str) -> str:
        try:
            from importlib.metadata import version as v

            return v(module)
        except Exception:
            return "-"

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except Exception:
            return "?"

    pg = "?"
    try:
        import asyncpg

        async def ver() -> str:
            conn = await asyncpg.connect(PG_SERVER, timeout=3)
            try:
                return str(await conn.fetchval("SHOW server_version"))
            finally:
                await conn.close()

        pg = asyncio.run(ver())
    except Exception:
        pg = "unreachable"
    return {
        "cpus": str(os.cpu_count()),
        "cpu model": cpu,
        "memory": mem,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "signoff": f"{version('signoff')} (git {git('rev-parse', '--short', 'HEAD')})",
        "httpx": version("httpx"),
        "uvicorn": version("uvicorn"),
        "fastapi": version("fastapi"),
        "sqlalchemy": version("sqlalchemy"),
        "asyncpg": version("asyncpg"),
        "PostgreSQL server": pg,
        "matplotlib": version("matplotlib"),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
