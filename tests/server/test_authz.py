"""The authorization matrix: every route of the service against every kind of caller.

``ROUTES`` is the policy, one line per route: which kind of credential each route
needs. ``EXPECTED`` says what each kind of caller gets under each policy. The route
list is checked against the running service (its ``/openapi.json`` plus the reviewer
pages and the documentation pages), so a new route cannot go untested: it fails here
until it is given a policy.

Callers (columns):

* ``none``: no credentials at all;
* ``wrong``: a key nobody issued (``Authorization: Bearer``) and a forged session cookie;
* ``api key``: a pipeline's API key;
* ``reviewer``: a reviewer token sent as ``Authorization: Bearer``;
* ``admin``: an operator's admin key (``--admin-key``) as ``Authorization: Bearer``;
* ``session``: a signed-in reviewer's session cookie (and, on a form, no CSRF token);
* ``session+csrf``: the same with the form's CSRF token (forms only: the right caller).

Outcomes: ``401`` / ``403`` (API errors also carry a JSON ``error``); ``ok``: the call is
let through (2xx, or a 3xx/4xx about the request itself, never 401/403, never 5xx);
``signin``: a redirect to the sign-in page; ``form refused``: the page's 403 for a
form without this session's CSRF token; ``signed out``: the redirect after signing out.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from signoff.server.process import ServiceProcess
from signoff.server.ui.session import COOKIE
from tests.conftest import ADMIN_KEY, API_KEY, CKO_SECRET_KEY, REVIEWER_TOKEN, launcher
from tests.receiver import receiver

PUBLIC = "public"
API_KEY_ONLY = "API key"
ANY_KEY = "API key or reviewer token"
REVIEWER_ONLY = "reviewer token"
ADMIN_ONLY = "admin key"
PAGE = "page (session)"
PAGE_PART = "page part (session)"
PAGE_PUBLIC = "page, public"
FORM = "form (session + CSRF)"
SIGN_IN_FORM = "sign-in form (CSRF)"
SLACK_SIGNED = "Slack's request signature"
LINK_FORM = "decision link form (the signed link, echoed in the form)"

ROUTES: dict[tuple[str, str], str] = {
    # -- public ---------------------------------------------------------------------------
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/openapi.json"): PUBLIC,
    ("GET", "/docs"): PUBLIC,
    ("GET", "/docs/oauth2-redirect"): PUBLIC,
    ("GET", "/redoc"): PUBLIC,
    ("GET", "/static/signoff.css"): PUBLIC,
    ("GET", "/metrics"): ANY_KEY,
    # -- approvals API ----------------------------------------------------------------------
    ("POST", "/api/approvals/request"): API_KEY_ONLY,
    ("POST", "/api/webhooks/inbound"): API_KEY_ONLY,
    ("GET", "/api/approvals"): ANY_KEY,
    ("POST", "/api/approvals/wait"): ANY_KEY,
    ("GET", "/api/approvals/{approval_id}"): ANY_KEY,
    ("GET", "/api/approvals/{approval_id}/callbacks"): ANY_KEY,
    ("GET", "/api/approvals/{approval_id}/notifications"): ANY_KEY,
    ("POST", "/api/approvals/{approval_id}/decision"): REVIEWER_ONLY,
    # -- webhook management API (all API key) ---------------------------------------------
    ("GET", "/webhooks"): API_KEY_ONLY,
    ("POST", "/webhooks"): API_KEY_ONLY,
    ("GET", "/webhooks/{webhook_id}"): API_KEY_ONLY,
    ("PUT", "/webhooks/{webhook_id}"): API_KEY_ONLY,
    ("PATCH", "/webhooks/{webhook_id}"): API_KEY_ONLY,
    ("POST", "/webhooks/{webhook_id}/test"): API_KEY_ONLY,
    ("GET", "/webhooks/{webhook_id}/deliveries"): API_KEY_ONLY,
    ("GET", "/workflows"): API_KEY_ONLY,
    ("POST", "/workflows"): API_KEY_ONLY,
    ("GET", "/workflows/event-types"): API_KEY_ONLY,
    ("GET", "/workflows/{workflow_id}"): API_KEY_ONLY,
    ("PATCH", "/workflows/{workflow_id}"): API_KEY_ONLY,
    ("POST", "/workflows/{workflow_id}/test"): API_KEY_ONLY,
    ("POST", "/workflows/{workflow_id}/actions"): API_KEY_ONLY,
    ("PUT", "/workflows/{workflow_id}/actions/{action_id}"): API_KEY_ONLY,
    ("POST", "/workflows/{workflow_id}/conditions"): API_KEY_ONLY,
    ("PUT", "/workflows/{workflow_id}/conditions/{condition_id}"): API_KEY_ONLY,
    ("GET", "/workflows/events/{event_id}"): API_KEY_ONLY,
    ("GET", "/workflows/events/{event_id}/actions/{action_id}"): API_KEY_ONLY,
    ("GET", "/workflows/events/subject/{subject_id}"): API_KEY_ONLY,
    ("POST", "/workflows/events/reflow"): API_KEY_ONLY,
    ("POST", "/workflows/events/{event_id}/reflow"): API_KEY_ONLY,
    ("POST", "/workflows/events/{event_id}/workflow/{workflow_id}/reflow"): API_KEY_ONLY,
    ("POST", "/workflows/events/subject/{subject_id}/reflow"): API_KEY_ONLY,
    ("POST", "/workflows/events/subject/{subject_id}/workflow/{workflow_id}/reflow"): (
        API_KEY_ONLY
    ),
    ("POST", "/events"): API_KEY_ONLY,
    ("GET", "/events/{event_id}/deliveries"): API_KEY_ONLY,
    ("POST", "/deliveries/{delivery_id}/replay"): API_KEY_ONLY,
    # -- reviewers and groups (admin key only) ------------------------------------------------
    ("GET", "/api/reviewers"): ADMIN_ONLY,
    ("POST", "/api/reviewers"): ADMIN_ONLY,
    ("GET", "/api/reviewers/{reviewer}"): ADMIN_ONLY,
    ("PATCH", "/api/reviewers/{reviewer}"): ADMIN_ONLY,
    ("GET", "/api/groups"): ADMIN_ONLY,
    # -- policies (admin key only) --------------------------------------------------------------
    ("GET", "/api/policies"): ADMIN_ONLY,
    ("PUT", "/api/policies"): ADMIN_ONLY,
    ("POST", "/api/policies/validate"): ADMIN_ONLY,
    ("POST", "/api/policies/plan"): ADMIN_ONLY,
    ("POST", "/api/policies/test"): ADMIN_ONLY,
    # -- Slack's interaction requests: signed by Slack, no key of ours works -------------------
    ("POST", "/slack/interactions"): SLACK_SIGNED,
    # -- reviewer pages (left out of /openapi.json) -----------------------------------------
    ("GET", "/"): PAGE_PUBLIC,
    ("GET", "/signin"): PAGE_PUBLIC,
    ("POST", "/signin"): SIGN_IN_FORM,
    ("POST", "/signout"): FORM,
    ("GET", "/inbox"): PAGE,
    ("GET", "/inbox/rows"): PAGE_PART,
    ("GET", "/history"): PAGE,
    ("GET", "/events"): PAGE_PART,
    ("GET", "/review/{approval_id}"): PAGE,
    ("GET", "/review/{approval_id}/live"): PAGE_PART,
    ("POST", "/review/{approval_id}/check"): PAGE_PART,
    ("POST", "/review/{approval_id}/decision"): FORM,
    ("GET", "/l/{token}"): PAGE_PUBLIC,
    ("POST", "/l/{token}"): LINK_FORM,
    ("GET", "/l/{token}/done"): PAGE_PUBLIC,
    ("GET", "/subscriptions"): PAGE,
    ("GET", "/subscriptions/webhooks/{webhook_id}"): PAGE,
    ("GET", "/subscriptions/workflows/{workflow_id}"): PAGE,
    ("GET", "/subscriptions/events"): PAGE,
    ("GET", "/subscriptions/events/{event_id}"): PAGE,
    ("POST", "/subscriptions/deliveries/{delivery_id}/replay"): FORM,
    # -- last, so that every route above sees the objects it names ----------------------------
    ("POST", "/api/approvals/{approval_id}/cancel"): API_KEY_ONLY,
    ("DELETE", "/workflows/{workflow_id}/actions/{action_id}"): API_KEY_ONLY,
    ("DELETE", "/workflows/{workflow_id}/conditions/{condition_id}"): API_KEY_ONLY,
    ("DELETE", "/workflows/{workflow_id}"): API_KEY_ONLY,
    ("DELETE", "/webhooks/{webhook_id}"): API_KEY_ONLY,
    ("DELETE", "/api/reviewers/{reviewer}"): ADMIN_ONLY,
}

NONE, WRONG, API, REVIEWER, ADMIN, SESSION, SESSION_CSRF = (
    "none", "wrong", "api key", "reviewer", "admin", "session", "session+csrf",
)  # fmt: skip

EXPECTED: dict[str, dict[str, str]] = {
    PUBLIC: {NONE: "ok", WRONG: "ok", API: "ok", REVIEWER: "ok", SESSION: "ok"},
    API_KEY_ONLY: {NONE: "401", WRONG: "401", API: "ok", REVIEWER: "403", SESSION: "401"},
    ANY_KEY: {NONE: "401", WRONG: "401", API: "ok", REVIEWER: "ok", SESSION: "401"},
    REVIEWER_ONLY: {NONE: "401", WRONG: "401", API: "403", REVIEWER: "ok", SESSION: "401"},
    # Neither a pipeline's key nor a reviewer may choose who approves.
    ADMIN_ONLY: {
        NONE: "401", WRONG: "401", API: "403", REVIEWER: "403", ADMIN: "ok", SESSION: "401",
    },
    # Pages know only the session cookie: a bearer key or token does not sign anyone in.
    PAGE_PUBLIC: {NONE: "ok", WRONG: "ok", API: "ok", REVIEWER: "ok", SESSION: "ok"},
    PAGE: {NONE: "signin", WRONG: "signin", API: "signin", REVIEWER: "signin", SESSION: "ok"},
    PAGE_PART: {NONE: "401", WRONG: "401", API: "401", REVIEWER: "401", SESSION: "ok"},
    FORM: {
        NONE: "signin", WRONG: "signin", API: "signin", REVIEWER: "signin",
        SESSION: "form refused", SESSION_CSRF: "ok",
    },
    SIGN_IN_FORM: {
        NONE: "form refused", WRONG: "form refused", API: "form refused",
        REVIEWER: "form refused", SESSION: "form refused", SESSION_CSRF: "ok",
    },
    # None of our callers holds the app's signing secret (tests/server/test_slack_app.py
    # signs requests as Slack does).
    SLACK_SIGNED: {NONE: "401", WRONG: "401", API: "401", REVIEWER: "401", SESSION: "401"},
    # A signed link is its own credential: no key, token or session decides through it.
    LINK_FORM: {
        NONE: "form refused", WRONG: "form refused", API: "form refused",
        REVIEWER: "form refused", SESSION: "form refused",
    },
}  # fmt: skip
"""What each caller gets, by the route's policy."""

