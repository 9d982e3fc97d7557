"""Acknowledged means kept, exactly once: real concurrent requests on SQLite and PostgreSQL.

Every collection endpoint is hit by many writers at once (asyncio + httpx, one connection
each), and afterwards the service must hold exactly what it acknowledged: each 2xx'd
object present once, no lost read-modify-write, one object per idempotency key.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest

from signoff.server.process import ServiceProcess
from tests.conftest import API_KEY, CKO_PREVIOUS_KEY, CKO_SECRET_KEY, launcher
from tests.pg import fresh_database


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def db_service(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    """One service per database for the module: start-up costs seconds on 2 cores."""
    with launcher(tmp_path_factory.mktemp("concurrency")) as start:
        if request.param == "sqlite":
            yield start()
        else:
            with fresh_database(request.getfixturevalue("pg_server")) as url:
                yield start(url)


WORKFLOWS = {"Authorization": f"Bearer {CKO_SECRET_KEY}"}
WEBHOOKS = {"Authorization": CKO_PREVIOUS_KEY}
APPROVALS = {"x-api-key": API_KEY}


def action(n: int) -> dict[str, Any]:
    return {"type": "webhook", "url": f"https://receiver.example/{n}", "headers": {"X-N": str(n)}}


def condition(n: int) -> dict[str, Any]:
    return {"type": "entity", "entities": [f"ent_{n}"]}


def workflow_body(name: str) -> dict[str, Any]:
    return {"name": name, "actions": [action(0)]}


async def at_once(
    count: int, send: Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]
) -> list[httpx.Response]:
    """``count`` requests in flight together, each on its own connection."""
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=60, limits=limits) as client:
        return list(await asyncio.gather(*(send(client, n) for n in range(count))))


def new_workflow(service: ServiceProcess, name: str) -> str:
    created = httpx.post(f"{service.url}/workflows", json=workflow_body(name), headers=WORKFLOWS)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def workflow(service: ServiceProcess, workflow_id: str) -> dict[str, Any]:
    found = httpx.get(f"{service.url}/workflows/{workflow_id}", headers=WORKFLOWS)
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


def item_ids(items: list[dict[str, Any]]) -> set[str]:
    return {item.get("workflow_action_id") or item["id"] for item in items}


@pytest.mark.parametrize("part", ["actions", "conditions"])
def test_concurrent_adds_to_one_workflow_all_survive(db_service: ServiceProcess, part: str) -> None:
    """50 writers of workflow parts over 5 workflows: every acknowledged one is kept."""
    service = db_service
    ids = [new_workflow(service, f"wf-{part}-{n}") for n in range(5)]
    make = action if part == "actions" else condition

    async def add(client: httpx.AsyncClient, n: int) -> httpx.Response:
        url = f"{service.url}/workflows/{ids[n % 5]}/{part}"
        return await client.post(url, json=make(n + 1), headers=WORKFLOWS)

    answers = asyncio.run(at_once(50, add))
    assert [a.status_code for a in answers] == [201] * 50, [a.text for a in answers]
    acknowledged = {a.json()["id"] for a in answers}
    stored = set()
    for workflow_id in ids:
        stored |= item_ids(workflow(service, workflow_id)[part])
    assert acknowledged <= stored, f"lost {len(acknowledged - stored)} acknowledged {part}"


def test_the_limit_holds_under_concurrency(db_service: ServiceProcess) -> None:
    """30 writers race for the 19 free action slots: 19 win, 11 get 422, 20 are stored."""
    service = db_service
    workflow_id = new_workflow(service, "crowded")

    async def add(client: httpx.AsyncClient, n: int) -> httpx.Response:
        url = f"{service.url}/workflows/{workflow_id}/actions"
        return await client.post(url, json=action(n + 1), headers=WORKFLOWS)

    answers = asyncio.run(at_once(30, add))
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] * 19 + [422] * 11, codes
    refused = next(a for a in answers if a.status_code == 422)
    assert "at most 20" in refused.json()["error"]
    stored = item_ids(workflow(service, workflow_id)["actions"])
    assert len(stored) == 20
    assert {a.json()["id"] for a in answers if a.status_code == 201} <= stored


def test_patch_racing_adds_loses_nothing(db_service: ServiceProcess) -> None:
    """Renames and adds at the same moment: every add survives, the name is a renamed one."""
    service = db_service
    workflow_id = new_workflow(service, "renamed")

    async def send(client: httpx.AsyncClient, n: int) -> httpx.Response:
        url = f"{service.url}/workflows/{workflow_id}"
        if n % 2:
            return await client.patch(url, json={"name": f"name-{n}"}, headers=WORKFLOWS)
        return await client.post(f"{url}/conditions", json=condition(n), headers=WORKFLOWS)

    answers = asyncio.run(at_once(20, send))
    assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers]
    found = workflow(service, workflow_id)
    added = {a.json()["id"] for a in answers if a.status_code == 201}
    assert added == item_ids(found["conditions"])
    assert found["name"].startswith("name-")


IdempotentCreate = Callable[[ServiceProcess, str], tuple[str, str, dict[str, Any], dict[str, str]]]


def _event(service: ServiceProcess, tag: str) -> tuple[str, str, dict[str, Any], dict[str, str]]:
    body = {"type": "payment_approved", "data": {"id": f"pay_{tag}"}}
    return "POST", "/events", body, APPROVALS


def _workflow(service: ServiceProcess, tag: str) -> tuple[str, str, dict[str, Any], dict[str, str]]:
    return "POST", "/workflows", workflow_body(f"idem-{tag}"), WORKFLOWS


def _webhook(service: ServiceProcess, tag: str) -> tuple[str, str, dict[str, Any], dict[str, str]]:
    body = {"url": f"https://receiver.example/{tag}", "event_types": ["payment_approved"]}
    return "POST", "/webhooks", body, WEBHOOKS


def _action(service: ServiceProcess, tag: str) -> tuple[str, str, dict[str, Any], dict[str, str]]:
    workflow_id = new_workflow(service, f"idem-action-{tag}")
    return "POST", f"/workflows/{workflow_id}/actions", action(7), WORKFLOWS


def _approval(service: ServiceProcess, tag: str) -> tuple[str, str, dict[str, Any], dict[str, str]]:
    body = {"action": "refund.batch", "summary": f"idempotent {tag}"}
    return "POST", "/api/approvals/request", body, APPROVALS


def _count(service: ServiceProcess, path: str, tag: str) -> int:
    """How many objects the create of ``path`` made, counted from the service's reads."""
    if path == "/events":
        found = httpx.get(
            f"{service.url}/workflows/events/subject/pay_{tag}", headers=WORKFLOWS
        ).json()["data"]
        return len(found)
    if path == "/workflows":
        data = httpx.get(f"{service.url}/workflows", headers=WORKFLOWS).json()["data"]
        return sum(1 for w in data if w["name"] == f"idem-{tag}")
    if path == "/webhooks":
        listed = httpx.get(f"{service.url}/webhooks", headers=WEBHOOKS)
        hooks = listed.json() if listed.status_code == 200 else []
        return sum(1 for h in hooks if h["url"] == f"https://receiver.example/{tag}")
    if path.endswith("/actions"):
        actions = workflow(service, path.split("/")[2])["actions"]
        return sum(1 for a in actions if a["url"] == "https://receiver.example/7")
    listed = httpx.get(f"{service.url}/api/approvals?limit=500", headers=APPROVALS).json()
    return sum(1 for a in listed["data"] if a["summary"] == f"idempotent {tag}")


@pytest.mark.parametrize(
    "create",
    [_event, _workflow, _webhook, _action, _approval],
    ids=["events", "workflows", "webhooks", "workflow-actions", "approvals"],
)
def test_concurrent_twins_with_one_key_make_one_object(
    db_service: ServiceProcess, create: IdempotentCreate
) -> None:
    service = db_service
    tag = uuid.uuid4().hex[:12]
    method, path, body, headers = create(service, tag)
    key_header = "Idempotency-Key" if path.startswith("/api/") else "Cko-Idempotency-Key"
    keyed = {**headers, key_header: f"key-{tag}"}

    async def send(client: httpx.AsyncClient, _n: int) -> httpx.Response:
        return await client.request(method, service.url + path, json=body, headers=keyed)

    answers = asyncio.run(at_once(20, send))
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1, "twins were answered different objects"
    assert _count(service, path, tag) == 1
    # The same key with another body is refused and creates nothing.
    other = json.loads(json.dumps(body).replace(tag, tag + "-other"))
    if path.endswith("/actions"):
        other["headers"] = {"X-Other": "1"}
    reused = httpx.request(method, service.url + path, json=other, headers=keyed)
    assert reused.status_code in (409, 422), reused.text
    assert _count(service, path, tag) == 1
