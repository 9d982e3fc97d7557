"""The reviewer's pages: sign-in, inbox, the approval page (the ``reviewUrl``), history.

A decision taken here calls the API's own ``decide`` handler, so it is recorded,
published to waiters and its callback queued exactly as ``POST /api/approvals/{id}/
decision`` would. Pages answer HTML (never the API's JSON errors) and are left out of
the OpenAPI document.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated, Any
from urllib.parse import parse_qs, unquote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from pydantic import ValidationError

from signoff.models import Approval, ApprovalStatus, DecisionRequest, RiskLevel
from signoff.models._base import MAX_JSON_DEPTH, json_problem
from signoff.server.auth import client_address
from signoff.server.domain import approvals, eligibility, notifications, reviewers, schemas
from signoff.server.domain.errors import DomainError, NotFound
from signoff.server.ratelimit import retry_after_header
from signoff.server.services import Services, get_services
from signoff.server.store import pages as queries
from signoff.server.store.credentials import (
    end_session,
    key_hash,
    open_session,
    session_open,
    session_secret,
)
from signoff.server.store.reviewers import ReviewerRecord
from signoff.server.ui.diff import diff
from signoff.server.ui.render import SECURITY_HEADERS, render
from signoff.server.ui.session import (
    COOKIE,
    MAX_AGE,
    Session,
    SessionCodec,
    clear_cookie,
    csrf_ok,
    is_secure,
    set_cookie,
)

router = APIRouter(include_in_schema=False)
ServicesDep = Annotated[Services, Depends(get_services)]

INBOX_LIMIT = 200
HISTORY_PAGE = 50
KEEPALIVE_SECONDS = 15.0
"""An SSE comment this often keeps proxies from closing an idle stream."""

STATUSES = {s.value.lower(): s for s in ApprovalStatus}
RISKS = {r.value: r for r in RiskLevel}


# -- sessions -------------------------------------------------------------------------


async def codec(request: Request, services: Services) -> SessionCodec:
    """Made on first use from the stored session secret, then kept on the app."""
    found: SessionCodec | None = getattr(request.app.state, "ui_sessions", None)
    if found is None:
        found = SessionCodec(await session_secret(services.approvals.engine))
        request.app.state.ui_sessions = found
    return found


async def current_session(request: Request, services: Services) -> Session | None:
    """The cookie's session; a signed-in one only while its row says it is not signed out."""
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    session = (await codec(request, services)).decode(value, services.keyring)
    if session and session.id and not await session_open(services.approvals.engine, session.id):
        return None
    return session


def html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def page(
    request: Request, session: Session | None, template: str, status: int = 200, **context: Any
) -> HTMLResponse:
    return html(
        render(
            template,
            request=request,
            reviewer=session.reviewer.name if session and session.reviewer else None,
            csrf=session.csrf if session else "",
            **context,
        ),
        status,
    )


def plain_path(text: str) -> bool:
    return (
        text.startswith("/")
        and not text.startswith("//")
        and "\\" not in text
        and not any(c.isspace() or unicodedata.category(c).startswith("C") for c in text)
    )


def local_path(target: str | None) -> str:
    """Where to go after signing in: a plain path on this site, never another host.

    Browsers drop tabs and newlines from a URL and read ``\\`` as ``/``, so ``/\\t/evil``
    or ``/\\evil`` lead off-site. Only a path that starts with one ``/`` and holds no
    whitespace, control character or backslash, as given and after each round of
    percent-decoding, is kept (a leading ``/`` also rules out a scheme); else the inbox.
    """
    text = target or ""
    while plain_path(text):
        decoded = unquote(text)
        if decoded == text:
            return target or "/inbox"
        text = decoded
    return "/inbox"


