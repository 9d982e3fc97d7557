# ruff: noqa: RUF001, RUF002, E501
"""Part 5, Airflow: from a reviewer's decision to the downstream task's first line.

A real Airflow 3.3 (scheduler, triggerer, dag-processor and api-server from
``.venvs/airflow``, LocalExecutor, SQLite, AIRFLOW_HOME in the work directory; the four
components ``airflow standalone`` runs) and a real ``signoff serve`` (from this, the core,
environment). DAGs (``bench/engines/airflow_dags``), each ``approve >> downstream``:

* ``bench_signoff``: signoff's deferrable ``RequestApprovalOperator``, default settings;
* ``bench_signoff_worker``: the same with ``end_from_trigger=False``, only when the installed
  operator has that argument (the "before" of ending the task in the triggerer);
* ``bench_hitl``: Airflow's own Human-in-the-loop ``ApprovalOperator``.

Runs are triggered through Airflow's REST API, contenders interleaved. Once the approval
task waits (signoff: the task is deferred, the approval is pending in signoff and the
triggerer's long-poll is in flight; HITL: the task is ``awaiting_input`` and its
hitlDetails exist) and an idle window of 1–2 s has passed (requests and CPU counted), the
approval is decided through each one's API: signoff's reviewer ``POST
/api/approvals/{id}/decision``, Airflow's ``PATCH .../taskInstances/approve/-1/hitlDetails``.
Latency = the downstream task's first line (``time.time()`` written to a file) minus
``time.time()`` just before the decision request; the breakdown comes from the task
instances' timestamps in Airflow's API.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench import common
from signoff.server.process import free_port

AIRFLOW_VENV = common.ROOT / ".venvs" / "airflow"
DAGS_SRC = Path(__file__).resolve().parent / "airflow_dags"
PLOT = "engines_airflow.png"
ANCHOR = {"median": 1.70, "q1": 1.48, "q3": 1.98, "lo": 1.38, "hi": 2.36, "n": 10}
ANCHOR_BREAKDOWN = "PATCH → approval task ends 0.80 s, → downstream queued 0.73 s, → started 0.12 s"

DAG_IDS = {
    "signoff": "bench_signoff",
    "signoff_worker": "bench_signoff_worker",
    "hitl": "bench_hitl",
}
LABELS = {
    "signoff": "signoff RequestApprovalOperator (defaults)",
    "signoff_worker": "signoff (resume on worker)",
    "hitl": "Airflow HITL ApprovalOperator",
}
COLORS = {"signoff": "#2b8a3e", "signoff_worker": "#74b816", "hitl": "#e67700"}
WAITING_STATE = {"signoff": "deferred", "signoff_worker": "deferred", "hitl": "awaiting_input"}
# Breakdown: increments between consecutive events after the decision (seconds).
STEPS = [
    ("resumed", "decision → engine resumes the task"),
    ("approve_end", "→ approval task ends"),
    ("down_queued", "→ downstream queued"),
    ("down_start", "→ downstream starts"),
    ("first_line", "→ its first line"),
]
SETTINGS_PROBE = r"""
import inspect, json, importlib.metadata as m
from airflow.configuration import conf
from signoff_airflow.operators.approval import RequestApprovalOperator
keys = [("core", "executor"), ("core", "parallelism"), ("scheduler", "scheduler_idle_sleep_time"),
        ("scheduler", "scheduler_heartbeat_sec"), ("triggerer", "capacity"),
        ("dag_processor", "refresh_interval"), ("core", "dags_are_paused_at_creation"),
        ("api", "workers")]
def get(s, k):
    try:
        return conf.get(s, k)
    except Exception as exc:
        return f"? ({type(exc).__name__})"
