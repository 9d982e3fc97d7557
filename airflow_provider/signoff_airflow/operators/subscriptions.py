"""Webhooks as code in a DAG: plan (and apply) a subscription spec, Terraform-style.

The engine is the core's :mod:`signoff.subscriptions` (the same the ``signoff
subscriptions`` CLI and the Prefect task use); this operator only loads the file, runs
the plan, puts a summary where Airflow users look (the log and XCom) and fails clearly.

Secrets. The spec refers to secrets as ``${env:NAME}``; their values are resolved on the
worker when the file is loaded, registered with Airflow's secrets masker at once (so a
log line that would contain one shows ``***``), and every plan and report the core
produces shows them as ``(secret)``: none reaches a log or XCom.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

from signoff.subscriptions import ApplyResult, Plan, SpecError, load
from signoff_airflow._management import api_errors, hide
from signoff_airflow.hooks.webhooks import SignoffWebhooksHook

if TYPE_CHECKING:
    from airflow.sdk import Context

Mode = Literal["plan", "apply"]
MODES = ("plan", "apply")


class SubscriptionsChangesPending(AirflowFailException):
    """``fail_on_changes``: the account differs from the spec (drift, or unapplied edits)."""


class SubscriptionsApplyFailed(AirflowException):
    """A step of the apply failed; what was applied stays applied, and a retry converges."""


def plan_summary(plan: Plan, *, source: str, mode: str) -> dict[str, Any]:
    """The plan as XCom: counts and every change, secrets masked by the core."""
    data = plan.model_dump(mode="json")
    return {
        "spec": source,
        "mode": mode,
        "summary": plan.summary(),
        "counts": plan.counts(),
        "has_changes": plan.has_changes,
        "changes": [c for c in data["changes"] if c["action"] != "noop"],
        "unchanged": [c["name"] for c in data["changes"] if c["action"] == "noop"],
        "unmanaged": data["unmanaged"],
        "orphaned": data["orphaned"],
    }


def step_report(result: ApplyResult) -> list[dict[str, Any]]:
    return [
        {
            "action": step.change.action,
            "kind": step.change.kind,
            "name": step.change.name,
            "id": step.id or step.change.id,
            "status": step.status,
            "error": step.error,
        }
        for step in result.steps
    ]


class ApplySubscriptionsOperator(BaseOperator):
    """Compare a subscription spec with the account, and in ``apply`` mode make them match.

    Pushes ``plan`` to XCom before applying: ``{"spec", "mode", "summary", "counts"
    ({"create", "update", "delete", "noop"}), "has_changes", "changes" (each with
    ``action``, ``kind``, ``name``, ``id`` and field-level ``changes``), "unchanged",
    "unmanaged", "orphaned"}``. Returns the same, plus ``steps`` (each step's
    ``status`` and ``error``) in ``apply`` mode.

    :param spec_path: the spec file, YAML or JSON (templated). A relative path is
        relative to the worker's working directory; prefer an absolute one, e.g. built
        from ``{{ dag.folder }}``.
    :param mode: ``plan`` (read only) or ``apply`` (templated).
    :param prune: delete what the spec made and no longer declares.
    :param prune_unmanaged: with ``prune``, also delete webhooks and workflows the spec
        never made (everything not declared goes).
    :param fail_on_changes: ``plan`` mode: fail (without retrying) when there is anything
        to change, e.g. a CI check that the account has not drifted from the file.
    :param signoff_webhooks_conn_id: connection of type ``signoff_webhooks``.
    """

    template_fields: Sequence[str] = ("spec_path", "mode")
    ui_color = "#c7d2fe"

    def __init__(
        self,
        *,
        spec_path: str,
        mode: Mode | str = "plan",
        prune: bool = False,
        prune_unmanaged: bool = False,
        fail_on_changes: bool = False,
        signoff_webhooks_conn_id: str = SignoffWebhooksHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if "{{" not in mode:
            _check_mode(mode)
        if fail_on_changes and mode == "apply":
            raise ValueError("fail_on_changes is for mode='plan' (a drift check)")
        if prune_unmanaged and not prune:
            raise ValueError("prune_unmanaged needs prune=True")
        self.spec_path = spec_path
        self.mode = mode
        self.prune = prune
        self.prune_unmanaged = prune_unmanaged
        self.fail_on_changes = fail_on_changes
        self.signoff_webhooks_conn_id = signoff_webhooks_conn_id

    @cached_property
    def hook(self) -> SignoffWebhooksHook:
        return SignoffWebhooksHook(self.signoff_webhooks_conn_id)

    def execute(self, context: Context) -> dict[str, Any]:
        mode = _check_mode(self.mode)
        try:
            spec = load(self.spec_path)
        except SpecError as exc:
            raise AirflowFailException(f"invalid subscription spec: {exc}") from None
        hide(spec.secrets)
        target = self.hook.settings.environment
        with self.hook.get_subscriptions_client() as client:
            with api_errors(f"reading the subscriptions of {target}"):
                plan = client.plan(spec, prune=self.prune, prune_unmanaged=self.prune_unmanaged)
            summary = plan_summary(plan, source=spec.source, mode=mode)
            self._log_plan(summary, target)
            context["ti"].xcom_push(key="plan", value=summary)
            if mode == "plan":
                if self.fail_on_changes and plan.has_changes:
                    raise SubscriptionsChangesPending(
                        f"{target} differs from {spec.source}: {plan.summary()}"
                    )
                return summary
            if not plan.has_changes:
                self.log.info("Nothing to apply")
                return {**summary, "steps": []}
            with api_errors(f"applying {spec.source} to {target}"):
                result = client.apply(plan)
        steps = step_report(result)
        for step in steps:
            self.log.info(
                "%s %s %s: %s%s",
                step["action"],
                step["kind"],
                step["name"],
                step["status"],
                f" ({step['error']})" if step["error"] else "",
            )
        if not result.ok:
            report = "\n".join(
                f"  {s['status']}: {s['action']} {s['kind']} {s['name']}"
                + (f": {s['error']}" if s["error"] else "")
                for s in steps
            )
            raise SubscriptionsApplyFailed(
                f"applying {spec.source} to {target}: {result.summary()}\n{report}\n"
                "Re-running converges: applied steps show as unchanged in the next plan."
            )
        self.log.info("Applied: %s", result.summary())
        return {**summary, "steps": steps}

    def _log_plan(self, summary: dict[str, Any], target: str) -> None:
        self.log.info("Plan for %s against %s: %s", summary["spec"], target, summary["summary"])
        for change in summary["changes"]:
            self.log.info("  %s %s %s", change["action"], change["kind"], change["name"])
            for field in change["changes"]:
                self.log.info("      %s: %s -> %s", field["field"], field["before"], field["after"])
        for item in summary["unmanaged"]:
            self.log.info("  unmanaged %s %s (%s)", item["kind"], item["id"], item["label"])
        for item in summary["orphaned"]:
            self.log.info(
                "  no longer in the spec, kept (prune to delete): %s %s",
                item["kind"],
                item["label"],
            )


def _check_mode(mode: str) -> Mode:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    return mode  # type: ignore[return-value]
