"""Templates and the small formatting helpers they use."""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup, escape

from signoff._version import __version__
from signoff.models import Approval
from signoff.server.domain.eligibility import describe, open_step

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
STATIC_PREFIX = "/static"

SECURITY_HEADERS = {
    # Everything comes from this service: no inline script, no CDN, no framing.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
        "object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _span(seconds: float) -> str:
    seconds = abs(seconds)
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 48 * 3600:
        hours, rest = divmod(int(seconds), 3600)
        minutes = rest // 60
        return f"{hours} h {minutes} min" if hours < 10 and minutes else f"{hours} h"
    return f"{int(seconds // 86400)} days"


def ago(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return ""
    return _span(((now or utcnow()) - value).total_seconds()) + " ago"


def time_left(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "no expiry"
    seconds = (value - (now or utcnow())).total_seconds()
    return "expired" if seconds <= 0 else _span(seconds) + " left"


def sla_left(value: datetime | None, now: datetime | None = None) -> str:
    """A policy SLA: "due in 12 min" before its time, "overdue 12 min" after."""
    if value is None:
        return ""
    seconds = (value - (now or utcnow())).total_seconds()
    return f"due in {_span(seconds)}" if seconds > 0 else f"overdue {_span(seconds)}"


def overdue(approval: Approval, now: datetime | None = None) -> bool:
    """Still pending past its SLA (breached by the sweep, or about to be)."""
    if approval.is_decided or approval.sla_due_at is None:
        return False
    return approval.sla_breached_at is not None or approval.sla_due_at <= (now or utcnow())


def policy_version(approval: Approval) -> str:
    """ " (version 3)" after a policy's name, when the approval records it."""
    return f" (version {approval.policy_version})" if approval.policy_version is not None else ""


def routed_by_policy(approval: Approval, note: Any = None) -> bool:
    """A policy routed it (who decides), rather than deciding it itself. ``note``: the
    page's :class:`~signoff.server.store.pages.PolicyNote`, which knows whether the rule
    decides; without one an auto-decided approval counts as decided by its policy (an
    ``on_expiry`` one was routed first, which the note tells)."""
    if approval.policy_rule is None:
        return False
    decides = getattr(note, "decides", None)
    return not (approval.auto_decided if decides is None else decides)


def urgent(value: datetime | None, now: datetime | None = None) -> bool:
    """Under an hour left: the inbox marks it."""
    return value is not None and (value - (now or utcnow())).total_seconds() < 3600


def iso(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).isoformat() if value else ""


def when(value: datetime | None) -> str:
    """Absolute UTC; the browser rewrites it in the reader's own time zone."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if value else ""


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


_TOKEN = re.compile(
    r'(?P<string>"(?:\\.|[^"\\])*")(?P<colon>\s*:)?'
    r"|(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)"
    r"|(?P<literal>\btrue\b|\bfalse\b|\bnull\b)"
)


def highlight(value: Any) -> Markup:
    """Formatted JSON with keys, strings, numbers and literals marked for colour."""
    text = pretty(value)
    out: list[str] = []
    last = 0
    for match in _TOKEN.finditer(text):
        out.append(str(escape(text[last : match.start()])))
        if match.group("string") is not None:
            kind = "key" if match.group("colon") else "str"
            out.append(f'<span class="j-{kind}">{escape(match.group("string"))}</span>')
            out.append(str(escape(match.group("colon") or "")))
        elif match.group("number") is not None:
            out.append(f'<span class="j-num">{escape(match.group("number"))}</span>')
        else:
            out.append(f'<span class="j-lit">{escape(match.group("literal"))}</span>')
        last = match.end()
    out.append(str(escape(text[last:])))
    return Markup("".join(out))  # noqa: S704 - every piece above is escaped


def safe_link(url: str | None) -> str | None:
    """Only http(s) links back to a pipeline: never ``javascript:`` or ``data:``."""
    if url and url.lower().startswith(("http://", "https://")):
        return url
    return None


def plural(count: int, one: str, many: str | None = None) -> str:
    return f"{count} {one if count == 1 else many or one + 's'}"


def who_decides(approval: Approval) -> str:
    """One line for the inbox: who the open step is for and how far it has come (nothing
    for the plain case, one approval from any reviewer)."""
    if approval.is_decided or not approval.steps:
        return ""
    step = open_step(approval)
    if len(approval.steps) == 1 and step.is_open_to_all and step.required_approvals == 1:
        return ""
    where = f"Step {step.number} of {len(approval.steps)}: " if len(approval.steps) > 1 else ""
    escalated = (
        f"; escalated to {describe([], approval.escalated_groups)}"
        if approval.escalated_groups
        else ""
    )
    return (
        f"{where}{describe(step.reviewers, step.groups)}, "
        f"{len(step.approvals)} of {plural(step.required_approvals, 'approval')}{escalated}"
    )


def static(path: str) -> str:
    return f"{STATIC_PREFIX}/{path}?v={__version__}"


templates = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
templates.filters.update(
    ago=ago,
    time_left=time_left,
    urgent=urgent,
    sla_left=sla_left,
    overdue=overdue,
    policy_version=policy_version,
    iso=iso,
    when=when,
    pretty=pretty,
    highlight=highlight,
    safe_link=safe_link,
    who_decides=who_decides,
)
templates.globals.update(
    static=static,
    version=__version__,
    describe=describe,
    plural=plural,
    routed_by_policy=routed_by_policy,
)


def render(name: str, **context: Any) -> str:
    return templates.get_template(name).render(**context)