print(json.dumps({
    "versions": {p: m.version(p) for p in ("apache-airflow", "apache-airflow-providers-standard",
                                          "apache-airflow-task-sdk", "signoff")},
    "config": {f"{s}.{k}": get(s, k) for s, k in keys},
    "end_from_trigger": "end_from_trigger" in inspect.signature(RequestApprovalOperator.__init__).parameters,
}))
"""


# ---------------------------------------------------------------- processes


def _pgrp(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return int(f.read().rsplit(")", 1)[1].split()[2])
    except (OSError, ValueError, IndexError):
        return None


def _tree_cpu(pgids: set[int]) -> float:
    """CPU seconds of every live process in these process groups (children included)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if entry.isdigit() and _pgrp(int(entry)) in pgids:
            try:
                total += common.cpu_seconds(int(entry))
            except OSError:
                pass
    return total


def _tagged(tag: str) -> list[int]:
    """Processes whose environment carries this run's tag: everything this part started."""
    found = []
    needle = f"SIGNOFF_BENCH_TAG={tag}".encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                if needle in f.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            pass
    return found


class Airflow:
    """The four components of ``airflow standalone``, each in its own process group."""

    COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")

    def __init__(self, workdir: Path, signoff_url: str) -> None:
        self.home = workdir / "home"
        self.out = workdir / "out"
        self.dags = workdir / "dags"
        for d in (self.home, self.out):
            d.mkdir(parents=True, exist_ok=True)
        shutil.copytree(DAGS_SRC, self.dags, ignore=shutil.ignore_patterns("__pycache__"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tag = uuid.uuid4().hex
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        bin_dir = AIRFLOW_VENV / "bin"
        conn = {"conn_type": "signoff", "host": signoff_url, "password": common.API_KEY}
        # What this benchmark sets; everything else is Airflow's default.
        self.settings = {
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(self.dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__CORE__AUTH_MANAGER": "airflow.api_fastapi.auth.managers.simple."
            "simple_auth_manager.SimpleAuthManager",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
        }
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "PYTHONHOME") and not k.startswith("AIRFLOW")
        }
        self.env.update(self.settings)
        self.env.update(
            {
                "VIRTUAL_ENV": str(AIRFLOW_VENV),
                "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                "AIRFLOW_CONN_SIGNOFF_DEFAULT": json.dumps(conn),
                "SIGNOFF_BENCH_OUT": str(self.out),
                "SIGNOFF_BENCH_TAG": self.tag,
            }
        )
        self.airflow = str(bin_dir / "airflow")

    def probe(self) -> dict[str, Any]:
        done = subprocess.run(
            [str(AIRFLOW_VENV / "bin" / "python"), "-c", SETTINGS_PROBE],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"probing the Airflow environment failed:\n{done.stderr[-2000:]}")
        return dict(json.loads(done.stdout.strip().splitlines()[-1]))

    def migrate(self) -> float:
        t = time.monotonic()
        with open(self.home / "db-migrate.log", "wb") as log:
            done = subprocess.run(
                [self.airflow, "db", "migrate"],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=300,
                start_new_session=True,
            )
        if done.returncode != 0:
            raise RuntimeError(f"airflow db migrate failed; see {self.home / 'db-migrate.log'}")
        return time.monotonic() - t

    def start(self) -> None:
        for name in self.COMPONENTS:
            log = open(self.home / f"{name}.log", "wb")  # the child keeps its own copy
            self.procs[name] = subprocess.Popen(
                [self.airflow, name],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            log.close()

    def pgids(self) -> set[int]:
        return {p.pid for p in self.procs.values() if p.poll() is None}

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                tail = (self.home / f"{name}.log").read_text(errors="replace")[-1500:]
                raise RuntimeError(f"airflow {name} exited with {proc.returncode}:\n{tail}")

    def wait_healthy(self, client: httpx.Client, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                r = client.get(f"{self.url}/api/v2/monitor/health", timeout=5)
                last = r.json() if r.status_code == 200 else r.status_code
                if r.status_code == 200 and all(
                    (last.get(c) or {}).get("status") == "healthy"
                    for c in ("metadatabase", "scheduler", "triggerer", "dag_processor")
                ):
                    return
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.5)
        raise RuntimeError(f"Airflow not healthy within {timeout:.0f} s: {last}")

    def wait_dags(self, client: httpx.Client, dag_ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        missing = list(dag_ids)
        while time.monotonic() < deadline:
            self.check_alive()
            missing = [
                d for d in missing if client.get(f"{self.url}/api/v2/dags/{d}").status_code != 200
            ]
            if not missing:
                for d in dag_ids:
                    client.patch(
                        f"{self.url}/api/v2/dags/{d}", json={"is_paused": False}
                    ).raise_for_status()
                return
            errors = client.get(f"{self.url}/api/v2/importErrors").json()
            if errors.get("total_entries"):
                raise RuntimeError(f"DAG import errors: {errors['import_errors']}")
            time.sleep(1)
        raise RuntimeError(f"DAGs {missing} not parsed within {timeout:.0f} s")

    def stop(self) -> list[str]:
        """SIGTERM every process group, then SIGKILL, then anything still carrying our tag."""
        notes = []
        for proc in self.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 20
        for name, proc in self.procs.items():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                notes.append(f"{name} ignored SIGTERM for 20 s; killed")
        for proc in self.procs.values():
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            if proc.poll() is None:
                proc.wait(5)
        left = _tagged(self.tag)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if left:
            notes.append(f"killed {len(left)} leftover processes outside the groups")
        return notes


# ---------------------------------------------------------------- one run


def _ts(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def _pending_approval(reviewer: httpx.Client, url: str, run_id: str) -> str | None:
    r = reviewer.get(f"{url}/api/approvals", params={"status": "PENDING", "limit": 20})
    r.raise_for_status()
    for a in r.json()["data"]:
        if (a.get("source") or {}).get("run") == run_id:
            return str(a["id"])
    return None


def _workload_durations(log: Path) -> list[float]:
    """The LocalExecutor's "Workload finished" durations: task run plus supervisor wrap-up."""
    try:
        text = log.read_text(errors="replace")
    except OSError:
        return []
    return [float(m) for m in re.findall(r"Workload finished .*?duration=([0-9.]+)", text)]


class RunFailed(Exception):
    """A dag run that did not reach its downstream task; ``info`` says why."""

    def __init__(self, info: dict[str, Any]) -> None:
        super().__init__(info["reason"])
        self.info = info


def _diagnose(
    af: Airflow, api: httpx.Client, ti_url: str, run_id: str, state: str | None, waited: float
) -> dict[str, Any]:
    tis = {t: api.get(f"{ti_url}/{t}").json().get("state") for t in ("approve", "downstream")}
    reason = f"run {state} after {waited:.0f} s; task states {tis}"
    try:
        for line in (af.home / "scheduler.log").read_text(errors="replace").splitlines():
            if run_id in line and ("error" in line[:60].lower() or "externally" in line):
                reason += "; scheduler: " + line.split("]", 1)[-1].strip()[:400]
                break
    except OSError:
        pass
    return {"run_id": run_id, "run_state": state, "task_states": tis, "reason": reason}


def one_run(
    contender: str,
    index: int,
    af: Airflow,
    api: httpx.Client,
    reviewer: httpx.Client,
    signoff_url: str,
    signoff_pid: int,
) -> dict[str, Any]:
    dag_id = DAG_IDS[contender]
    run_id = f"{contender}-{index}-{uuid.uuid4().hex[:6]}"
    runs = f"{af.url}/api/v2/dags/{dag_id}/dagRuns"
    ti_url = f"{runs}/{run_id}/taskInstances"
    sample: dict[str, Any] = {"contender": contender, "run_id": run_id}
    t_trigger = time.time()
    api.post(runs, json={"dag_run_id": run_id, "logical_date": None}).raise_for_status()

    # 1. until the approval task waits
    approval_id: str | None = None
    deadline = time.monotonic() + 90
    while True:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{run_id}: the approval task did not wait within 90 s")
        af.check_alive()
        r = api.get(f"{ti_url}/approve")
        state = r.json().get("state") if r.status_code == 200 else None
        if state in ("failed", "upstream_failed", "skipped", "success", "removed"):
            raise RuntimeError(f"{run_id}: approval task {state} before a decision")
        if state == WAITING_STATE[contender]:
            if contender == "hitl":
                if api.get(f"{ti_url}/approve/-1/hitlDetails").status_code == 200:
                    break
            else:
                approval_id = approval_id or _pending_approval(reviewer, signoff_url, run_id)
                if approval_id and common.in_flight(signoff_url) >= 1:  # the trigger's long-poll
                    break
        time.sleep(0.1)
    sample["trigger_to_waiting_s"] = time.time() - t_trigger

    # 2. an idle window: what waiting costs
    m0, c0, s0, t0 = (
        common.scrape(signoff_url),
        _tree_cpu(af.pgids()),
        common.cpu_seconds(signoff_pid),
        time.monotonic(),
    )
    held = common.in_flight(signoff_url)  # signoff: the trigger's long-poll
    time.sleep(random.uniform(1.0, 2.0))  # also puts the decision at a random loop phase
    m1, c1, s1, t1 = (
        common.scrape(signoff_url),
        _tree_cpu(af.pgids()),
        common.cpu_seconds(signoff_pid),
        time.monotonic(),
    )
    window = t1 - t0
    sample["idle"] = {
        "window_s": window,
        "signoff_req_per_s": common.requests_between(m0, m1) / window,
        "signoff_in_flight": held,
        "signoff_cpu_pct": 100 * (s1 - s0) / window,
        "airflow_cpu_pct": 100 * (c1 - c0) / window,
    }

    # 3. the decision
    sample["load"] = common.loadavg()
    t_decide = time.time()
    if contender == "hitl":
        resp = api.patch(
            f"{ti_url}/approve/-1/hitlDetails",
            json={"chosen_options": ["Approve"], "params_input": {}},
        )
    else:
        resp = reviewer.post(
            f"{signoff_url}/api/approvals/{approval_id}/decision",
            json={"decision": "approve", "note": "bench"},
        )
    t_ack = time.time()
    resp.raise_for_status()
    sample.update({"t_decide": t_decide, "ack_s": t_ack - t_decide, "approval_id": approval_id})

    # 4. the downstream task's first line (a file; the API is asked only after 10 s)
    mark = af.out / f"{run_id}.t"
    t_wait = time.monotonic()
    next_check = t_wait + 10
    while not mark.exists():
        now = time.monotonic()
        if now > next_check:
            next_check = now + 1
            state = api.get(f"{runs}/{run_id}").json().get("state")
            if state == "failed" or now - t_wait > 60:
                raise RunFailed(_diagnose(af, api, ti_url, run_id, state, now - t_wait))
        time.sleep(0.01)
    first_line = float(mark.read_text())
    sample["latency_s"] = first_line - t_decide

    # 5. the run ends; then the task instances' timestamps
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = api.get(f"{runs}/{run_id}").json().get("state")
        if state in ("success", "failed"):
            break
        time.sleep(0.2)
    sample["run_state"] = state
    tis = {t: api.get(f"{ti_url}/{t}").json() for t in ("approve", "downstream")}
    ap, dn = tis["approve"], tis["downstream"]
    resumed = _ts(ap.get("scheduled_when"))
    approve_end = _ts(ap.get("end_date"))
    ended_in_triggerer = resumed is None or resumed < t_decide  # never rescheduled
    if ended_in_triggerer:
        resumed = approve_end
    sample["ended_in_triggerer"] = ended_in_triggerer
    events = {
        "resumed": resumed,
        "approve_end": approve_end,
        "down_queued": _ts(dn.get("queued_when")),
        "down_start": _ts(dn.get("start_date")),
        "first_line": first_line,
    }
    sample["after_decision_s"] = {
        k: (v - t_decide if v is not None else None) for k, v in events.items()
    }
    sample["approve_state"] = ap.get("state")
    sample["approve_try_number"] = ap.get("try_number")
    return sample


# ---------------------------------------------------------------- the part


def run(quick: bool, workdir: Path) -> dict[str, Any]:
    if not (AIRFLOW_VENV / "bin" / "airflow").exists():
        raise RuntimeError(
            f"{AIRFLOW_VENV} has no airflow: make it with `bash scripts/test airflow`"
        )
    workdir.mkdir(parents=True, exist_ok=True)
    reps = 3 if quick else 10
    result: dict[str, Any] = {"reps": reps, "runs": [], "warmup": [], "failures": [], "errors": []}
    t_start = time.monotonic()
    with common.service(workdir / "signoff") as svc:
        af = Airflow(workdir, svc.url)
        try:
            probe = af.probe()
            contenders = ["signoff", "hitl"] + (
                ["signoff_worker"] if probe["end_from_trigger"] else []
            )
            result.update(
                contenders=contenders,
                versions=probe["versions"],
                config=probe["config"],
                settings={
                    k: v
                    for k, v in af.settings.items()
                    if k not in ("AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER")
                    and "PORT" not in k
                    and "URL" not in k
                    and "SQL_ALCHEMY" not in k
                },
                end_from_trigger_available=probe["end_from_trigger"],
            )
            print(
                f"  airflow {probe['versions']['apache-airflow']}; contenders {contenders}",
                flush=True,
            )
            result["migrate_s"] = af.migrate()
            af.start()
            assert svc.proc is not None
            with (
                httpx.Client(timeout=30) as api,
                httpx.Client(
                    timeout=30, headers={"Authorization": f"Bearer {common.REVIEWER_TOKEN}"}
                ) as reviewer,
            ):
                af.wait_healthy(api, 240)
                af.wait_dags(api, [DAG_IDS[c] for c in contenders], 180)
                result["startup_s"] = time.monotonic() - t_start
                print(f"  Airflow up after {result['startup_s']:.0f} s", flush=True)
                for c in contenders:  # first worker start, first DAG import: not counted
                    try:
                        result["warmup"].append(
                            one_run(c, -1, af, api, reviewer, svc.url, svc.proc.pid)
                        )
                    except Exception as exc:
                        result["errors"].append(f"warm-up {c}: {exc}")
                for i in range(reps):
                    k = i % len(contenders)
                    for c in contenders[k:] + contenders[:k]:
                        try:
                            s = one_run(c, i, af, api, reviewer, svc.url, svc.proc.pid)
                            result["runs"].append(s)
                            print(
                                f"  {c:15s} #{i}: {s['latency_s']:.2f} s (load {common.loadavg()})",
                                flush=True,
                            )
                        except RunFailed as exc:
                            result["failures"].append({"contender": c, "index": i, **exc.info})
                            print(f"  {c} #{i} failed: {exc}", flush=True)
                        except Exception as exc:
                            result["errors"].append(f"{c} #{i}: {exc}")
                            print(f"  {c} #{i} failed: {exc}", flush=True)
        finally:
            result["teardown_notes"] = af.stop()
            result["workload_s"] = _workload_durations(af.home / "scheduler.log")
    result["wall_s"] = time.monotonic() - t_start
    return result


# ---------------------------------------------------------------- the report


def _stats(part: dict[str, Any]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for c in [c for c in DAG_IDS if c in part.get("contenders", [])]:  # display order
        runs = [r for r in part["runs"] if r["contender"] == c]
        if not runs:
            continue
        steps: dict[str, common.Spread] = {}
        prev = "decision"
        for key, _ in STEPS:
            vals = []
            for r in runs:
                a = r["after_decision_s"]
                lo = 0.0 if prev == "decision" else a.get(prev)
                if a.get(key) is not None and lo is not None:
                    vals.append(a[key] - lo)
            steps[key] = common.spread(vals)
            prev = key
        idle = [r["idle"] for r in runs]
        out[c] = {
            "n": len(runs),
            "total": common.spread([r["latency_s"] for r in runs]),
            "steps": steps,
            "ack": common.spread([r["ack_s"] for r in runs]),
            "req": common.spread([i["signoff_req_per_s"] for i in idle]),
            "held": common.spread([i.get("signoff_in_flight", math.nan) for i in idle]),
            "af_cpu": common.spread([i["airflow_cpu_pct"] for i in idle]),
            "to_wait": common.spread([r["trigger_to_waiting_s"] for r in runs]),
            "latencies": [r["latency_s"] for r in runs],
        }
    return out


def _f(x: float | None, d: int = 2) -> str:
    return "–" if x is None or math.isnan(x) else f"{x:.{d}f}"


def _failed(part: dict[str, Any], contender: str) -> str:
    n = sum(f["contender"] == contender for f in part.get("failures", []))
    return f" (+{n} failed)" if n else ""


def _loads(part: dict[str, Any]) -> str:
    ones = [float(r["load"].split()[0]) for r in part.get("runs", []) if r.get("load")]
    return f"{min(ones):.1f}–{max(ones):.1f}" if ones else "?"


def section(part: dict[str, Any]) -> list[str]:
    st = _stats(part)
    v = part.get("versions", {})
    cfg = part.get("config", {})
    set_here = ", ".join(f"`{k}={val}`" for k, val in part.get("settings", {}).items())
    worker = "signoff_worker" in part.get("contenders", [])
    out = [
        "### Airflow",
        "",
        f"A real Airflow {v.get('apache-airflow', '?')} (standard provider "
        f"{v.get('apache-airflow-providers-standard', '?')}, task SDK "
        f"{v.get('apache-airflow-task-sdk', '?')}): the four components `airflow standalone` "
        "runs (scheduler, triggerer, dag-processor, api-server), started from `.venvs/airflow` "
        "with a SQLite metadata database, plus one `signoff serve` (SQLite). Each DAG "
        "(`bench/engines/airflow_dags/`) is `approve >> downstream`, `approve` being signoff's "
        "deferrable `RequestApprovalOperator` with its default settings"
        + (
            ", the same with `end_from_trigger=False` (the task resumes on a worker: the "
            "behaviour before it could end in the triggerer)"
            if worker
            else ""
        )
        + ", or Airflow's own HITL `ApprovalOperator`. Each run is triggered through the REST "
        "API; once the approval task waits (signoff: task `deferred`, approval pending, the "
        "triggerer's long-poll in flight; HITL: task `awaiting_input`, hitlDetails present) "
        "and a further 1–2 s have passed (random, so the decision lands at a random phase of "
        "the 1 s loops), it is approved through each one's API: signoff's reviewer `POST "
        "/api/approvals/{id}/decision`, Airflow's `PATCH "
        ".../taskInstances/approve/-1/hitlDetails`. Measured: from `time.time()` just before "
        "the decision request to `time.time()` on the downstream task's first line (written "
        "to a file); the breakdown comes from the task instances' `scheduled_when`, "
        "`end_date`, `queued_when` and `start_date`. Contenders alternate, order rotated per "
        f"repetition, {part.get('reps', '?')} runs each after one unrecorded warm-up run each; "
        f"1-minute load average during the runs {_loads(part)} on "
        f"{os.cpu_count()} cores (a shared machine). Settings changed from Airflow's "
        f"defaults: {set_here} (plus the port, URLs, DAGs folder, DB path and a JWT secret); "
        "effective values: " + ", ".join(f"`{k}` {val}" for k, val in cfg.items()) + ".",
        "",
        "| contender | runs | p50 s | IQR s | min s | max s | "
        + " | ".join(label for _, label in STEPS)
        + " |",
        "|---|---:|---:|---:|---:|---:|" + "---:|" * len(STEPS),
    ]
    for c, x in st.items():
        t = x["total"]
        out.append(
            f"| {LABELS[c]} | {x['n']}{_failed(part, c)} | **{_f(t.median)}** | {_f(t.q1)}–{_f(t.q3)} | "
            f"{_f(t.lo)} | {_f(t.hi)} | "
            + " | ".join(_f(x["steps"][k].median) for k, _ in STEPS)
            + " |"
        )
    out += [
        "",
        "p50…max: decision → the downstream task's first line. The breakdown columns are "
        "medians of each run's increments, so they need not add up to the p50. \"Engine "
        'resumes the task": when the approval task went back to `scheduled` (HITL: inside '
        "the PATCH; signoff on a worker: when the triggerer wrote the trigger's event), or, "
        "for a task ended in the triggerer, its end. Airflow's triggerer hands fired events "
        "to its supervisor (which writes them to the database) once per pass of a loop that "
        "sleeps up to 1 s, so that step costs 0–1 s however fast the trigger wakes; the "
        "downstream task is then queued by the scheduler's next loop.",
        "",
    ]
    ended = [
        f"{LABELS[c]} {sum(bool(r.get('ended_in_triggerer')) for r in runs)} of {len(runs)}"
        for c in st
        for runs in [[r for r in part["runs"] if r["contender"] == c]]
    ]
    out += [
        "Runs whose approval task ended in the triggerer (no worker step): "
        + "; ".join(ended)
        + ".",
        "",
    ]
    sig, hitl = st.get("signoff"), st.get("hitl")
    if sig and hitl and sig["total"].median:
        h, sm = hitl["total"].median, sig["total"].median
        line = f"**HITL ÷ signoff (medians): {h / sm:.2f}×** ({_f(h)} s vs {_f(sm)} s)."
        if "signoff_worker" in st:
            w = st["signoff_worker"]["total"].median
            line += (
                f" signoff resuming on a worker: {_f(w)} s (HITL ÷ that {h / w:.2f}×); ending "
                f"the task in the triggerer moves the median by {sm - w:+.2f} s."
            )
        out += [line, ""]
    a = ANCHOR
    out += [
        f"Reference (`shared/reference/anchors.md`, Airflow 3.3.2 HITL under `airflow "
        f"standalone`, 10 runs): median {a['median']:.2f} s (IQR {a['q1']:.2f}–{a['q3']:.2f}, "
        f"min {a['lo']:.2f}, max {a['hi']:.2f}); breakdown {ANCHOR_BREAKDOWN}.",
        "",
    ]
    if st:
        idle = "; ".join(
            f"{LABELS[c]}: {_f(x['held'].median, 0)} request(s) held open at signoff, "
            f"{_f(x['req'].median)} completed requests/s, Airflow's processes "
            f"{_f(x['af_cpu'].median, 0)} % of one core"
            for c, x in st.items()
        )
        out += [
            f"While waiting (the 1–2 s window before each decision, medians): {idle}. A "
            "waiting signoff task costs one long-poll per triggerer (completed only by a "
            "decision or after 25 s, hence 0 requests/s in so short a window); HITL's "
            "`awaiting_input` task holds no trigger at all; Airflow's own CPU is its "
            "scheduler's and dag-processor's loops, whichever operator waits.",
            "",
        ]
        acks = "; ".join(f"{LABELS[c]} {_f(x['ack'].median * 1000, 0)} ms" for c, x in st.items())
        out += [f"The decision request's own round trip (medians): {acks}.", ""]
    if part.get("failures"):
        out += [
            f"**Failed runs** (the downstream task never started; not in the figures above): "
            f"{len(part['failures'])}:",
            "",
            *[
                f"- {LABELS[f['contender']]} #{f['index']}: `{f['reason']}`"
                for f in part["failures"]
            ],
            "",
        ]
    if any("state attribute is queued" in f["reason"] for f in part.get("failures", [])):
        wl = part.get("workload_s") or []
        slow = sum(d >= 4.5 for d in wl)
        out += [
            "A scheduler line saying the executor reported the task instance *finished with "
            "state success, but the task instance's state attribute is queued* is a race in "
            "Airflow itself: the completion event of the worker run that deferred the task "
            "arrived after the trigger had fired and the task had been queued again to resume, "
            "and the scheduler took it for a task changed externally and failed it. Worker runs "
            f"end late often enough here: {slow} of {len(wl)} LocalExecutor workloads took "
            "≥ 4.5 s (`Workload finished` in the scheduler log), while these tasks run well "
            "under 1.5 s. Only a task that resumes on a worker within seconds of deferring is "
            "exposed, as here, where the decision comes 1–2 s after the task waits (a person "
            "usually takes longer); a task ended in the triggerer is never queued again.",
            "",
        ]
    if part.get("errors"):
        out += ["Errors during the runs:", ""] + [f"- `{e}`" for e in part["errors"]] + [""]
    if st:
        try:
            _plot(st)
            out += [f"![Airflow: decision to downstream start]({PLOT})", ""]
        except Exception as exc:  # the table stands without the plot
            out += [f"(plot failed: {exc})", ""]
    out += [
        f"_Airflow part: {_f(part.get('wall_s'), 0)} s wall, of it startup "
        f"{_f(part.get('startup_s'), 0)} s (`airflow db migrate` "
        f"{_f(part.get('migrate_s'), 0)} s)._",
        "",
    ]
    return out


def _plot(st: dict[str, dict[str, Any]]) -> None:
    from bench.report import _plt

    plt = _plt()
    names = list(st)
    fig, (ax1, ax2) = plt.subplots(
        1, 2, figsize=(11, 4.6), sharey=True, gridspec_kw={"width_ratios": [1, 1.1]}
    )
    for y, c in enumerate(names):
        xs = st[c]["latencies"]
        ax1.scatter(
            xs, [y + random.uniform(-0.12, 0.12) for _ in xs], color=COLORS[c], alpha=0.75, s=22
        )
        t = st[c]["total"]
        ax1.plot([t.q1, t.q3], [y, y], color=COLORS[c], lw=7, alpha=0.35, solid_capstyle="butt")
        ax1.plot([t.median], [y], marker="|", color="black", ms=18, mew=2)
    ax1.axvspan(ANCHOR["q1"], ANCHOR["q3"], color="grey", alpha=0.12, label="anchors.md HITL IQR")
    ax1.axvline(ANCHOR["median"], color="grey", ls="--", lw=1, label="anchors.md HITL median")
    ax1.set_yticks(
        range(len(names)), [LABELS[c].replace(" RequestApprovalOperator", "\n") for c in names]
    )
    ax1.invert_yaxis()
    ax1.set_xlabel("decision → downstream task's first line (s)")
    ax1.set_xlim(left=0)
    ax1.grid(axis="x", alpha=0.3)
    ax1.set_title("each run (dots), IQR (bar), median (tick)", fontsize=9)
    ax1.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=8, ncol=1, frameon=False)
    shades = ["#1c7ed6", "#fab005", "#ae3ec9", "#15aabf", "#868e96"]
    for y, c in enumerate(names):
        left = 0.0
        for (k, label), color in zip(STEPS, shades, strict=True):
            w = st[c]["steps"][k].median
            if w is None or math.isnan(w):
                continue
            w = max(w, 0.0)
            ax2.barh(y, w, left=left, height=0.6, color=color, label=label if y == 0 else None)
            left += w
    ax2.set_xlabel("median of each step (s), stacked")
    ax2.grid(axis="x", alpha=0.3)
    ax2.set_title("where the time goes", fontsize=9)
    ax2.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=8, ncol=2, frameon=False)
    fig.tight_layout()
    fig.savefig(common.BENCH_DIR / PLOT, dpi=110)
    plt.close(fig)


def summary(part: dict[str, Any]) -> str | None:
    st = _stats(part)
    sig, hitl = st.get("signoff"), st.get("hitl")
    if not sig or not hitl:
        return None
    s, h = sig["total"], hitl["total"]
    ahead = s.median < h.median and s.median < ANCHOR["median"]
    worker = (
        f"; resuming on a worker (`end_from_trigger=False`) "
        f"{_f(st['signoff_worker']['total'].median)} s{_failed(part, 'signoff_worker')}"
        if "signoff_worker" in st
        else ""
    )
    failed = sum(f["contender"] in ("signoff", "hitl") for f in part.get("failures", []))
    if failed:
        worker += f"; failed runs: signoff{_failed(part, 'signoff') or ' none'}, HITL{_failed(part, 'hitl') or ' none'}"
    return (
        f"- **Airflow (real scheduler + triggerer)**: decision → downstream start p50 "
        f"{_f(s.median)} s (IQR {_f(s.q1)}–{_f(s.q3)}, n={s.n}) for signoff vs {_f(h.median)} s "
        f"(IQR {_f(h.q1)}–{_f(h.q3)}, n={h.n}) for Airflow's HITL ApprovalOperator "
        f"(HITL ÷ signoff {h.median / s.median:.2f}×; the anchor measured HITL at "
        f"{ANCHOR['median']:.2f} s){worker}; load average {_loads(part)}; target ahead of "
        f"both (HITL here and the anchor): {'met' if ahead else 'missed'}."
    )
