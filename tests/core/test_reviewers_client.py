"""The reviewers client's requests, read off its sans-I/O calls without any server.

Each call is a generator that yields the ``httpx.Request`` it would send; these tests
look at those requests and answer them with real ``httpx.Response`` objects, so the
shapes, the admin key header and the retry rule are pinned where no server can blur
them. What the service does with them is tested in tests/server/test_cli_reviewers.py.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from typing import Any, TypeVar

import httpx
import pytest

from signoff.client import ReviewersClient, ServerError
from signoff.client._transport import RetryPolicy, Sleep
from signoff.client.reviewers import ReviewerCalls
from signoff.models import ReviewerCreated, ReviewerUpdate

T = TypeVar("T")
KEY = "admin-secret"
calls = ReviewerCalls("http://signoff.test/", admin_key=KEY, retry=RetryPolicy(attempts=3))

REVIEWER = {"name": "bob", "email": None, "groups": ["finance"], "active": True}


def first_request(call: Generator[Any, Any, Any]) -> httpx.Request:
    request = next(call)
    assert isinstance(request, httpx.Request)
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert "x-api-key" not in request.headers
    return request


def answer(call: Generator[Any, Any, T], status: int, body: Any) -> T:
    """Answer the call's pending request once; what it returns."""
    request = first_request(call)
    try:
        call.send(httpx.Response(status, json=body, request=request))
    except StopIteration as done:
        return done.value
    raise AssertionError("the call asked for more")


def body(request: httpx.Request) -> Any:
    return json.loads(request.content)


def test_add_posts_name_email_and_groups_and_returns_the_token() -> None:
    request = first_request(calls.add("bob", email="bob@example.com", groups=("finance", "ops")))
    assert (request.method, request.url.path) == ("POST", "/api/reviewers")
    assert body(request) == {
        "name": "bob",
        "email": "bob@example.com",
        "groups": ["finance", "ops"],
    }
    assert body(first_request(calls.add("bob"))) == {"name": "bob", "groups": []}
    assert body(first_request(calls.add("bob", groups="finance")))["groups"] == ["finance"]

    created = answer(calls.add("bob"), 201, {**REVIEWER, "token": "so_rev_x"})
    assert isinstance(created, ReviewerCreated) and created.token == "so_rev_x"


def test_add_is_sent_once_its_answer_cannot_be_replayed() -> None:
    """The token is in that one answer: a retry would find the name taken (409)."""
    call = calls.add("bob")
    request = first_request(call)
    with pytest.raises(ServerError):
        call.send(httpx.Response(503, json={"error": "busy"}, request=request))


@pytest.mark.parametrize(
    ("name", "email", "what"),
    [("no spaces", None, "name"), ("-x", None, "name"), ("bob", "nope", "email")],
)
def test_add_refuses_what_the_service_would_before_sending(
    name: str, email: str | None, what: str
) -> None:
    with pytest.raises(ValueError, match=what):
        next(calls.add(name, email=email))


def test_update_sends_only_what_is_given() -> None:
    def patch(*args: Any, **kwargs: Any) -> Any:
        request = first_request(calls.update("bob", *args, **kwargs))
        assert (request.method, request.url.path) == ("PATCH", "/api/reviewers/bob")
        return body(request)

    assert patch(groups=["audit", "finance"]) == {"groups": ["audit", "finance"]}
    assert patch(groups=[]) == {"groups": []}  # in no group: not "unchanged"
    assert patch(active=False) == {"active": False}
    assert patch(email="b@example.com") == {"email": "b@example.com"}
    assert patch({"email": None}) == {"email": None}  # clears it
    assert patch(ReviewerUpdate(active=True), groups=["ops"]) == {"active": True, "groups": ["ops"]}
    with pytest.raises(ValueError, match="groups"):
        next(calls.update("bob", groups=["a", "a"]))


def test_names_are_one_path_segment() -> None:
    assert first_request(calls.get("a/../b")).url.raw_path == b"/api/reviewers/a%2F..%2Fb"
    assert (
        first_request(calls.remove("bob@example.com")).url.path == "/api/reviewers/bob@example.com"
    )


def test_reads_and_remove_are_retried() -> None:
    for call, method in ((calls.list(), "GET"), (calls.remove("bob"), "DELETE")):
        request = first_request(call)
        assert request.method == method
        pause = call.send(httpx.Response(503, json={"error": "busy"}, request=request))
        assert isinstance(pause, Sleep)
        again = call.send(None)
        assert isinstance(again, httpx.Request) and again.url == request.url


def test_lists_read_the_data_envelope() -> None:
    listed = answer(calls.list(), 200, {"data": [REVIEWER]})
    assert [r.name for r in listed] == ["bob"]
    groups = answer(calls.groups(), 200, {"data": [{"name": "finance", "members": ["bob"]}]})
    assert groups[0].members == ["bob"]
    assert first_request(calls.groups()).url.path == "/api/groups"


def test_the_admin_key_stays_out_of_reprs() -> None:
    with ReviewersClient("http://signoff.test", admin_key=KEY) as client:
        assert KEY not in repr(client) and KEY not in repr(client.calls)
