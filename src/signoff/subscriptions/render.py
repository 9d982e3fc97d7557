"""How a plan and an apply read in a terminal (secrets are already masked in the plan)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape

from signoff.subscriptions.plan import ApplyResult, Plan

SIGNS = {"create": "[green]+[/]", "update": "[yellow]~[/]", "delete": "[red]-[/]"}


def _value(value: Any) -> str:
    return escape(json.dumps(value) if not isinstance(value, str) else value)


def show_plan(console: Console, plan: Plan, *, source: str, target: str) -> None:
    console.print(f"[bold]{escape(source)}[/] against {escape(target)}")
    for change in plan.pending:
        ident = f" ({change.id})" if change.id else ""
        owner = "" if change.managed else " [dim](unmanaged)[/]"
        console.print(
            f"  {SIGNS[change.action]} {change.kind} [bold]{escape(change.name)}[/]{ident}"
            f"{owner}: {change.action}"
        )
        for field in change.changes:
            if change.action == "create":
                console.print(f"      {escape(field.field)}: {_value(field.after)}")
            else:
                console.print(
                    f"      {escape(field.field)}: {_value(field.before)} -> {_value(field.after)}"
                )
    for item in plan.unmanaged:
        console.print(
            f"  [dim]? {item.kind} {escape(item.label)} ({item.id}): unmanaged, kept "
            "(--prune --prune-unmanaged deletes it)[/]"
        )
    for item in plan.orphaned:
        console.print(
            f"  [yellow]! {item.kind} {escape(item.label)} ({item.id}): no longer in the file, "
            "kept (--prune deletes it)[/]"
        )
    if plan.has_changes:
        console.print(f"Plan: {plan.summary()}.")
    else:
        console.print("No changes: the account matches the spec.")


def show_apply(console: Console, result: ApplyResult) -> None:
    for step in result.steps:
        change = step.change
        mark = {"applied": "[green]done[/]", "failed": "[red]FAILED[/]"}.get(
            step.status, "[dim]not applied[/]"
        )
        ident = step.id or change.id or ""
        error = f": {escape(step.error)}" if step.error else ""
        console.print(
            f"  {mark} {change.action} {change.kind} {escape(change.name)} {ident}{error}"
        )
    console.print(("Apply complete: " if result.ok else "Apply stopped: ") + result.summary())