def to_sign_in(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?{urlencode({'next': target})}", status_code=303)


async def form_lists(request: Request) -> dict[str, list[str]]:
    """The urlencoded body of a form post, every value of each field (checkboxes)."""
    raw = (await request.body()).decode("utf-8", errors="replace")
    return parse_qs(raw, keep_blank_values=True)


async def form(request: Request) -> dict[str, str]:
    """The urlencoded body of a form post (first value of each field)."""
    return {key: values[0] for key, values in (await form_lists(request)).items()}


async def signed_in_record(services: Services, session: Session) -> ReviewerRecord:
    """The signed-in reviewer as the rules of who decides see them (record and groups)."""
    assert session.reviewer is not None
    return await reviewers.lookup(services, session.reviewer.name)


def refused(request: Request, session: Session | None, back: str = "/inbox") -> HTMLResponse:
    """Nothing was done: the form lacked this session's CSRF token."""
    return page(
        request,
        session,
        "message.html",
        status=403,
        title="Form refused",
        message=(
            "Nothing was done: this form did not come from a page of this site, or it is "
            "older than your current sign-in. Reload the page and try again."
        ),
        link=back,
        link_text="Back to the page",
    )


# -- sign-in and sign-out -------------------------------------------------------------


@router.get("/")
async def home() -> RedirectResponse:
    return RedirectResponse("/inbox", status_code=303)


@router.get("/signin")
async def sign_in_page(request: Request, services: ServicesDep) -> HTMLResponse:
    session = await current_session(request, services)
    target = local_path(request.query_params.get("next"))
    if session and session.reviewer:
        return page(
            request, session, "message.html", title="Signed in",
            message=f"You are signed in as {session.reviewer.name}.", link=target,
        )  # fmt: skip
    return await sign_in_form(request, services, session, target)


async def sign_in_form(
    request: Request,
    services: Services,
    session: Session | None,
    target: str,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    cookie = None
    if session is None:
        session, cookie = (await codec(request, services)).anonymous()
    response = page(request, session, "signin.html", status, next=target, error=error)
    if cookie:
        set_cookie(response, cookie, secure=is_secure(request, services.settings.base_url))
    return response


@router.post("/signin")
async def sign_in(request: Request, services: ServicesDep) -> Response:
    session = await current_session(request, services)
    fields = await form(request)
    target = local_path(fields.get("next"))
    if not csrf_ok(session, fields.get("csrf")):
        return await sign_in_form(
            request, services, None, target, status=403,
            error="The sign-in form had expired. It has been renewed: enter your token again.",
        )  # fmt: skip
    address = client_address(request)
    wait = services.auth_failures.wait(address)
    if wait:
        slow_down = await sign_in_form(
            request, services, session, target, status=429,
            error="Too many failed sign-ins from your address. Wait a little and try again.",
        )  # fmt: skip
        slow_down.headers["Retry-After"] = retry_after_header(wait)
        return slow_down
    token = fields.get("token", "").strip()
    who = services.keyring.identify(token)
    if who is None and token:
        services.auth_failures.take(address)
    if who is None or who.kind != "reviewer":
        error = (
            f"That is an {'admin' if who.kind == 'admin' else 'API'} key, not for these "
            "pages. Sign in with a reviewer token."
            if who is not None
            else "That reviewer token is not known to this service."
        )
        return await sign_in_form(request, services, session, target, error=error, status=401)
    session, cookie = (await codec(request, services)).signed_in(who, key_hash(token))
    assert session.id is not None
    await open_session(services.approvals.engine, session.id, who.name, MAX_AGE)
    response = RedirectResponse(target, status_code=303)
    set_cookie(response, cookie, secure=is_secure(request, services.settings.base_url))
    return response


@router.post("/signout")
async def sign_out(request: Request, services: ServicesDep) -> Response:
    session = await current_session(request, services)
    if not csrf_ok(session, (await form(request)).get("csrf")):
        return refused(request, session)
    if session and session.id:
        await end_session(services.approvals.engine, session.id)
    response = RedirectResponse("/signin?signedout=1", status_code=303)
    clear_cookie(response, secure=is_secure(request, services.settings.base_url))
    return response


# -- inbox and history ----------------------------------------------------------------


def filters_from(request: Request, default_status: ApprovalStatus | None) -> queries.Filters:
    params = request.query_params
    status_param = params.get("status", "").lower()
    if status_param == "all":
        status = None
    else:
        status = STATUSES.get(status_param, default_status)
    action = params.get("action", "").strip()[:200] or None
    reviewer = params.get("reviewer", "").strip()[:200] or None
    group = params.get("group", "").strip()[:200] or None
    return queries.Filters(
        status=status,
        action=action,
        risk=RISKS.get(params.get("risk", "")),
        reviewer=reviewer,
        sort="newest" if params.get("sort") == "newest" else "risk",
        group=group,
    )


def filter_query(filters: queries.Filters) -> str:
    """The filters as a query string, for links and for the live refresh."""
    values = {
        "status": filters.status.value.lower() if filters.status else "all",
        "action": filters.action or "",
        "risk": filters.risk.value if filters.risk else "",
        "sort": filters.sort,
    }
    return urlencode({key: value for key, value in values.items() if value})


async def inbox_context(
    services: Services, filters: queries.Filters, me: ReviewerRecord
) -> dict[str, Any]:
    """The inbox's two lists: what is waiting for me (``eligibility.is_waiting_for``) and,
    apart from it, everything else the filters select."""
    engine, base_url = services.approvals.engine, services.settings.base_url
    shows_pending = filters.status in (ApprovalStatus.PENDING, None)
    waiting: list[Approval] = []
    created_by: dict[str, str] = {}
    if shows_pending:
        candidates = await queries.open_for(
            engine, base_url, filters, me.name, me.groups, INBOX_LIMIT
        )
        waiting = [a for a in candidates.items if eligibility.is_waiting_for(a, me)]
        created_by.update(candidates.created_by)
    found = await queries.inbox(
        engine, base_url, filters, INBOX_LIMIT, leave_out=[a.id for a in waiting]
    )
    created_by.update(found.created_by)
    return {
        "items": found.items,
        "total": found.total,
        "created_by": created_by,
        "filters": filters,
        "shows_waiting": shows_pending,
        "waiting": waiting,
    }


@router.get("/inbox")
async def inbox(request: Request, services: ServicesDep) -> Response:
    session = await current_session(request, services)
    if session is None or session.reviewer is None:
        return to_sign_in(request)
    live_version = services.hub.version  # taken before reading, so no change falls between
    filters = filters_from(request, ApprovalStatus.PENDING)
    actions, _ = await queries.choices(services.approvals.engine)
    return page(
        request,
        session,
        "inbox.html",
        nav="inbox",
        live_version=live_version,
        actions=actions,
        risks=list(RISKS),
        query=filter_query(filters),
        **await inbox_context(services, filters, await signed_in_record(services, session)),
    )


@router.get("/inbox/rows")
async def inbox_rows(request: Request, services: ServicesDep) -> Response:
    """The inbox's rows alone: what the page fetches when the event stream says so."""
    session = await current_session(request, services)
    if session is None or session.reviewer is None:
        return Response("sign in again", status_code=401)
    filters = filters_from(request, ApprovalStatus.PENDING)
    me = await signed_in_record(services, session)
    return html(render("_inbox_live.html", **await inbox_context(services, filters, me)))


@router.get("/history")
async def history(request: Request, services: ServicesDep) -> Response:
    session = await current_session(request, services)
    if session is None or session.reviewer is None:
        return to_sign_in(request)
    filters = filters_from(request, None)
    if filters.status is ApprovalStatus.PENDING:
        filters = replace(filters, status=None)
    try:
        page_number = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page_number = 1
    found = await queries.history(
        services.approvals.engine,
        services.settings.base_url,
        filters,
        HISTORY_PAGE,
        (page_number - 1) * HISTORY_PAGE,
    )
    actions, deciders = await queries.choices(services.approvals.engine)
    names = {r.name for r in await reviewers.listing(services)} | set(deciders)
    groups = {g.name for g in await reviewers.groups(services)}
    rows = [(approval, changes_of(approval)) for approval in found.items]
    notes = await queries.policy_notes(
        services.approvals.engine, [a.id for a in found.items if a.policy_rule]
    )
    base = {
        "status": filters.status.value.lower() if filters.status else "",
        "action": filters.action or "",
        "risk": filters.risk.value if filters.risk else "",
        "reviewer": filters.reviewer or "",
        "group": filters.group or "",
    }
    base = {key: value for key, value in base.items() if value}
    more = page_number * HISTORY_PAGE < found.total
    return page(
        request,
        session,
        "history.html",
        nav="history",
        rows=rows,
        policy_notes=notes,
        total=found.total,
        filters=filters,
        actions=actions,
        reviewers=sorted(names | ({filters.reviewer} if filters.reviewer else set())),
        groups=sorted(groups | ({filters.group} if filters.group else set())),
        risks=list(RISKS),
        page_number=page_number,
        newer=urlencode({**base, "page": page_number - 1}) if page_number > 1 else None,
        older=urlencode({**base, "page": page_number + 1}) if more else None,
    )


def changes_of(approval: Approval) -> list[Any]:
    if approval.modified_details is None:
        return []
    return diff(approval.details, approval.modified_details)


# -- live updates ---------------------------------------------------------------------


@router.get("/events")
async def events(request: Request, services: ServicesDep) -> Response:
    """Server-sent events: ``change`` whenever an approval is created or decided.

    Waits on the hub (no database polling); the page then fetches what it shows.
    """
    session = await current_session(request, services)
    if session is None or session.reviewer is None:
        return Response("sign in again", status_code=401)
    hub = services.hub
    version = hub.version  # before answering: nothing after this point can be missed
    # What the page was rendered at (``since``), or the last event seen before a reconnect.
    seen = request.headers.get("last-event-id") or request.query_params.get("since")

    async def stream() -> AsyncIterator[str]:
        nonlocal version
        yield f"retry: 3000\nid: {version}\ndata: hello\n\n"
        if seen is not None and seen != str(version):
            yield f"event: change\nid: {version}\ndata: {version}\n\n"  # missed meanwhile
        while True:
            changed = await hub.next_change(version, KEEPALIVE_SECONDS)
            if changed == version:
                yield ": keepalive\n\n"
                continue
            version = changed
            yield f"event: change\nid: {version}\ndata: {version}\n\n"

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


# -- the approval page ----------------------------------------------------------------


def may_decide(approval: Approval, me: ReviewerRecord) -> tuple[str | None, str | None]:
    """Why I may not decide it at all, and why I may not approve it (I may still reject):
    the domain's own rules, shown before I try."""
    if approval.is_decided:
        return None, None
    refusal = eligibility.refusal(approval, me)
    if refusal is not None:
        return refusal, None
    return None, eligibility.already_approved(approval, me.name)


async def review_context(
    services: Services, approval: Approval, me: ReviewerRecord
) -> dict[str, Any]:
    refusal, no_approve = may_decide(approval, me)
    engine = services.approvals.engine
    notes = await queries.policy_notes(engine, [approval.id]) if approval.policy_rule else {}
    return {
        "approval": approval,
        "policy": notes.get(approval.id),
        "created_by": await queries.created_by(engine, approval.id),
        "deliveries": await services.outbox.for_subject(approval.id),
        "notifications": await notifications.listing(services, approval.id),
        "changes": changes_of(approval),
        "refusal": refusal,
        "no_approve": no_approve,
        "superseded": sum(1 for item in approval.approvals if not item.counted),
    }


async def review_page(
    request: Request,
    services: Services,
    session: Session,
    approval: Approval,
    *,
    status: int = 200,
    error: str | None = None,
    note: str = "",
    edited: str | None = None,
    chosen: list[str] | None = None,
    reason: str | None = None,
    live_version: int | None = None,
) -> HTMLResponse:
    me = await signed_in_record(services, session)
    return page(
        request,
        session,
        "review.html",
        status=status,
        live_version=services.hub.version if live_version is None else live_version,
        nav="inbox",
        error=error,
        note=note,
        edited=edited,
        chosen=chosen,
        reason=reason,
        problems=edit_problems(approval, {"edited": edited}) if edited is not None else [],
        **await review_context(services, approval, me),
    )


async def find(services: Services, approval_id: str) -> Approval | None:
    """The approval as the API reads it (an overdue one expired first), or ``None``."""
    try:
        return await approvals.get(services, approval_id)
    except NotFound:
        return None


@router.get("/review/{approval_id}")
async def review(approval_id: str, request: Request, services: ServicesDep) -> Response:
    session = await current_session(request, services)
    if session is None or session.reviewer is None:
        return to_sign_in(request)
    live_version = services.hub.version
    approval = await find(services, approval_id)
    if approval is None:
        return not_found(request, session, approval_id)
    return await review_page(request, services, session, approval, live_version=live_version)


@router.get("/review/{approval_id}/live")
async def review_live(approval_id: str, request: Request, services: ServicesDep) -> Response:
    """The parts of the approval page that change on their own: status and deliveries."""
    session = await current_session(request, services)
    if session is None or session.reviewer is None:
        return Response("sign in again", status_code=401)
    approval = await find(services, approval_id)
    if approval is None:
        return Response("not found", status_code=404)
    me = await signed_in_record(services, session)
    return html(
        render(
            "_live.html", csrf=session.csrf, note="", edited=None, error=None, chosen=None,
            reason=None, **await review_context(services, approval, me),
        )
    )  # fmt: skip


@router.post("/review/{approval_id}/check")
async def check_details(approval_id: str, request: Request, services: ServicesDep) -> Response:
    """The details editor asks, before anything is sent: would this edit keep the
    approval's ``detailsSchema``? Answers the messages the decision's 422 would give."""
    session = await current_session(request, services)
    if session is None or session.reviewer is None:
        return Response("sign in again", status_code=401)
    approval = await find(services, approval_id)
    if approval is None:
        return Response("not found", status_code=404)
    return html(render("_schema_check.html", problems=edit_problems(approval, await form(request))))


def edit_problems(approval: Approval, fields: dict[str, str]) -> list[str]:
    """How the ``edited`` JSON breaks the approval's schema (nothing to say when there is
    no schema, or the text is no JSON object: the editor says that itself)."""
    if approval.details_schema is None:
        return []
    try:
        parsed = json.loads(fields.get("edited", ""))
    except (ValueError, RecursionError):
        return []
    if not isinstance(parsed, dict):
        return []
    if (problem := json_problem(parsed)) is not None:
        return [f"modifiedDetails: {problem}"]
    return schemas.details_problems(approval.details_schema, parsed, "modifiedDetails")


def not_found(request: Request, session: Session, approval_id: str) -> HTMLResponse:
    return page(
        request,
        session,
        "message.html",
        status=404,
        title="No such approval",
        message=f"There is no approval with id {approval_id}.",
        link="/inbox",
    )


@router.post("/review/{approval_id}/decision")
async def decide(approval_id: str, request: Request, services: ServicesDep) -> Response:
    session = await current_session(request, services)
    if session is None or session.reviewer is None:
        target = urlencode({"next": f"/review/{approval_id}"})
        return RedirectResponse(f"/signin?{target}", status_code=303)
    lists = await form_lists(request)
    fields = {key: values[0] for key, values in lists.items()}
    if not csrf_ok(session, fields.get("csrf")):
        return refused(request, session, back=f"/review/{approval_id}")
    approval = await find(services, approval_id)
    if approval is None:
        return not_found(request, session, approval_id)
    choice = fields.get("decision", "")
    note = fields.get("note", "").strip()
    edited = fields.get("edited")
    chosen = [value for value in lists.get("chosen_options", []) if value]
    reason = fields.get("reason_code", "").strip() or None

    def again(error: str, status: int = 422, latest: Approval | None = None) -> Any:
        return review_page(
            request, services, session, latest or approval, status=status, error=error,
            note=note, edited=edited if choice == "approve_edited" else None, chosen=chosen,
            reason=reason,
        )  # fmt: skip

    if approval.is_decided:  # said first: a late form's other mistakes no longer matter
        return await review_page(
            request, services, session, approval, status=409,
            error=f"Not recorded: approval {approval_id} is already {approval.status.value}.",
        )  # fmt: skip
    if choice not in ("approve", "approve_edited", "reject"):
        return await again("Choose Approve, Approve with edits or Reject.", 400)
    modified: dict[str, Any] | None = None
    if choice == "approve_edited":
        try:
            parsed = json.loads(edited or "")
        except ValueError as exc:
            return await again(f"The edited details are not valid JSON: {exc}.")
        except RecursionError:
            return await again(
                f"The edited details are nested deeper than {MAX_JSON_DEPTH} levels."
            )
        if not isinstance(parsed, dict):
            return await again("The edited details must be a JSON object ({ … }).")
        if diff(approval.effective_details, parsed):  # the details as they stand now
            modified = parsed
    try:
        body = DecisionRequest(
            decision="reject" if choice == "reject" else "approve",
            modified_details=modified,
            note=note or None,
            chosen_options=(chosen or None) if choice != "reject" else None,
            reason_code=reason,
        )
    except ValidationError as exc:
        message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        return await again(f"The decision is not valid: {message}.")
    try:
        await approvals.review(services, approval_id, body, session.reviewer)
    except DomainError as exc:
        latest = await find(services, approval_id)
        if latest is not None and latest.is_decided:
            return await review_page(
                request, services, session, latest, status=exc.status,
                error=f"Not recorded: {exc.message}.",
            )  # fmt: skip
        return await again(f"Not recorded: {exc.message}.", exc.status, latest)
    return RedirectResponse(f"/review/{approval_id}", status_code=303)
