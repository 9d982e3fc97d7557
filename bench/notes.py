# ruff: noqa: RUF001, E501
"""Hand-written parts of REPORT.md: the reading of the profiles and what was not measured.

Written by the engineer who ran the suite, from the figures and profile of that run; the
tables under them are generated. Update this text when a rerun changes the picture.
"""

FINDINGS = """
### Reading of this run (hand-written from the tables and profiles below)

* **Waiting is where signoff is clearly ahead, and it holds at N = 1,000.** Idle, its one
  held `POST /api/approvals/wait` made no request in any 5 s idle window at either N (floor:
  one per 25 s round), the service spent ~1 % CPU, the waiting process ~0 %, and memory was
  ~2 KiB per waiting approval. Polling at N = 1,000 is not only ~1,000× the requests and
  ~16× the service CPU: the polling process itself saturated (60–75 % of a core in httpx)
  and got ~40 requests/s out instead of the 333 (3 s) or 200 (5 s) it needed, so it fell
  behind its own interval and **missed most wakes** within interval + 3 s. A 1,000-trigger
  triggerer polling like the hosted SDK or the HITL trigger would be late, not just costly.
* **Before/after the first fix (part 1 rerun at 01:17 UTC, same machine, load 4–5):**
  the wake path below was changed so that `POST /api/approvals/wait` reads statuses only
  and builds models just for the decided approvals (commit "Multi-wait: statuses only").
  Wake at N = 1,000 went from p50/p99 226/439 ms to 92/270 ms (tables above are the
  rerun); still above the 100 ms p99 target, so the client-side half of the fix (not
  re-sending N−1 ids after every wake) is the next step.
* **Wake latency missed the 100 ms p99 target at N = 1,000** before that fix (p99 ~440 ms; at N = 100 it
  is ~70 ms, met). The wake-path profile (part 6) shows why: ~60 % of the service's busy
  samples (73 % of its event-loop thread's) are in `wait_for_any` → `ApprovalStore.get_many` → `to_model`, i.e. building a
  pydantic `Approval` for **every one of the N ids** on every wake, plus JSON
  encode/decode of the `details` columns. Each decision makes the held wait return, the
  response carries all N−1 pending ids, and `DecisionWaiter` re-issues the wait with N−1
  ids, whose handler again loads all N−1 rows before parking: O(N) rows and models twice per
  decision, so decisions 50–150 ms apart queue behind each other.
* **The service's write path is far below target**: ~70 creates/s and ~60 decides/s on
  SQLite (target 1,000 creates/s: 7 %), about the same on PostgreSQL. SQLite's p50 is
  ~26 ms but its p99 is **3–4 s**, PostgreSQL's p99 ~0.4 s. The machine was shared (load
  average 4–5 on 2 cores: other suites were running), which can halve absolute figures but
  not explain 14× or a 100× p50→p99 tail. The create profile is dominated by time inside
  the sqlite3 C library called from aiosqlite's worker threads (`_connection_worker_thread`
  own time; py-spy attributes C time to the calling Python frame) and thread hand-offs.
* **Delivery (~48/s, target 500) is bounded by the same store**: per delivery the outbox
  worker runs three separate write transactions (`claim_due`'s per-row `UPDATE ... lease`,
  `record_attempt`, `record_health`), competing with the publishes for SQLite's one write
  lock, and `asyncio.gather` waits for a whole batch of 64 before claiming the next. Events
  were published at ~90/s but delivered at ~48/s, so publish→receive p50 grew to ~4 s.
  **Nothing was lost**: both `kill -9` runs delivered every acknowledged event, signatures all
  valid, no duplicates seen (at-least-once allows them; none occurred here).
* **Held long-polls** cost ~25–35 KiB each in the service (5,000 held: 139 → 261 MB); 10k
  was not run here; linear projection ~380–450 MB, under the 500 MB target but unmeasured.
* **Subscriptions as code** scale as designed: plan of 1,000 webhooks = 2 GETs (~0.2 s),
  apply = one POST per webhook (~11 s, bounded by the service's write rate), no-change plan
  = 2 GETs and nothing to apply.

**Proposed fixes, in order of payoff (for the lead; the benchmark work changed no src/):**

1. *Wake path* (`src/signoff/server/api/approvals.py` `wait_for_any`,
   `src/signoff/server/hub.py`, `store/approvals.py`): before parking, check only
   `SELECT id FROM approvals WHERE id IN (...) AND status <> 'PENDING'` plus a count of
   found ids for the 404 — no models; make `DecisionHub.watch` record *which* ids fired and,
   after the wake, load and return only those rows; make `pending` optional (or a count) so
   the answer is O(decided), not O(N). Client side (`src/signoff/waiting.py`), re-issue the
   wait with the ids still pending without re-sending unchanged ids where the server allows
   it (e.g. a wait handle). Expected: wake cost independent of N, p99 back under 100 ms.
2. *SQLite writers* (`src/signoff/server/store/db.py`): serialise writes in-process instead of
   in SQLite's sleeping busy handler — one write connection or an `asyncio.Lock` around
   write transactions, and `BEGIN IMMEDIATE` for them (SQLAlchemy `begin` event) — with
   `pool_size=8, max_overflow=8` today up to 16 connections race for one write lock. This
   should remove the multi-second p99 tail on SQLite.
3. *Fewer round trips per write*: in `ApprovalStore.create`, `insert(...).returning(...)`
   instead of INSERT + `_row` SELECT, and no second `_row` after commit (same in `decide`);
   in the outbox, claim a batch with one `UPDATE ... WHERE id IN (...) RETURNING`, record
   a batch's attempts and endpoint health in one transaction, and keep `_limit` (32) slots
   busy continuously instead of gathering fixed batches of 64.
4. *Group commit* for SQLite (one writer task committing queued creates/decides/publishes
   every few ms) is what it would take to approach 1,000 writes/s from one Python process.
5. Re-measure each change with `bash bench/run --parts 1,2,3,6` on an idle machine; the issue
   asks for before/after figures, which this report cannot give (no src/ changes here).
"""
