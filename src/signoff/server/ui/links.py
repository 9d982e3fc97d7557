"""The pages of a signed decision link (``/l/{token}``, from an email or a chat message).

Opening a link (GET) never decides: mail scanners and chat previews open links. It shows
what would be decided and asks to confirm, without signing in: the link itself says who
decides (its reviewer), and the POST decides as them through ``domain.links.decide``,
with every rule of who may decide. The token is a secret: these pages are never sent as
a ``Referer`` (``Referrer-Policy: no-referrer``) and the token is never logged.
"""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from signoff.models import Approval, DecisionRequest
from signoff.server.domain import approvals, eligibility, links, reviewers
from signoff.server.domain.errors import AlreadyDecided, DomainError, LinkRefused, NotFound
from signoff.server.services import Services, get_services
from signoff.server.ui.render import SECURITY_HEADERS, plural, render
from signoff.server.ui.router import changes_of, form_lists, may_decide

router = APIRouter(include_in_schema=False)
ServicesDep = Annotated[Services, Depends(get_services)]

LINK_HEADERS = {**SECURITY_HEADERS, "Referrer-Policy": "no-referrer"}
"""The page's URL is the link itself: never let it leak to another site as a Referer."""

DECISIONS = ("approve", "reject")
REVIEW_TEXT = "Open the review page (sign in)"


def html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=LINK_HEADERS)


def refused_page(
    exc: DomainError, approval_id: str | None, status: int | None = None
) -> HTMLResponse:
    """The link cannot decide: changed (404), used, expired or its approval decided
    (410). Says which, and where the approval can still be seen."""
    if exc.code == "link_invalid":
        title = "This link is not valid"
    elif exc.code == "link_expired":
        title = "This link has expired"
    elif exc.code == "link_used":
        title = "This link was already used"
    elif exc.code == "already_decided":
        title = "This approval is already decided"
    elif isinstance(exc, NotFound):
        title = "No such approval"
    else:
        title = "This link cannot decide"
    if isinstance(exc, NotFound):  # the approval is gone: no review page to point at
        approval_id = None
    body = render(
        "link.html",
        view="refused",
        title=title,
        message=exc.message,
        code=exc.code,
        approval_id=approval_id,
        review_text=REVIEW_TEXT,
    )
    return html(body, status or exc.status)


def approval_of(services: Services, token: str) -> str | None:
    """The approval a link names, when it was signed here (to point at its review page)."""
    try:
        return links.read(services, token).approval_id
    except DomainError:
        return None


async def confirm_page(
    services: Services,
    token: str,
    link: links.Link,
    approval: Approval,
    *,
    status: int = 200,
    preselect: str | None = None,
    error: str | None = None,
    note: str = "",
    chosen: list[str] | None = None,
    reason: str | None = None,
) -> HTMLResponse:
    """What the link would decide, and the form that decides it."""
    me = await reviewers.lookup(services, link.reviewer)
    refusal, no_approve = may_decide(approval, me)
    if refusal is not None and status == 200:
        status = 403
    body = render(
        "link.html",
        view="confirm",
        title=approval.summary,
        token=token,
        link=link,
        approval=approval,
        changes=changes_of(approval),
        refusal=refusal,
        no_approve=no_approve,
        preselect=preselect if preselect in DECISIONS else None,
        error=error,
        note=note,
        chosen=chosen,
        reason=reason,
        review_text=REVIEW_TEXT,
    )
    return html(body, status)


@router.get("/l/{token}")
async def open_link(token: str, request: Request, services: ServicesDep) -> Response:
    """Shows what would be decided; decides nothing. ``?decision=approve|reject`` (the
    email's two buttons) preselects that choice."""
    try:
        link, approval = await links.check(services, token)
    except DomainError as exc:
        return refused_page(exc, approval_of(services, token))
    preselect = request.query_params.get("decision")
    return await confirm_page(services, token, link, approval, preselect=preselect)


