# ruff: noqa: RUF001, E501
"""Part 5, Prefect: from the reviewer's decision to the flow's next line, on a real server.

Everything real: ``prefect server start`` (SQLite, its own PREFECT_HOME) from the Prefect
virtualenv, ``signoff serve`` from the core one, and each flow run its own process with
the Prefect virtualenv's interpreter. Contenders, all started together in each repetition
and then decided one at a time (the order rotates from one repetition to the next, and
each is decided only when the one before has finished, so they do not compete for the
two cores while they are being timed; the pause gets a further random 0-10 s so that
the decision falls anywhere in its poll cycle):

* ``signoff``: ``request_approval`` then ``wait_for_decision`` (one long-poll), decided
  with the service's reviewer endpoint ``POST /api/approvals/{id}/decision``;
* ``pause``: Prefect's ``pause_flow_run(timeout=300)`` with its default 10 s poll,
  resumed with ``POST /api/flow_runs/{id}/resume`` (what ``resume_flow_run`` sends);
* ``suspended``: signoff's ``request_approval_and_suspend`` in a deployment served by
  ``flow.serve``; the decision's signed callback reaches ``signoff-prefect-receiver``,
  which resumes the run, and the runner executes it again in a new process.

Latency = the flow's ``time.time()`` at its next line minus ``time.time()`` just before the
decision (or resume) request was sent. Same machine, same clock.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from bench import common
from signoff.server.process import free_port

VENV = common.ROOT / ".venvs" / "prefect" / "bin"
FLOWS = Path(__file__).resolve().parent / "prefect_flows"
PNG = "engines_prefect.png"
CONTENDERS = ("signoff", "pause", "suspended")
LABEL = {
    "signoff": "signoff `wait_for_decision` (in-process long-poll)",
    "pause": "Prefect `pause_flow_run` (default 10 s poll)",
    "suspended": "signoff suspended (callback → receiver → resume → new process)",
}
COLORS = {"signoff": "#2b8a3e", "pause": "#c92a2a", "suspended": "#1971c2"}
PAUSE_POLL_S = 10  # pause_flow_run's default poll_interval, not changed here
RUNNER_POLL_S = 1  # PREFECT_RUNNER_POLL_FREQUENCY for flow.serve (default 10)
ANCHOR = "Prefect 3.8.8 `pause_flow_run(timeout=300)`, default 10 s poll, under `prefect server start`: resume → next line median 6.67 s, spread uniformly over 0–10 s (10 runs, `../shared/reference/anchors.md`)"


class Procs:
    """Child processes, each the leader of its own process group; all killed at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []
        self.extra_pids: set[int] = set()

    def start(
        self, name: str, args: list[str], env: dict[str, str], cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        with open(self.logs / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(
                args,
                cwd=cwd or common.ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    @staticmethod
    def stop(proc: subprocess.Popen[bytes], grace: float = 10) -> None:
        for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)  # the group: uvicorn workers, runner children
            try:
                proc.wait(wait)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)  # stragglers of the group
                return
            except subprocess.TimeoutExpired:
                continue

    def close(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)
        for pid in self.extra_pids:  # flow-run processes the runner started
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def wait_until(what: str, check: Callable[[], Any], timeout: float, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError, OSError, LookupError, ValueError, StopIteration):
            value = check()
            if value:
                return value
        time.sleep(step)
    raise TimeoutError(f"{what}: not within {timeout:.0f} s")


def lines(path: Path, word: str) -> list[list[str]]:
    if not path.exists():
        return []
    return [ln.split() for ln in path.read_text().splitlines() if ln.startswith(word + " ")]


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@contextlib.contextmanager
def prefect_server(procs: Procs, env: dict[str, str], port: int) -> Iterator[str]:
    api = f"http://127.0.0.1:{port}/api"
    args = [str(VENV / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    proc = procs.start("prefect-server", [*args, "--no-ui", "--analytics-off"], env)

    def healthy() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(f"prefect server start exited with {proc.returncode}")
        return httpx.get(f"{api}/health", timeout=2).status_code == 200

    wait_until("prefect server start healthy", healthy, 240, 0.5)
    yield api


def call(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """A Prefect API call, retried like Prefect's own client does (429/502/503, e.g. while
    its SQLite database is locked)."""
    for attempt in range(8):
        try:
            got = httpx.request(method, url, timeout=30, **kwargs)
            if got.status_code not in (429, 502, 503):
                return got.raise_for_status()
        except httpx.TransportError:
            if attempt == 7:
                raise
        time.sleep(min(0.2 * 2**attempt, 3) * random.uniform(0.8, 1.2))
    return got.raise_for_status()


def state(api: str, flow_run_id: str) -> dict[str, Any]:
    run = call("GET", f"{api}/flow_runs/{flow_run_id}").json()
    return run.get("state") or {}


def states(api: str, flow_run_id: str) -> list[tuple[str, float]]:
    """The run's state history as (name, epoch seconds), oldest first."""
    from datetime import datetime

    got = call("GET", f"{api}/flow_run_states/", params={"flow_run_id": flow_run_id})
    out = [(s["name"], datetime.fromisoformat(s["timestamp"]).timestamp()) for s in got.json()]
    return sorted(out, key=lambda x: x[1])


def resume(api: str, flow_run_id: str) -> None:
    """What ``resume_flow_run(flow_run_id)`` sends."""
    got = call("POST", f"{api}/flow_runs/{flow_run_id}/resume", json={"run_input": None})
    if got.json().get("status") != "ACCEPT":
        raise RuntimeError(f"resume not accepted: {got.text[:300]}")


def run(quick: bool, workdir: Path) -> dict[str, Any]:
    reps = 3 if quick else 10
    workdir.mkdir(parents=True, exist_ok=True)
    logs = workdir / "logs"
    logs.mkdir(exist_ok=True)
    port, receiver_port = free_port(), free_port()
    api = f"http://127.0.0.1:{port}/api"
    receiver_url = f"http://127.0.0.1:{receiver_port}"
    base_env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "VIRTUAL_ENV"))
    }
    env = {
        **base_env,
        "PATH": f"{VENV}:{base_env.get('PATH', '')}",
        "PREFECT_HOME": str(workdir / "prefect-home"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "INFO",
        "PYTHONUNBUFFERED": "1",
    }
    py = str(VENV / "python")
    prefect_version = subprocess.run(
        [py, "-c", "import prefect; print(prefect.__version__)"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    ).stdout.strip()
    samples: list[dict[str, Any]] = []
    procs = Procs(logs)
    t_start = time.monotonic()
    try:
        with common.service(workdir) as service, prefect_server(procs, env, port):
            server_up_s = time.monotonic() - t_start
            server_version = httpx.get(f"{api}/admin/version", timeout=10).json()
            flow_env = {
                **env,
                "SIGNOFF_BENCH_URL": service.url,
                "SIGNOFF_BENCH_API_KEY": common.API_KEY,
            }
            receiver = procs.start(
                "receiver",
                [
                    str(VENV / "signoff-prefect-receiver"),
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(receiver_port),
                ],
                {**env, "SIGNOFF_SIGNING_SECRET": common.SIGNING_SECRET},
            )
            runner = procs.start(
                "runner",
                [py, "suspended_wait.py"],
                {**flow_env, "PREFECT_RUNNER_POLL_FREQUENCY": str(RUNNER_POLL_S)},
                cwd=FLOWS,
            )
            wait_until(
                "receiver up",
                lambda: httpx.get(f"{receiver_url}/healthz", timeout=2).status_code == 200,
                120,
                0.3,
            )
            deployment = wait_until(
                "runner's deployment",
                lambda: httpx.get(
                    f"{api}/deployments/name/bench-suspended-wait/bench", timeout=5
                ).json()["id"],
                180,
                0.5,
            )
            reviewer = httpx.Client(
                timeout=30, headers={"Authorization": f"Bearer {common.REVIEWER_TOKEN}"}
            )
            pipeline = httpx.Client(timeout=30, headers={"x-api-key": common.API_KEY})
            print(
                f"  prefect {prefect_version}: server up in {server_up_s:.0f} s; "
                f"{reps} repetitions",
                flush=True,
            )
            for rep in range(reps):
                if receiver.poll() is not None or runner.poll() is not None:
                    raise RuntimeError(f"receiver or runner exited; see {logs}")
                samples += repetition(
                    rep,
                    workdir,
                    procs,
                    flow_env,
                    api,
                    service.url,
                    deployment,
                    receiver_url,
                    reviewer,
                    pipeline,
                )
                got = {s["contender"]: s.get("latency_s") for s in samples if s["rep"] == rep}
                print(
                    f"  rep {rep}: "
                    + ", ".join(
                        f"{c} {v:.2f} s" if v is not None else f"{c} failed" for c, v in got.items()
                    ),
                    flush=True,
                )
            reviewer.close()
            pipeline.close()
    finally:
        procs.close()
    return {
        "samples": samples,
        "reps": reps,
        "versions": {"prefect": prefect_version, "prefect server": server_version},
        "settings": {
            "pause_flow_run": f"timeout=300, poll_interval={PAUSE_POLL_S} (default)",
            "resume": "POST /api/flow_runs/{id}/resume (as resume_flow_run), after a random 0-10 s",
            "signoff wait": "request_approval + wait_for_decision (defaults: long-poll, max_wait_seconds=300)",
            "signoff decision": "POST /api/approvals/{id}/decision with the reviewer token",
            "suspended": f"request_approval_and_suspend in a flow.serve deployment, PREFECT_RUNNER_POLL_FREQUENCY={RUNNER_POLL_S} (default 10); callback retry backoff 0.2 s",
            "prefect server": "prefect server start --no-ui, SQLite in a fresh PREFECT_HOME, services on",
            "signoff serve": "SQLite, loopback",
            "order": "all three started together each repetition; decided one at a time, order rotating, each after the previous one's run finished",
        },
        "server_up_s": server_up_s,
    }


def repetition(
    rep: int,
    workdir: Path,
    procs: Procs,
    env: dict[str, str],
    api: str,
    service_url: str,
    deployment: str,
    receiver_url: str,
    reviewer: httpx.Client,
    pipeline: httpx.Client,
) -> list[dict[str, Any]]:
    out = {c: workdir / f"rep{rep}-{c}.txt" for c in CONTENDERS}
    py = str(VENV / "python")
    action = f"bench_prefect_suspended_{rep}_{random.randrange(1 << 30)}"
    started = time.time()
    flows = {
        "signoff": procs.start(
            f"rep{rep}-signoff", [py, "signoff_wait.py", str(out["signoff"])], env, FLOWS
        ),
        "pause": procs.start(
            f"rep{rep}-pause", [py, "pause_wait.py", str(out["pause"])], env, FLOWS
        ),
    }
    results: dict[str, dict[str, Any]] = {
        c: {"contender": c, "rep": rep, "latency_s": None} for c in CONTENDERS
    }
    try:
        created = call(
            "POST",
            f"{api}/deployments/{deployment}/create_flow_run",
            json={
                "parameters": {
                    "out": str(out["suspended"]),
                    "receiver_url": receiver_url,
                    "action": action,
                }
            },
        )
        suspended_run = str(created.json()["id"])
        # Everyone waiting, and each provably so, before anyone decides.
        signoff_id = wait_until(
            "signoff flow asked", lambda: lines(out["signoff"], "ready")[0][1], 120
        )
        wait_until("signoff flow long-polling", lambda: common.in_flight(service_url) >= 1, 60)
        pause_run = wait_until(
            "pause flow started", lambda: lines(out["pause"], "ready")[0][1], 120
        )
        wait_until("pause flow Paused", lambda: state(api, pause_run).get("type") == "PAUSED", 60)
        wait_until(
            "suspended flow Suspended",
            lambda: state(api, suspended_run).get("name") == "Suspended",
            120,
        )
        first_pid = int(lines(out["suspended"], "started")[0][1])  # written before it asked
        procs.extra_pids.add(first_pid)
        wait_until("suspended flow's process gone", lambda: not alive(first_pid), 60)
        suspended_id = wait_until(
            "suspended flow's approval",
            lambda: next(
                a["id"]
                for a in pipeline.get(
                    f"{service_url}/api/approvals", params={"status": "PENDING", "limit": 200}
                ).json()["data"]
                if a["action"] == action
            ),
            30,
        )
        setup_s = time.time() - started
        time.sleep(1.0)  # let the start-up CPU settle

        def decide(approval_id: str) -> None:
            reviewer.post(
                f"{service_url}/api/approvals/{approval_id}/decision",
                json={"decision": "approve", "note": "bench"},
            ).raise_for_status()

        actions: dict[str, Callable[[], None]] = {
            "signoff": lambda: decide(signoff_id),
            "pause": lambda: resume(api, pause_run),
            "suspended": lambda: decide(suspended_id),
        }
        run_ids = {"pause": pause_run, "suspended": suspended_run}
        order = [CONTENDERS[(rep + i) % len(CONTENDERS)] for i in range(len(CONTENDERS))]
        for position, contender in enumerate(order):
            sample = results[contender]
            sample["position"] = position
            sample["setup_s"] = setup_s
            if contender == "pause":
                # The reviewer decides at a random moment of the poll cycle, not at one
                # fixed by this benchmark's own rhythm.
                sample["jitter_s"] = random.uniform(0, PAUSE_POLL_S)
                time.sleep(sample["jitter_s"])
                paused_at = [t for name, t in states(api, pause_run) if name == "Paused"]
                sample["paused_for_s"] = time.time() - paused_at[-1] if paused_at else None
            try:
                t_decide = time.time()
                actions[contender]()
                t_ack = time.time()
                nxt = wait_until(
                    f"{contender} flow's next line",
                    lambda c=contender: float(lines(out[c], "next")[0][1]),
                    120,
                    0.02,
                )
                sample.update(latency_s=nxt - t_decide, ack_s=t_ack - t_decide, decided_at=t_decide)
                if contender in run_ids:
                    sample["states"] = [
                        (name, round(t - t_decide, 3))
                        for name, t in states(api, run_ids[contender])
                        if t >= t_decide - 0.5
                    ]
            except Exception as exc:
                sample["error"] = f"{type(exc).__name__}: {exc}"
            # The next contender is timed only once this one's run has finished.
            if contender in flows:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    flows[contender].wait(60)
            else:
                with contextlib.suppress(TimeoutError):
                    wait_until(
                        "suspended run finished",
                        lambda: (
                            state(api, suspended_run).get("type")
                            in ("COMPLETED", "FAILED", "CRASHED")
                        ),
                        60,
                        0.2,
                    )
            for row in lines(out["suspended"], "started"):
                procs.extra_pids.add(int(row[1]))
            time.sleep(0.5)
    except Exception as exc:
        for sample in results.values():
            if sample["latency_s"] is None and "error" not in sample:
                sample["error"] = f"{type(exc).__name__}: {exc}"
    finally:
        for proc in flows.values():
            Procs.stop(proc, grace=5)
        for row in lines(out["suspended"], "started"):
            pid = int(row[1])
            procs.extra_pids.add(pid)
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
    return list(results.values())


# ------------------------------------------------------------------ report


def _values(part: dict[str, Any], contender: str) -> list[float]:
    return [
        s["latency_s"]
        for s in part["samples"]
        if s["contender"] == contender and s.get("latency_s") is not None
    ]


def section(part: dict[str, Any]) -> list[str]:
    from bench.report import f

    st = {c: common.spread(_values(part, c)) for c in CONTENDERS}
    failed = {
        c: sum(1 for s in part["samples"] if s["contender"] == c and s.get("latency_s") is None)
        for c in CONTENDERS
    }
    out = [
        "### Prefect",
        "",
        f"Prefect {part['versions']['prefect']}: a real `prefect server start` (SQLite) and "
        f"`signoff serve` (SQLite); each flow run is its own process. In each of "
        f"{part['reps']} repetitions the three flows are started together and, once all "
        "three are waiting, decided one at a time in a rotating order, each only after the "
        "previous one's run has finished; the pause is resumed after a further random "
        f"0–{PAUSE_POLL_S} s, so that the decision falls anywhere in its poll cycle. Measured: `time.time()` just before the decision "
        "(signoff: the reviewer's `POST /api/approvals/{id}/decision`; pause: `POST "
        "/api/flow_runs/{id}/resume`, what `resume_flow_run` sends) to `time.time()` at the "
        f"flow's next line. The suspended mode resumes through the signed callback, "
        f"`signoff-prefect-receiver` and a new process started by `flow.serve` (runner poll "
        f"{RUNNER_POLL_S} s instead of its default 10 s).",
        "",
        "| contender | runs | p50 s | IQR s | min s | max s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for c in CONTENDERS:
        sp = st[c]
        if sp.n == 0 and not failed[c]:
            continue
        runs = f"{sp.n}" + (f" (+{failed[c]} failed)" if failed[c] else "")
        out.append(
            f"| {LABEL[c]} | {runs} | {f(sp.median, 2)} | {f(sp.q1, 2)}–{f(sp.q3, 2)} | "
            f"{f(sp.lo, 2)} | {f(sp.hi, 2)} |"
        )
    out.append("")
    sig, pause = st["signoff"], st["pause"]
    if sig.n and pause.n:
        out.append(
            f"Ratio of medians, pause ÷ signoff: **{pause.median / sig.median:,.0f}×** "
            f"({f(pause.median, 2)} s vs {f(sig.median, 2)} s). For reference: {ANCHOR}."
        )
    else:
        out.append(f"For reference: {ANCHOR}.")
    sus = [s for s in part["samples"] if s["contender"] == "suspended" and s.get("states")]
    if sus:
        resumed = [next((t for name, t in s["states"] if name != "Suspended"), None) for s in sus]
        running = [next((t for name, t in s["states"] if name == "Running"), None) for s in sus]
        rs = common.spread([x for x in resumed if x is not None])
        rn = common.spread([x for x in running if x is not None])
        out.append(
            f"Suspended mode, medians from the decision: run resumed by the receiver "
            f"{f(rs.median, 2)} s, `Running` again in a new process {f(rn.median, 2)} s, next "
            f"line {f(st['suspended'].median, 2)} s (the re-executed flow first asks the "
            "service again, which answers with the same approval)."
        )
    errors = sorted({s["error"] for s in part["samples"] if s.get("error")})
    if errors:
        out.append(f"Failures: {'; '.join(e[:200] for e in errors)}.")
    out += ["", f"![decision → flow's next line, each run]({PNG})", ""]
    with contextlib.suppress(Exception):
        plot(part)
    return out


def plot(part: dict[str, Any]) -> None:
    from bench.report import _plt

    plt = _plt()
    present = [c for c in CONTENDERS if _values(part, c)]
    fig, ax = plt.subplots(figsize=(7.5, 1.4 + 0.8 * len(present)))
    for i, c in enumerate(present):
        vals = _values(part, c)
        jitter = [i + random.uniform(-0.15, 0.15) for _ in vals]
        ax.scatter(vals, jitter, color=COLORS[c], alpha=0.75, s=28, zorder=3)
        sp = common.spread(vals)
        ax.plot([sp.q1, sp.q3], [i, i], color=COLORS[c], lw=6, alpha=0.3, zorder=2)
        ax.plot([sp.median], [i], marker="|", color="black", ms=18, zorder=4)
        ax.annotate(
            f"p50 {sp.median:.2f} s",
            (sp.median, i),
            xytext=(0, 12),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    ax.axvline(PAUSE_POLL_S, color="#c92a2a", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set_xlim(0.01, 30)
    ax.set_ylim(-0.6, len(present) - 0.4)
    ax.invert_yaxis()
    ax.set_yticks(range(len(present)))
    ax.set_yticklabels([c if c != "pause" else "pause_flow_run" for c in present], fontsize=9)
    ax.set_xlabel(
        "decision → flow's next line, s (log; bar: IQR, tick: median; dotted: the 10 s poll)"
    )
    ax.set_title(f"Prefect {part['versions']['prefect']}, real server, each run", fontsize=10)
    ax.grid(axis="x", which="both", alpha=0.25)
    fig.tight_layout()
    fig.savefig(common.BENCH_DIR / PNG, dpi=110)
    plt.close(fig)


def summary(part: dict[str, Any]) -> str | None:
    sig = common.spread(_values(part, "signoff"))
    pause = common.spread(_values(part, "pause"))
    if not sig.n or not pause.n:
        return None
    sus = common.spread(_values(part, "suspended"))
    suspended = f"; the suspended mode (new process on resume) {sus.median:.1f} s" if sus.n else ""
    ahead = sig.median < pause.median
    return (
        f"- **Prefect (real server)**: decision → flow resumed p50 {sig.median:.2f} s for "
        f"signoff's wait vs {pause.median:.2f} s for `pause_flow_run` "
        f"({pause.median / sig.median:,.0f}×){suspended}; target ahead: "
        f"{'met' if ahead else 'missed'}."
    )