# /signout without any session has nothing to sign out of: the form is refused outright.
OVERRIDES = {
    ("POST", "/signout"): {
        **{caller: "form refused" for caller in (NONE, WRONG, API, REVIEWER)},
        SESSION_CSRF: "signed out",
    }
}


def expected(route: tuple[str, str]) -> dict[str, str]:
    return {**EXPECTED[ROUTES[route]], **OVERRIDES.get(route, {})}


@dataclass
class Objects:
    """Real objects, so that the right caller is not merely told ``404``."""

    approval_id: str
    webhook_id: str
    workflow_id: str
    action_id: str
    condition_id: str
    event_id: str
    subject_id: str
    delivery_id: str
    reviewer: str = "alice"
    token: str = "not-a-link-this-service-signed"

    def fill(self, path: str) -> str:
        return path.format(**vars(self))


@dataclass
class Session:
    cookie: str
    csrf: str


def sign_in(http: httpx.Client) -> Session:
    """As a reviewer does: fetch the form, post the token with its CSRF token."""
    form = http.get("/signin")
    anonymous = form.cookies[COOKIE]
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf
    http.cookies.clear()
    signed_in = http.post(
        "/signin",
        data={"csrf": csrf.group(1), "token": REVIEWER_TOKEN, "next": "/inbox"},
        headers={"Cookie": f"{COOKIE}={anonymous}"},
    )
    assert signed_in.status_code == 303, signed_in.text
    cookie = signed_in.cookies[COOKIE]
    http.cookies.clear()
    inbox = http.get("/inbox", headers={"Cookie": f"{COOKIE}={cookie}"})
    assert inbox.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', inbox.text)
    assert found
    return Session(cookie=cookie, csrf=found.group(1))


