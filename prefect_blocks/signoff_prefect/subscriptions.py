"""A task that applies a subscription spec (webhooks as code) and returns the plan."""

from __future__ import annotations

from typing import Any, Literal

from prefect import get_run_logger, task
from signoff.subscriptions import ApplyFailed, load
from signoff_prefect.credentials import SignoffWebhooksCredentials


@task(name="apply-subscriptions")
async def apply_subscriptions(
    credentials: SignoffWebhooksCredentials,
    spec_path: str,
    mode: Literal["plan", "apply"] = "apply",
    prune: bool = False,
    prune_unmanaged: bool = False,
) -> dict[str, Any]:
    """Plan (and in ``apply`` mode carry out) the spec; returns the plan with secrets
    masked. Raises ``SpecError`` for a bad file and ``ApplyFailed`` when a step fails."""
    spec = load(spec_path)
    async with credentials.get_async_subscriptions_client() as client:
        plan = await client.plan(spec, prune, prune_unmanaged)
        logger = get_run_logger()
        logger.info("%s: %s", spec_path, plan.summary())
        result: dict[str, Any] = {
            "summary": plan.summary(),
            "counts": plan.counts(),
            **plan.model_dump(mode="json"),
        }
        if mode == "apply" and plan.has_changes:
            outcome = await client.apply(plan)
            result["apply"] = outcome.model_dump(mode="json")
            if not outcome.ok:
                raise ApplyFailed(outcome)
            logger.info("%s", outcome.summary())
    return result
