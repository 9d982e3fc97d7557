"""A task that plans (and applies) an approval policy file on ``signoff serve``.

The file is read and checked by the core (:func:`signoff.policies.spec.load_located`,
as ``signoff policies`` and the Airflow operator do); the service compiles its
conditions. Needs :class:`~signoff_prefect.credentials.SignoffCredentials` with an
``admin_key``: the policies API refuses a pipeline's API key.
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import get_run_logger, task
from signoff.client import InvalidRequest
from signoff.models.policies import PolicyPlan
from signoff.policies.spec import LoadedFile, SpecError, load_located
from signoff_prefect.credentials import SignoffCredentials

OPS = ("add", "change", "remove", "move")
VERBS = {"add": "to add", "change": "to change", "remove": "to remove", "move": "to move"}


def plan_result(plan: PolicyPlan, *, source: str, mode: str) -> dict[str, Any]:
    """The plan as the task returns it (the keys of the Airflow operator's XCom)."""
    counts = {op: sum(1 for change in plan.changes if change.op == op) for op in OPS}
    summary = ", ".join(f"{n} {VERBS[op]}" for op, n in counts.items() if n)
    return {
        "policy_file": source,
        "mode": mode,
        "version": plan.version,
        "changed": plan.changed,
        "summary": (summary or "changes") if plan.changed else "no changes",
        "counts": counts,
        "changes": [change.model_dump(mode="json") for change in plan.changes],
    }


def refused(loaded: LoadedFile, exc: InvalidRequest) -> SpecError:
    """The service's problems with the file, each on the file's line."""
    lines = "\n".join(loaded.problem(p.field, p.message) for p in exc.problems)
    return SpecError(f"the service refused {loaded.source} (HTTP {exc.status_code}):\n{lines}")


@task(name="apply-policies")
async def apply_policies(
    credentials: SignoffCredentials,
    policy_path: str,
    mode: Literal["plan", "apply"] = "apply",
) -> dict[str, Any]:
    """Plan the policy file against the active policy and, in ``apply`` mode, make it the
    active policy (a new version only when it changes anything).

    Returns ``{"policy_file", "mode", "version", "changed", "summary", "counts" ({"add",
    "change", "remove", "move"}), "changes" (each ``op``, ``kind``, ``name``, ``before``,
    ``after``)}``, plus ``applied`` in ``apply`` mode (``version`` is then the active
    version after applying). Raises ``SpecError`` for a file that cannot be used, found
    here or by the service (a condition that does not compile, an unknown group), each
    problem as ``file:line: field: message``; ``ValueError`` when the credentials have no
    ``admin_key``; the core's ``Unauthorized`` when the service refuses the key.
    """
    if mode not in ("plan", "apply"):
        raise ValueError(f"mode must be plan or apply, not {mode!r}")
    loaded = load_located(policy_path)
    logger = get_run_logger()
    async with credentials.get_async_policies_client() as client:
        try:
            plan = await client.plan(loaded.file)
            result = plan_result(plan, source=loaded.source, mode=mode)
            logger.info("%s (active version %s): %s", policy_path, plan.version, result["summary"])
            if mode == "plan":
                return result
            if not plan.changed:
                return {**result, "applied": False}
            applied = await client.apply(loaded.file)
        except InvalidRequest as exc:
            if not exc.problems:
                raise
            raise refused(loaded, exc) from None
    logger.info("%s: version %s is active", policy_path, applied.version)
    return {**plan_result(applied, source=loaded.source, mode=mode), "applied": applied.changed}
