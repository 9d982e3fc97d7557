"""Approval policies as code in a DAG: plan (and apply) a policy file on ``signoff serve``.

The file is read and checked by the core (:func:`signoff.policies.spec.load_located`,
the same the ``signoff policies`` CLI and the Prefect task use) and sent to the
service's policies API, which compiles its conditions and keeps every applied version.
This operator only puts the plan where Airflow users look (the log and XCom) and fails
clearly: a problem with the file, whether found here (its shape) or by the service (a
condition that does not compile, an unknown group), fails the task without retrying,
each problem as ``file:line: field: message``.

The admin key. The policies API takes only an admin key of ``signoff serve``
(``--admin-key NAME=KEY`` or ``signoff keys create --kind admin``); a pipeline's API key
is refused. The operator reads it from the ``admin_key`` extra of a ``signoff``
connection (``signoff_default`` unless ``signoff_conn_id`` names another: a connection
of its own, with only ``host`` and ``admin_key``, keeps the key away from the DAGs that
only ask for approvals). The key is registered with Airflow's secrets masker.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from signoff.client import InvalidRequest, PoliciesClient, Unauthorized
from signoff.models.policies import PolicyPlan
from signoff.policies.spec import LoadedFile, SpecError, load_located
from signoff_airflow._management import SignoffRequestRefused, api_errors, hide
from signoff_airflow.hooks.approvals import SignoffHook

if TYPE_CHECKING:
    from airflow.sdk import Context

Mode = Literal["plan", "apply"]
MODES = ("plan", "apply")
OPS = ("add", "change", "remove", "move")
VERBS = {"add": "to add", "change": "to change", "remove": "to remove", "move": "to move"}
DONE = {"add": "added", "change": "changed", "remove": "removed", "move": "moved"}
ADMIN_KEY_HINT = (
    "the policies API takes only an admin key of signoff serve (--admin-key NAME=KEY, or "
    "signoff keys create --kind admin), in the connection's admin_key extra"
)


class PolicyFileInvalid(AirflowFailException):
    """The policy file is wrong (its shape, or what the service found: a condition that
    does not compile, an unknown group); each problem as ``file:line: field: message``.
    Retrying the same file cannot help."""


class PoliciesChangesPending(AirflowFailException):
    """``fail_on_changes``: the active policy differs from the file."""


def counts(plan: PolicyPlan) -> dict[str, int]:
    return {op: sum(1 for change in plan.changes if change.op == op) for op in OPS}


def summary_of(plan: PolicyPlan, *, applied: bool = False) -> str:
    """``1 to add, 2 to change`` (``added``, ... once applied), or ``no changes``."""
    if not plan.changed:
        return "no changes"
    words = DONE if applied else VERBS
    return ", ".join(f"{n} {words[op]}" for op, n in counts(plan).items() if n) or "changes"


def plan_summary(plan: PolicyPlan, *, source: str, mode: str) -> dict[str, Any]:
    """The plan as XCom: the active version, whether anything changes, and every change
    (``op``: add, change, remove or move; ``kind``: policy or group; ``name``; the
    document's ``before`` and ``after``)."""
    return {
        "policy_file": source,
        "mode": mode,
        "version": plan.version,
        "changed": plan.changed,
        "summary": summary_of(plan),
        "counts": counts(plan),
        "changes": [change.model_dump(mode="json") for change in plan.changes],
    }


@contextmanager
def policy_errors(loaded: LoadedFile, what: str) -> Iterator[None]:
    """The service's errors as Airflow's: its problems with the file placed on the file's
    lines (:class:`PolicyFileInvalid`), a refused key with what key is needed, the rest
    as every management operator's (4xx fails, 5xx and unreachable are retried)."""
    with api_errors(what):
        try:
            yield
        except InvalidRequest as exc:
            if not exc.problems:
                raise
            lines = "\n".join(loaded.problem(p.field, p.message) for p in exc.problems)
            raise PolicyFileInvalid(
                f"the service refused {loaded.source} (HTTP {exc.status_code}):\n{lines}"
            ) from None
        except Unauthorized as exc:
            raise SignoffRequestRefused(
                f"{what} failed: HTTP {exc.status_code}: {exc.error}; {ADMIN_KEY_HINT}"
            ) from exc


class ApplyPoliciesOperator(BaseOperator):
    """Compare a policy file with the active policy of ``signoff serve``, and in ``apply``
    mode make the file the active policy (a new version when it changes anything).

    Pushes ``plan`` to XCom before applying: ``{"policy_file", "mode", "version" (the
    active version, ``None`` before the first apply), "changed", "summary", "counts"
    ({"add", "change", "remove", "move"}), "changes" (each with ``op``, ``kind``
    (``policy`` or ``group``), ``name``, ``before`` and ``after``)}``. Returns the same;
    in ``apply`` mode ``version`` is then the active version after applying and
    ``applied`` says whether a new version was made.

    :param policy_path: the policy file, YAML or JSON (templated). A relative path is
        relative to the worker's working directory; prefer an absolute one, e.g. built
        from ``{{ dag.folder }}``.
    :param mode: ``plan`` (read only) or ``apply`` (templated).
    :param fail_on_changes: ``plan`` mode: fail (without retrying) when the active policy
        differs from the file, e.g. a check that nobody applied another file.
    :param signoff_conn_id: connection of type ``signoff`` whose ``admin_key`` extra is
        an admin key of the service.
    """

    template_fields: Sequence[str] = ("policy_path", "mode")
    ui_color = "#fde68a"

    def __init__(
        self,
        *,
        policy_path: str,
        mode: Mode | str = "plan",
        fail_on_changes: bool = False,
        signoff_conn_id: str = SignoffHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if "{{" not in mode:
            _check_mode(mode)
        if fail_on_changes and mode == "apply":
            raise ValueError("fail_on_changes is for mode='plan' (a drift check)")
        self.policy_path = policy_path
        self.mode = mode
        self.fail_on_changes = fail_on_changes
        self.signoff_conn_id = signoff_conn_id

    @cached_property
    def hook(self) -> SignoffHook:
        return SignoffHook(self.signoff_conn_id)

    def _client(self) -> PoliciesClient:
        try:
            settings = self.hook.settings
            hide([settings.admin_key or ""])
            return settings.policies()
        except ValueError as exc:
            raise AirflowFailException(str(exc)) from None

    def execute(self, context: Context) -> dict[str, Any]:
        mode = _check_mode(self.mode)
        try:
            loaded = load_located(self.policy_path)
        except SpecError as exc:
            raise PolicyFileInvalid(f"invalid policy file: {exc}") from None
        with self._client() as client:
            target = client.calls.base_url
            with policy_errors(loaded, f"planning {loaded.source} against {target}"):
                plan = client.plan(loaded.file)
            summary = plan_summary(plan, source=loaded.source, mode=mode)
            self._log_plan(summary, target)
            context["ti"].xcom_push(key="plan", value=summary)
            if mode == "plan":
                if self.fail_on_changes and plan.changed:
                    raise PoliciesChangesPending(
                        f"the active policy of {target} differs from {loaded.source}: "
                        f"{summary['summary']}"
                    )
                return summary
            if not plan.changed:
                self.log.info("Nothing to apply: version %s is active", plan.version)
                return {**summary, "applied": False}
            with policy_errors(loaded, f"applying {loaded.source} to {target}"):
                applied = client.apply(loaded.file)
        self.log.info(
            "Applied: version %s is active (%s)",
            applied.version,
            summary_of(applied, applied=True),
        )
        return {
            **plan_summary(applied, source=loaded.source, mode=mode),
            "applied": applied.changed,
        }

    def _log_plan(self, summary: dict[str, Any], target: str) -> None:
        active = f"version {summary['version']}" if summary["version"] else "nothing applied yet"
        self.log.info(
            "Plan for %s against %s (%s): %s",
            summary["policy_file"],
            target,
            active,
            summary["summary"],
        )
        for change in summary["changes"]:
            self.log.info("  %s %s %s", change["op"], change["kind"], change["name"])
            before, after = change["before"], change["after"]
            if change["op"] == "change" and isinstance(before, dict) and isinstance(after, dict):
                for key in [*before, *(k for k in after if k not in before)]:
                    if before.get(key) != after.get(key):
                        self.log.info(
                            "      %s: %s -> %s",
                            key,
                            before.get(key, "(unset)"),
                            after.get(key, "(unset)"),
                        )


def _check_mode(mode: str) -> Mode:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    return mode  # type: ignore[return-value]
