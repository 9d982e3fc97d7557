"""Schemathesis against the running service's own ``/openapi.json``: every operation.

Each operation gets ``EXAMPLES`` generated requests (valid and invalid: schemathesis's
positive and negative modes) plus the examples the document carries, from a fixed
derandomized seed, with the credential that operation needs, against the service on
SQLite and on PostgreSQL (a fresh database). Every answer must:

* not be a 5xx;
* have a status code, content type and body that the document declares for it;
* if it is an error (4xx), be JSON with an ``error`` string.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck
from schemathesis import Case, CheckContext, GenerationMode, Response

from signoff.server.app import create_app
from signoff.server.config import Settings
from signoff.server.process import ServiceProcess
from tests.conftest import ADMIN_KEY, API_KEY, CKO_SECRET_KEY, REVIEWER_TOKEN, launcher
from tests.pg import fresh_database
from tests.receiver import receiver

EXAMPLES = 30
"""Generated requests per operation (both modes together), on top of declared examples."""

MAX_WAIT_MS = 50
"""Long-polls (``waitMs``, ``maxWaitMs``) are cut to this so a generated 30 s wait stays short."""

CKO_PREFIXES = ("/webhooks", "/workflows", "/events", "/deliveries")
ADMIN_PREFIXES = ("/api/reviewers", "/api/groups", "/api/policies")


def credentials(path: str) -> dict[str, str]:
    """The credential each operation is meant to be called with."""
    if path == "/api/approvals/{approval_id}/decision":
        return {"Authorization": f"Bearer {REVIEWER_TOKEN}"}
    if path.startswith(CKO_PREFIXES):
        return {"Authorization": f"Bearer {CKO_SECRET_KEY}"}
    if path.startswith(ADMIN_PREFIXES):
        return {"Authorization": f"Bearer {ADMIN_KEY}"}
    return {"x-api-key": API_KEY}


def error_is_json_with_error(_ctx: CheckContext, response: Response, case: Case) -> bool | None:
    """A 4xx (or 5xx) answer is a JSON object with an ``error`` string."""
    if response.status_code < 400:
        return None
    content_type = (response.headers.get("content-type") or [""])[0]
    assert content_type.startswith("application/json"), (
        f"{case.method} {case.path}: {response.status_code} answered {content_type!r}, not JSON"
    )
    body = json.loads(response.content)
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], (
        f"{case.method} {case.path}: {response.status_code} without an `error` string: {body!r}"
    )
    return True


CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
    error_is_json_with_error,
]


def openapi_document() -> dict[str, Any]:
    """The document ``/openapi.json`` serves (``test_fuzzed_document_is_the_served_one``).

    Built from the app rather than fetched, so that pytest sees one test per operation;
    the app is never started here and opens no database.
    """
    return create_app(Settings(database_url="sqlite:////nonexistent/never-opened.db")).openapi()


DOCUMENT = openapi_document()
schema = schemathesis.openapi.from_dict(DOCUMENT)
schema.config.update(request_timeout=30)
schema.config.phases.update(phases=["examples", "fuzzing"])
schema.config.generation.update(
    modes=list(GenerationMode),  # positive (valid) and negative (invalid) requests
    max_examples=EXAMPLES,
    deterministic=True,
)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """The service on each database: SQLite, then a fresh PostgreSQL database.

    Module-scoped, so the whole fuzz run shares one service per database (pytest groups
    the tests by database); this overrides the SQLite-only ``service`` of conftest.
    """
    workdir = tmp_path_factory.mktemp(f"fuzz-{request.param}")
    if request.param == "sqlite":
        with launcher(workdir) as start:
            yield start()
        return
    pg_server: str = request.getfixturevalue("pg_server")
    with fresh_database(pg_server) as url, launcher(workdir) as start:
        yield start(url)


def test_fuzzed_document_is_the_served_one(service: ServiceProcess) -> None:
    served = httpx.get(f"{service.url}/openapi.json", timeout=30)
    assert served.status_code == 200
    assert served.json() == json.loads(json.dumps(DOCUMENT))
    operations = [op for path in DOCUMENT["paths"].values() for op in path]
    assert len(operations) >= 42


class Resources:
    """Real objects on the service, so generated requests reach past ``404 not found``.

    A valid (positive-mode) case has its path ids replaced by ids that exist, re-created
    when an earlier case deleted or replaced them; invalid cases keep their generated ids.
    """

    def __init__(self, service: ServiceProcess, hook_url: str) -> None:
        self.http = httpx.Client(base_url=service.url, timeout=30)
        self.hook_url = hook_url
        self.webhook_id = ""
        self.workflow_id = ""
        self.ensure_webhook()
        self.ensure_workflow()
        self.subject_id = "pay_fuzz_subject"
        event = self.call(
            "POST", "/events", {"type": "payment_approved", "data": {"id": self.subject_id}}
        )
        self.event_id = event["id"]
        deliveries = self.call("GET", f"/events/{self.event_id}/deliveries")["data"]
        assert deliveries, "the event reached neither the webhook nor the workflow"
        self.delivery_id = deliveries[0]["id"]

    def call(self, method: str, path: str, body: object = None) -> Any:
        key = API_KEY if path.startswith("/api/") else CKO_SECRET_KEY
        response = self.http.request(
            method, path, json=body, headers={"Authorization": f"Bearer {key}"}
        )
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json() if response.content else None

    def new_approval(self) -> str:
        body = {"action": "fuzz", "summary": "fuzzing", "details": {"n": 1}}
        return str(self.call("POST", "/api/approvals/request", body)["id"])

    def ensure_webhook(self) -> str:
        if (
            not self.webhook_id
            or self.http.get(
                f"/webhooks/{self.webhook_id}",
                headers={"Authorization": f"Bearer {CKO_SECRET_KEY}"},
            ).status_code
            == 404
        ):
            body = {
                "url": f"{self.hook_url}?n={secrets.token_hex(4)}",
                "event_types": ["payment_approved"],
            }
            self.webhook_id = self.call("POST", "/webhooks", body)["id"]
        return self.webhook_id

    def ensure_workflow(self) -> dict[str, Any]:
        """The workflow, with at least one action and one condition."""
        found = None
        if self.workflow_id:
            response = self.http.get(
                f"/workflows/{self.workflow_id}",
                headers={"Authorization": f"Bearer {CKO_SECRET_KEY}"},
            )
            if response.status_code == 200:
                found = response.json()
        if not found or not found.get("actions") or not found.get("conditions"):
            body = {
                "name": "fuzz",
                "conditions": [{"type": "event", "events": {"gateway": ["payment_approved"]}}],
                "actions": [{"type": "webhook", "url": self.hook_url}],
            }
            self.workflow_id = self.call("POST", "/workflows", body)["id"]
            found = self.call("GET", f"/workflows/{self.workflow_id}")
        return found

    def path_ids(self, names: set[str]) -> dict[str, str]:
        ids: dict[str, str] = {}
        if "approval_id" in names:
            ids["approval_id"] = self.new_approval()
        if "webhook_id" in names:
            ids["webhook_id"] = self.ensure_webhook()
        if names & {"workflow_id", "action_id", "condition_id"}:
            workflow = self.ensure_workflow()
            ids["workflow_id"] = workflow["id"]
            ids["action_id"] = workflow["actions"][0]["id"]
            ids["condition_id"] = workflow["conditions"][0]["id"]
        ids.update(event_id=self.event_id, subject_id=self.subject_id, delivery_id=self.delivery_id)
        ids["reviewer"] = "alice"  # --reviewer-token alice=...: known to every service
        return {name: value for name, value in ids.items() if name in names}


@pytest.fixture(scope="module")
def resources(service: ServiceProcess) -> Iterator[Resources]:
    with receiver() as hook:
        made = Resources(service, hook.url)
        yield made
        made.http.close()


def use_real_ids(case: Case, resources: Resources) -> None:
    meta = case.meta
    if meta is None or meta.generation.mode is not GenerationMode.POSITIVE:
        return
    if case.path_parameters:
        case.path_parameters = {
            **case.path_parameters,
            **resources.path_ids(set(case.path_parameters)),
        }


def shorten_waits(case: Case) -> None:
    """Keep generated long-polls short: the fuzz run is bounded by examples, not by waits."""
    for container, name in ((case.query, "waitMs"), (case.body, "maxWaitMs")):
        if isinstance(container, dict):
            wait = container.get(name)
            if isinstance(wait, int) and wait > MAX_WAIT_MS:
                container[name] = MAX_WAIT_MS


@schema.parametrize()
@hypothesis.settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation(case: Case, service: ServiceProcess, resources: Resources) -> None:
    use_real_ids(case, resources)
    shorten_waits(case)
    case.call_and_validate(
        base_url=service.url, headers=credentials(case.operation.path), checks=CHECKS
    )


# -- regressions of what the fuzzing found -------------------------------------------------


def operations_with_a_body() -> list[tuple[str, str]]:
    """Operations that take JSON (``/slack/interactions`` takes Slack's signed form)."""
    return [
        (method.upper(), path)
        for path, item in DOCUMENT["paths"].items()
        for method, operation in item.items()
        if "application/json" in operation.get("requestBody", {}).get("content", {})
    ]


def test_a_body_that_is_not_json_is_a_documented_400(
    service: ServiceProcess, resources: Resources
) -> None:
    """Found by fuzzing: 12 of the 18 operations with a body answered an undocumented 400."""
    assert len(operations_with_a_body()) >= 18
    for method, path in operations_with_a_body():
        names = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        url = path.format(**resources.path_ids(names))
        response = httpx.request(
            method,
            service.url + url,
            content=b"\x00",
            headers={"Content-Type": "application/json", **credentials(path)},
            timeout=30,
        )
        assert response.status_code == 400, (method, path, response.text)
        assert response.json()["error"] == "request body is not valid JSON"
        documented = DOCUMENT["paths"][path][method.lower()]["responses"]
        assert "400" in documented, f"{method} {path} does not document its 400"
        assert "413" in documented, f"{method} {path} does not document its 413"


def test_empty_answers_are_documented_without_a_body(
    service: ServiceProcess, resources: Resources
) -> None:
    """Found by fuzzing: these answer an empty body where the document promised JSON."""
    cko = {"Authorization": f"Bearer {CKO_SECRET_KEY}"}
    workflow = resources.ensure_workflow()
    action, condition = workflow["actions"][0], workflow["conditions"][0]
    event, subject, workflow_id = resources.event_id, resources.subject_id, workflow["id"]
    calls: list[tuple[str, str, str, object, int]] = [
        ("POST", "/workflows/events/reflow", "/workflows/events/reflow", {"events": [event]}, 202),
        ("POST", "/workflows/events/{event_id}/reflow", f"/workflows/events/{event}/reflow", None, 202),
        (
            "POST", "/workflows/events/{event_id}/workflow/{workflow_id}/reflow",
            f"/workflows/events/{event}/workflow/{workflow_id}/reflow", None, 202,
        ),
        (
            "POST", "/workflows/events/subject/{subject_id}/reflow",
            f"/workflows/events/subject/{subject}/reflow", None, 202,
        ),
        (
            "POST", "/workflows/events/subject/{subject_id}/workflow/{workflow_id}/reflow",
            f"/workflows/events/subject/{subject}/workflow/{workflow_id}/reflow", None, 202,
        ),
        (
            "PUT", "/workflows/{workflow_id}/actions/{action_id}",
            f"/workflows/{workflow_id}/actions/{action['id']}",
            {"type": "webhook", "url": resources.hook_url}, 200,
        ),
        (
            "PUT", "/workflows/{workflow_id}/conditions/{condition_id}",
            f"/workflows/{workflow_id}/conditions/{condition['id']}",
            {"type": "entity", "entities": ["ent_fuzz"]}, 200,
        ),
        (
            "DELETE", "/webhooks/{webhook_id}", f"/webhooks/{resources.ensure_webhook()}",
            None, 200,
        ),
    ]  # fmt: skip
    for method, template, url, body, status in calls:
        response = httpx.request(method, service.url + url, json=body, headers=cko, timeout=30)
        assert response.status_code == status, (method, url, response.text)
        assert response.content == b""
        documented = DOCUMENT["paths"][template][method.lower()]["responses"][str(status)]
        assert "content" not in documented, f"{method} {template} promises a body on {status}"
