"""The policies client's requests, read off its sans-I/O calls without any server.

As tests/core/test_reviewers_client.py: each call yields the ``httpx.Request`` it would
send, answered here with real ``httpx.Response`` objects, so that the shapes, the admin
key header, the retry rule and the 422 ``problems`` are pinned where no server can blur
them. What the service does with them: tests/server/test_cli_policies.py.
"""

from __future__ import annotations

import inspect
import json
import pickle
from collections.abc import Generator
from typing import Any, TypeVar

import httpx
import pytest

from signoff.client import (
    AsyncPoliciesClient,
    InvalidRequest,
    NotFound,
    PoliciesClient,
    Problem,
    ServerError,
)
from signoff.client._transport import RetryPolicy, Sleep
from signoff.client.policies import PolicyCalls
from signoff.models.policies import PolicyApplied, PolicyTestReport, PolicyVersion
from signoff.policies import loads

T = TypeVar("T")
KEY = "admin-secret"
calls = PolicyCalls("http://signoff.test/", admin_key=KEY, retry=RetryPolicy(attempts=3))

FILE = loads(
    """
groups:
  finance: {members: [bob, carol]}
policies:
  - name: small
    when: details.amount < 50
    decide: approve
  - name: big
    groups: [finance]
    required_approvals: 2
    sla: {within: 30m}
"""
)
DOCUMENT = FILE.document()
PLAN = {
    "version": 3,
    "changes": [{"op": "move", "kind": "policy", "name": "big", "before": 0, "after": 1}],
    "changed": True,
}


def first_request(call: Generator[Any, Any, Any]) -> httpx.Request:
    request = next(call)
    assert isinstance(request, httpx.Request)
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert "x-api-key" not in request.headers
    return request


def answer(call: Generator[Any, Any, T], status: int, body: Any) -> T:
    request = first_request(call)
    try:
        call.send(httpx.Response(status, json=body, request=request))
    except StopIteration as done:
        return done.value
    raise AssertionError("the call asked for more")


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


@pytest.mark.parametrize(
    ("name", "method", "path"),
    [
        ("validate", "POST", "/api/policies/validate"),
        ("plan", "POST", "/api/policies/plan"),
        ("apply", "PUT", "/api/policies"),
    ],
)
def test_documents_go_as_the_canonical_json(name: str, method: str, path: str) -> None:
    request = first_request(getattr(calls, name)(FILE))
    assert (request.method, request.url.path) == (method, path)
    assert body(request) == {"document": DOCUMENT}
    assert body(first_request(getattr(calls, name)(DOCUMENT))) == {"document": DOCUMENT}


def test_answers_are_read_as_the_wire_models() -> None:
    valid = answer(calls.validate(FILE), 200, {"valid": True, "policies": 2, "groups": 1})
    assert (valid.policies, valid.groups) == (2, 1)
    plan = answer(calls.plan(FILE), 200, PLAN)
    assert plan.changed and plan.changes[0].op == "move" and plan.changes[0].after == 1
    applied = answer(calls.apply(FILE), 200, {**PLAN, "version": 4})
    assert isinstance(applied, PolicyApplied) and applied.version == 4


def test_active_is_none_before_the_first_apply() -> None:
    version = {
        "version": 2,
        "document": DOCUMENT,
        "createdAt": "2026-03-18T14:32:00.000Z",
        "createdBy": "admin",
    }
    active = answer(calls.active(), 200, version)
    assert isinstance(active, PolicyVersion) and active.created_by == "admin"
    request = first_request(calls.active())
    assert (request.method, request.url.path) == ("GET", "/api/policies")
    assert answer(calls.active(), 404, {"error": "no policy with id 'active'"}) is None


def test_a_service_without_policies_is_not_read_as_none_applied() -> None:
    """The framework's own 404 (no such route) is an error, not "nothing applied"."""
    with pytest.raises(NotFound):
        answer(calls.active(), 404, {"error": "Not Found"})


def test_test_sends_the_window_and_the_limit() -> None:
    request = first_request(calls.test(FILE, since_seconds=12 * 3600, limit=500))
    assert (request.method, request.url.path) == ("POST", "/api/policies/test")
    assert body(request) == {"document": DOCUMENT, "sinceSeconds": 43200, "limit": 500}
    assert body(first_request(calls.test(FILE)))["sinceSeconds"] == 30 * 86400
    with pytest.raises(ValueError, match="since_seconds"):
        next(calls.test(FILE, since_seconds=0))
    report = answer(
        calls.test(FILE),
        200,
        {
            "approvals": 3,
            "since": "2026-02-16T00:00:00.000Z",
            "rules": [
                {"name": "small", "matched": 2, "autoApproved": 2, "changed": 1, "examples": ["a"]}
            ],
            "unmatched": 1,
            "changed": 1,
        },
    )
    assert isinstance(report, PolicyTestReport)
    assert report.rules[0].auto_approved == 2 and report.rules[0].examples == ["a"]


def test_a_refused_document_carries_its_problems() -> None:
    refused = {
        "error": "the policy file cannot be used: policies.0.when: not a valid CEL expression",
        "problems": [
            {"field": "policies.0.when", "message": "not a valid CEL expression: ..."},
            {"field": "policies.1", "message": "no group named leads (define it under groups)"},
        ],
    }
    with pytest.raises(InvalidRequest) as caught:
        answer(calls.plan(FILE), 422, refused)
    assert caught.value.status_code == 422
    assert caught.value.problems == [
        Problem("policies.0.when", "not a valid CEL expression: ..."),
        Problem("policies.1", "no group named leads (define it under groups)"),
    ]
    again = pickle.loads(pickle.dumps(caught.value))  # engines pickle a failed run's error
    assert again.problems == caught.value.problems
    with pytest.raises(InvalidRequest) as bare:
        answer(calls.validate(FILE), 422, {"error": "document: Field required"})
    assert bare.value.problems == []


def test_apply_and_active_are_retried_the_posts_are_sent_once() -> None:
    for call, method in ((calls.active(), "GET"), (calls.apply(FILE), "PUT")):
        request = first_request(call)
        assert request.method == method
        pause = call.send(httpx.Response(503, json={"error": "busy"}, request=request))
        assert isinstance(pause, Sleep)
        again = call.send(None)
        assert isinstance(again, httpx.Request) and again.content == request.content
    for call in (calls.validate(FILE), calls.plan(FILE), calls.test(FILE)):
        request = first_request(call)
        with pytest.raises(ServerError):
            call.send(httpx.Response(503, json={"error": "busy"}, request=request))


def test_both_clients_have_every_call_and_keep_the_key_out_of_reprs() -> None:
    names = ("active", "validate", "plan", "apply", "test")
    assert all(callable(getattr(PoliciesClient, n)) for n in names)
    assert all(inspect.iscoroutinefunction(getattr(AsyncPoliciesClient, n)) for n in names)
    with PoliciesClient("http://signoff.test", admin_key=KEY) as client:
        assert KEY not in repr(client) and KEY not in repr(client.calls)