def make_objects(http: httpx.Client, hook_url: str) -> Objects:
    def call(method: str, path: str, body: object = None) -> Any:
        key = API_KEY if path.startswith("/api/") else CKO_SECRET_KEY
        response = http.request(method, path, json=body, headers={"Authorization": f"Bearer {key}"})
        assert response.status_code < 300, (path, response.text)
        return response.json()

    approval = call("POST", "/api/approvals/request", {"action": "authz", "summary": "matrix"})
    webhook = call("POST", "/webhooks", {"url": hook_url, "event_types": ["payment_approved"]})
    workflow = call(
        "POST",
        "/workflows",
        {
            "name": "authz",
            "conditions": [{"type": "event", "events": {"gateway": ["payment_approved"]}}],
            "actions": [{"type": "webhook", "url": f"{hook_url}?workflow"}],
        },
    )
    flow = call("GET", f"/workflows/{workflow['id']}")
    event = call("POST", "/events", {"type": "payment_approved", "data": {"id": "pay_authz"}})
    deliveries = call("GET", f"/events/{event['id']}/deliveries")["data"]
    return Objects(
        approval_id=approval["id"],
        webhook_id=webhook["id"],
        workflow_id=workflow["id"],
        action_id=flow["actions"][0]["id"],
        condition_id=flow["conditions"][0]["id"],
        event_id=event["id"],
        subject_id="pay_authz",
        delivery_id=deliveries[0]["id"],
    )


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """The service with Slack app mode on, so ``/slack/interactions`` checks signatures
    (off, it answers 404 to everyone)."""
    with launcher(tmp_path_factory.mktemp("authz")) as start:
        yield start(None, "--slack-signing-secret", "authz-slack-secret")