@router.post("/l/{token}")
async def decide_by_link(token: str, request: Request, services: ServicesDep) -> Response:
    """Decides as the link's reviewer, once; then shows the result (303 to a GET page).

    Cross-site forms: these pages have no session, so there is no cookie for
    ``SameSite`` to withhold and no session CSRF token; the token in the path is the
    credential. The form must echo that token in its ``link`` field as well, so a POST
    that only hits the URL (a scanner or prefetcher replaying it, a form on another site
    that learnt the path, a bare ``curl -X POST``) decides nothing: whoever can fill the
    field holds the secret link, and could decide with it anyway.
    """
    lists = await form_lists(request)
    fields = {key: values[0] for key, values in lists.items()}
    if not hmac.compare_digest(fields.get("link", "").encode(), token.encode()):
        return html(
            render(
                "link.html",
                view="refused",
                title="Form refused",
                message=(
                    "Nothing was decided: this form did not come from the link's own page. "
                    "Open the link from your message again and confirm there."
                ),
                code="form_refused",
                approval_id=approval_of(services, token),
                review_text=REVIEW_TEXT,
            ),
            403,
        )
    choice = fields.get("decision", "")
    note = fields.get("note", "").strip()
    chosen = [value for value in lists.get("chosen_options", []) if value]
    reason = fields.get("reason_code", "").strip() or None

    async def again(error: str, status: int) -> Response:
        """The confirmation again, with what went wrong; a link that can no longer decide
        (used, expired, decided meanwhile) gets its refusal page instead."""
        try:
            link, approval = await links.check(services, token)
        except DomainError as exc:
            return refused_page(exc, approval_of(services, token))
        return await confirm_page(
            services, token, link, approval, status=status, error=error, note=note,
            chosen=chosen, reason=reason, preselect=choice,
        )  # fmt: skip

    if choice not in DECISIONS:
        return await again("Choose Approve or Reject.", 400)
    try:
        body = DecisionRequest(
            decision="reject" if choice == "reject" else "approve",
            note=note or None,
            chosen_options=(chosen or None) if choice == "approve" else None,
            reason_code=reason,
        )
    except ValidationError as exc:
        message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        return await again(f"The decision is not valid: {message}.", 422)
    try:
        await links.decide(services, token, body)
    except AlreadyDecided as exc:
        decided = exc.approval
        by = f" by {decided.decided_by}" if decided.decided_by else ""
        status = decided.status.value.lower()
        said = f"Not recorded: this approval was already decided{by}: {status}."
        refusal = LinkRefused(said, "already_decided")
        return refused_page(refusal, decided.id, exc.status)
    except LinkRefused as exc:  # changed, expired or used (perhaps a moment ago)
        return refused_page(exc, approval_of(services, token))
    except DomainError as exc:  # not eligible, approved already, a bad option or reason
        return await again(f"Not recorded: {exc.message}", exc.status)
    return RedirectResponse(f"/l/{token}/done", status_code=303, headers=LINK_HEADERS)


@router.get("/l/{token}/done")
async def link_result(token: str, services: ServicesDep) -> Response:
    """What the link's reviewer decided, as the approval records it now: reloading it
    decides nothing. A link whose reviewer has recorded nothing goes back to confirming."""
    try:
        link = links.read(services, token)
        approval = await approvals.get(services, link.approval_id)
    except DomainError as exc:
        return refused_page(exc, approval_of(services, token))
    result = outcome(approval, link.reviewer)
    if result is None:
        return RedirectResponse(f"/l/{token}", status_code=303, headers=LINK_HEADERS)
    body = render(
        "link.html",
        view="done",
        title=result["headline"],
        approval=approval,
        link=link,
        review_text=REVIEW_TEXT,
        **result,
    )
    return html(body)


def outcome(approval: Approval, reviewer: str) -> dict[str, Any] | None:
    """``Approved — recorded as alice`` and what follows; ``None``: they recorded nothing."""
    if approval.decided_by == reviewer and not approval.auto_decided:
        verb = "Approved" if approval.status.value == "APPROVED" else "Rejected"
        return {"headline": f"{verb} — recorded as {reviewer}", "verdict": verb.lower(),
                "waiting": None}  # fmt: skip
    mine = [a for a in approval.approvals if a.reviewer == reviewer]
    if not mine:
        return None
    waiting = None
    if not approval.is_decided:
        step = eligibility.open_step(approval)
        waiting = (
            f"{len(step.approvals)} of {plural(step.required_approvals, 'approval')} so far"
            f"{f' on step {step.number}' if len(approval.steps) > 1 else ''}: the approval "
            "waits for the others."
        )
    return {"headline": f"Approved — recorded as {reviewer}", "verdict": "approved",
            "waiting": waiting}  # fmt: skip
