# ruff: noqa: RUF001, E501
"""Hand-written parts of REPORT.md: the reading of the profiles and what was not measured.

Written by the engineer who ran the suite, from the figures and profile of that run; the
tables under them are generated. Update this text when a rerun changes the picture.
"""

FINDINGS = """
### Where signoff stands, and what the profile says

* **Waiting is where signoff is clearly ahead.** Its idle cost does not grow with N (one
  held `POST /api/approvals/wait` for every waiter), where polling costs N/3 or N/5
  requests per second, and the service's CPU follows. At N = 1,000 polling every 3 s
  already asks for ~333 requests/s, more than this service answers on this shared machine
  (part 2), so polling contenders fall behind their own interval and *miss* wakes entirely
  (counted in the table): polling a slow service is not just costly, it is late.
* **Wake latency** for signoff is bounded by how fast the service answers one decision
  plus one re-issued multi-wait, so it inherits the service's slowness under load: see the
  p99 column against the 100 ms target. The polling contenders' latency is uniform over
  their interval, as expected (p50 ≈ interval/2).
* **The service is the bottleneck of everything else** (creates, decides, publishes,
  deliveries, subscriptions apply): one to two orders of magnitude below the 1,000
  creates/s target on SQLite. The machine was shared with other test suites (load
  average 4 on 2 cores), which roughly halves what any one process gets, but that does not
  explain a 10× gap: a bare `GET /healthz` answered ~210/s sequentially during this work.

**Profile (py-spy on `signoff serve`, SQLite, during a create load; table in part 2).**
Most busy samples are in `aiosqlite`'s worker thread (`Connection._execute`,
`_connection_worker_thread`) and in the thread hand-offs around it
(`Condition.notify`, the event loop's `_write_to_self`/`_read_from_self`): each
SQL statement is a round trip to aiosqlite's thread and back. Under the request,
`ApprovalStore.create` runs, in one transaction, an INSERT, a SELECT of the row just
written (`ApprovalStore._row`), `events.publish` (INSERT the `approval_requested` event,
SELECT matching subscriptions, INSERT deliveries), COMMIT, and then *another*
`_row` SELECT after the commit. The latency shape points at write contention: SQLite create
p50 is tens of ms but p99 is seconds, while PostgreSQL's p99 stays within a few × its p50.
The SQLite engine is `create_async_engine(url, pool_size=8, max_overflow=8)` with
`busy_timeout=10000`: up to 16 connections race for SQLite's single write lock, and the
losers sleep in SQLite's busy handler (a back-off sleep, not a queue) — a long tail.

**Proposed fixes (for the lead; src/ was not changed by the benchmark work):**

1. `src/signoff/server/store/db.py`: for SQLite, serialise writers in the process instead
   of in SQLite's busy handler: one write connection (or an `asyncio.Lock` held around
   every `engine.begin()` write transaction), and start write transactions with
   `BEGIN IMMEDIATE` (SQLAlchemy `connect` + `begin` event hooks) so a reader never has
   to upgrade to a writer mid-transaction. Expected: the multi-second p99 tail goes away
   and throughput rises (no sleeping losers).
2. `src/signoff/server/store/approvals.py` `create`: `insert(...).returning(approvals)`
   (SQLite ≥ 3.35, PostgreSQL) instead of INSERT + `_row` SELECT, and build the response
   from that row instead of the second `_row` after commit: 2 of ~6 round trips per
   create gone. The same pattern applies to `decide`.
3. Group commit for SQLite: a single writer task that takes queued creates/decides/publishes
   and commits them together every few ms; per-request cost becomes per-batch cost. This
   is what it takes to approach 1,000 writes/s from one Python process.
4. Re-measure with `bash bench/run --parts 2` on an otherwise idle machine before and after;
   the profile is printed in the report whenever SQLite creates/s is under the target.

What was *not* done: the issue asks to fix what the profile shows and record before/after;
the benchmark author was not allowed to change `src/`, so there is no "after" here.
"""

ENGINES = """
## 5. Real engines (Airflow, Prefect): not measured in this run

Running Airflow 3.3.2's scheduler + triggerer + API server (and Prefect's server) on this
shared 2-core machine, twice per repetition, did not fit the time given to this work, so
there are **no signoff figures for part 5** and no claim that signoff is ahead of either
engine. For reference only, the measured anchors of the *alternatives*
(`/work/shared/reference/anchors.md`, 2-core machine, loopback, SQLite, 10 runs):

| alternative | from decision to | median | spread |
|---|---|---:|---|
| Airflow 3.3.2 `ApprovalOperator` (HITL), `airflow standalone` | downstream task's first line | 1.70 s | IQR 1.48–1.98 s, min 1.38, max 2.36 |
| Prefect 3.8.8 `pause_flow_run` (default `poll_interval` 10 s) | flow's next line | 6.67 s | uniform over 0–10 s (5.95 s with `wait_for_input`) |
| hosted SDK `cheqpoint` 0.2.0 | — | polls every 3 s | N waiting calls make N/3 requests/s (part 1 measures this) |

The anchors' breakdown says where a signoff deferrable operator could win under Airflow:
the HITL path spends 0.80 s from the PATCH to the approval task ending (reschedule + a
worker running `execute_complete`) and 0.73 s waiting for the next scheduler loop. A trigger
that finishes the task in the triggerer (`end_from_trigger`) skips the worker step, but
still waits for the scheduler to queue the downstream task. That is a hypothesis to
measure, not a result. To do it: a DAG `approval >> downstream` per contender, both run by
one `airflow standalone`, approvals decided through each one's API (signoff's
`POST /api/approvals/{id}/decision`; Airflow's `PATCH .../hitlDetails`), latency = the
downstream task's first log line minus the decision time, contenders alternating, 10 runs.
"""

README_SECTION = """
## Benchmarks

```bash
bash bench/run            # ~15 min on 2 cores: writes bench/REPORT.md, bench/*.png
bash bench/run --quick    # smaller sizes, fewer repetitions (~5 min)
bash bench/run --parts 1  # one part: 1 waiting, 2 service, 3 delivery, 4 subscriptions
```

It uses `.venvs/core` (adds matplotlib and py-spy), loads only 127.0.0.1, starts its own
`signoff serve` processes and a scratch PostgreSQL database on 127.0.0.1:5432 (dropped
afterwards), and is not part of `scripts/test`. Results: `bench/REPORT.md`.
"""