@pytest.fixture(scope="module")
def http(service: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=service.url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def objects(http: httpx.Client) -> Iterator[Objects]:
    with receiver() as hook:
        yield make_objects(http, hook.url)


@pytest.fixture(scope="module")
def session(http: httpx.Client) -> Session:
    return sign_in(http)


def request_as(
    http: httpx.Client, method: str, url: str, caller: str, session: Session
) -> tuple[int, dict[str, str], bytes]:
    http.cookies.clear()  # only what this caller holds, never a cookie the client kept
    headers: dict[str, str] = {}
    if caller == WRONG:
        headers["Authorization"] = "Bearer sk_not_a_key_anyone_issued"
        headers["Cookie"] = f"{COOKIE}=eyJjIjoiZm9yZ2VkIn0.c2lnbmF0dXJl"
    elif caller == API:
        headers["Authorization"] = f"Bearer {API_KEY}"
    elif caller == REVIEWER:
        headers["Authorization"] = f"Bearer {REVIEWER_TOKEN}"
    elif caller == ADMIN:
        headers["Authorization"] = f"Bearer {ADMIN_KEY}"
    elif caller in (SESSION, SESSION_CSRF):
        if caller == SESSION_CSRF and url == "/signout":
            session = sign_in(http)  # signing out ends a session: never the shared one
        headers["Cookie"] = f"{COOKIE}={session.cookie}"
    kwargs: dict[str, Any] = {}
    if method in ("POST", "PUT", "PATCH"):
        if url in ("/signin", "/signout") or url.startswith(("/review/", "/subscriptions/")):
            form = {"token": REVIEWER_TOKEN, "decision": "approve", "next": "/inbox"}
            if caller == SESSION_CSRF:
                form["csrf"] = session.csrf
            kwargs["data"] = form
        else:
            kwargs["json"] = {}
    with http.stream(method, url, headers=headers, **kwargs) as response:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            return response.status_code, dict(response.headers), b""
        return response.status_code, dict(response.headers), response.read()


def outcome(status: int, headers: dict[str, str], body: bytes) -> str:
    """Names what a caller got, in the words of ``EXPECTED``."""
    if status in (401, 403):
        if headers.get("content-type", "").startswith("text/html"):
            return "form refused" if status == 403 else "401"
        return str(status)
    if status in (302, 303, 307) and headers.get("location", "").startswith("/signin"):
        return "signed out" if "signedout=1" in headers["location"] else "signin"
    if status >= 500:
        return f"server error {status}"
    return "ok"


def api_error_is_json(status: int, headers: dict[str, str], body: bytes, path: str) -> None:
    if status in (401, 403) and not headers.get("content-type", "").startswith("text/"):
        assert headers.get("content-type", "").startswith("application/json"), path
        error = httpx.Response(status, content=body).json().get("error")
        assert isinstance(error, str) and error, (path, body)


def served_routes(http: httpx.Client) -> set[tuple[str, str]]:
    """Every route: the OpenAPI document's operations, the pages, the docs and a static file."""
    document = http.get("/openapi.json").json()
    found = {(m.upper(), path) for path, item in document["paths"].items() for m in item}
    for module in (
        "signoff.server.ui.router",
        "signoff.server.ui.subscriptions",
        "signoff.server.ui.links",
    ):
        for route in importlib.import_module(module).router.routes:
            found |= {(m, route.path) for m in route.methods - {"HEAD"}}
    docs = ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")
    return found | {("GET", path) for path in docs} | {("GET", "/static/signoff.css")}


def test_the_policy_covers_every_route(http: httpx.Client) -> None:
    assert set(ROUTES) == served_routes(http)


def test_documentation_and_static_files_are_really_served(http: httpx.Client) -> None:
    for method, path in ROUTES:
        if ROUTES[(method, path)] == PUBLIC:
            assert http.request(method, path).status_code == 200, path


def test_authorization_matrix(
    http: httpx.Client, objects: Objects, session: Session, service: ServiceProcess
) -> None:
    """Every route, every caller; the wrong callers go first and must change nothing."""
    checked = 0
    wrong: list[str] = []
    callers = [NONE, WRONG, API, REVIEWER, ADMIN, SESSION, SESSION_CSRF]
    rows = [(route, expected(route)) for route in ROUTES]
    # First pass: every caller that should be turned away, on every route.
    for (method, path), wants in rows:
        for caller in callers:
            if caller not in wants or wants[caller] == "ok":
                continue
            got = request_as(http, method, objects.fill(path), caller, session)
            if ROUTES[(method, path)] in (
                API_KEY_ONLY, ANY_KEY, REVIEWER_ONLY, ADMIN_ONLY, SLACK_SIGNED,
            ):  # fmt: skip
                api_error_is_json(*got, path)
            checked += 1
            if outcome(*got) != wants[caller]:
                wrong.append(f"{method} {path} as {caller}: {outcome(*got)} ({got[0]}), "
                             f"expected {wants[caller]}")  # fmt: skip
    # Nothing they sent changed anything: the approval is undecided, the webhook is there.
    approval = http.get(
        f"/api/approvals/{objects.approval_id}", headers={"x-api-key": API_KEY}
    ).json()
    assert approval["status"] == "PENDING" and approval["decidedBy"] is None
    hook = http.get(
        f"/webhooks/{objects.webhook_id}", headers={"Authorization": f"Bearer {CKO_SECRET_KEY}"}
    )
    assert hook.status_code == 200
    # Second pass: the callers each route is for.
    for (method, path), wants in rows:
        for caller in callers:
            if wants.get(caller) != "ok":
                continue
            got = request_as(http, method, objects.fill(path), caller, session)
            checked += 1
            if outcome(*got) != "ok":
                wrong.append(f"{method} {path} as {caller}: {outcome(*got)} ({got[0]}), "
                             f"expected ok")  # fmt: skip
    assert not wrong, "\n".join(wrong)
    assert checked == sum(len(expected(route)) for route in ROUTES) == MATRIX_SIZE


MATRIX_SIZE = 70 * 5 + 4 + 11 * 6
"""70 routes by 5 callers, the 4 forms once more with their CSRF token, and the 11 admin
routes (reviewers, groups, policies) by 6 callers (the admin key too): 420 checks."""
