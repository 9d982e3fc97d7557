"""A corpus of bad input against the real service, on SQLite and on PostgreSQL.

Every input of the corpus is sent to one running service per database, and then:

* no answer is a 5xx (nor a dropped connection): bad input gets 400/404/409/413/422;
* every 4xx is JSON with a non-empty ``error`` string;
* what the contract says must be refused is refused (reserved or unsendable headers,
  more than 20 actions or conditions, nesting past 32 levels, fields over their limit...);
* a refused request changes nothing: the approval, webhook or workflow it aimed at reads
  the same before and after, and the rows stored are exactly those the accepted (2xx)
  requests created (counted through the list endpoints);
* nothing stored makes a later read fail: each row an accepted request created reads
  back at once, and after the whole corpus every list, every approval, webhook, workflow
  and event created answers 200.

Bodies are written as raw bytes (``Raw`` fragments) where ``json.dumps`` cannot say what
the corpus needs: lone surrogates (``"\\ud800"``), ``NaN``, ``Infinity``, ``1e400``,
nesting thousands of levels deep.

Violations are collected over the whole corpus and asserted once at the end, one line
each: ``METHOD path [class: input] -> status: what is wrong | the service log's last
traceback line``.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from signoff.server.process import ServiceProcess, free_port
from tests.conftest import API_KEY, CKO_PREVIOUS_KEY, CKO_SECRET_KEY, REVIEWER_TOKEN
from tests.receiver import Receiver, receiver

CLOSED_PORT = free_port()
"""Nothing listens here: the URLs of the corpus's webhooks and actions point at it."""

SERIAL = itertools.count(1)
ALLOWED_4XX = frozenset({400, 404, 409, 413, 422})
DEPTHS = (33, 100, 319, 1000, 5000)
BAD_NUMBERS = ("NaN", "Infinity", "-Infinity", "1e400", "-1e400")
MAX_PARTS = 20


class Raw(str):
    """JSON text put into a body verbatim (a lone surrogate escape, ``NaN``, deep nesting)."""


def encode(value: Any) -> str:
    """JSON text of ``value``; ``Raw`` parts (values and keys) go in as they are."""
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, dict):
        members = (
            f"{key if isinstance(key, Raw) else json.dumps(key)}:{encode(item)}"
            for key, item in value.items()
        )
        return "{" + ",".join(members) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(encode(item) for item in value) + "]"
    return json.dumps(value)


def text(value: str) -> Raw:
    """A JSON string literal written as given: ``text("\\\\ud800")`` is a lone surrogate."""
    return Raw(f'"{value}"')


def nested(depth: int, leaf: str = '"deep"') -> Raw:
    """An object ``depth`` levels deep (``{"a":{"a":...}}``)."""
    return Raw('{"a":' * depth + leaf + "}" * depth)


def nested_list(depth: int) -> Raw:
    return Raw("[" * depth + "]" * depth)


def hook_url() -> str:
    """A fresh URL (webhook URLs are unique) on a port nothing listens on."""
    return f"http://127.0.0.1:{CLOSED_PORT}/corpus/{next(SERIAL)}"


# -- valid bodies, which each case spoils in one place --------------------------------


def approval_body() -> dict[str, Any]:
    return {
        "action": "bad-input",
        "summary": "an approval of the bad-input corpus",
        "details": {"n": 1, "items": ["a", "b"]},
        "justification": "testing",
        "trace": {"run": "r1"},
        "source": {
            "system": "corpus",
            "pipeline": "pipeline",
            "run": "run",
            "task": "task",
            "url": "http://127.0.0.1/run",
        },
    }


def inbound_body() -> dict[str, Any]:
    return {
        "action": "bad-input",
        "summary": "inbound",
        "details": {"n": 1},
        "justification": "testing",
    }


def decision_body() -> dict[str, Any]:
    return {"decision": "approve", "note": "fine", "modifiedDetails": {"n": 2}}


def webhook_body() -> dict[str, Any]:
    return {"url": hook_url(), "headers": {"X-Corpus": "1"}, "event_types": ["dispute_won"]}


def action_body() -> dict[str, Any]:
    return {
        "type": "webhook",
        "url": hook_url(),
        "headers": {"X-Corpus": "1"},
        "signature": {"method": "HMACSHA256", "key": "corpus-signing-key"},
    }


def event_condition() -> dict[str, Any]:
    return {"type": "event", "events": {"dispute": ["dispute_won"]}}


def conditions() -> list[dict[str, Any]]:
    return [
        event_condition(),
        {"type": "entity", "entities": ["ent_corpus"]},
        {"type": "processing_channel", "processing_channels": ["pc_corpus"]},
    ]


def workflow_body() -> dict[str, Any]:
    return {"name": "corpus", "conditions": conditions(), "actions": [action_body()]}


def event_body() -> dict[str, Any]:
    """No ``subject_id``: the subject is ``data.id``, which the corpus spoils too."""
    return {"type": "payment_approved", "data": {"id": f"pay_corpus_{next(SERIAL)}", "n": 1}}


# -- the corpus -------------------------------------------------------------------------


@dataclass
class Case:
    klass: str
    label: str
    method: str
    path: str
    """May hold one placeholder of ``TARGETS`` (made fresh for the case) and ``@TOKENS@``."""
    body: Any = None
    """``None``: no body; ``bytes``: sent as they are; else written with :func:`encode`."""
    query: str = ""
    refuse: bool | int = False
    """``True``: must answer a 4xx; a number: must answer exactly that."""
    creates: str | None = None
    """The kind of row a 2xx creates: ``approval``, ``webhook``, ``workflow`` or ``event``."""
    parts: tuple[int, int] | None = None
    """How many actions and conditions a workflow this creates must hold."""
    headers: dict[str, str | bytes] = field(default_factory=dict)

    @property
    def where(self) -> str:
        return f"{self.method} {self.path}{self.query} [{self.klass}: {self.label}]"


StringField = tuple[tuple[Any, ...], str, int | None]
"""Where a string sits in the body, what it is (text, url, callback, event_type), its limit."""
ObjectField = tuple[tuple[Any, ...], str]
"""Where an object sits, and what it is: json (any object), headers, events."""


@dataclass
class Writer:
    name: str
    method: str
    path: str
    base: Callable[[], dict[str, Any]]
    creates: str | None = None
    parts: tuple[int, int] | None = None
    strings: list[StringField] = field(default_factory=list)
    objects: list[ObjectField] = field(default_factory=list)

    @property
    def validation_status(self) -> int:
        """Seed 002 answers an invalid webhook 400; everything else says 422."""
        return 400 if self.path.startswith("/webhooks") else 422


WEBHOOK_FIELDS: list[StringField] = [
    (("url",), "url", 2000),
    (("event_types", 0), "event_type", None),
]
ACTION_FIELDS: list[StringField] = [
    (("url",), "url", 2000),
    (("signature", "key"), "text", 500),
    (("signature", "method"), "text", None),
]
WORKFLOW_FIELDS: list[StringField] = [
    (("name",), "text", 200),
    *[(("actions", 0, *where), kind, limit) for where, kind, limit in ACTION_FIELDS],
    (("conditions", 0, "events", "dispute", 0), "event_type", None),
    (("conditions", 1, "entities", 0), "text", None),
    (("conditions", 2, "processing_channels", 0), "text", None),
]
WORKFLOW_OBJECTS: list[ObjectField] = [
    (("actions", 0, "headers"), "headers"),
    (("conditions", 0, "events"), "events"),
]

WRITERS = [
    Writer(
        "approval", "POST", "/api/approvals/request", approval_body, creates="approval",
        strings=[
            (("action",), "text", 200), (("summary",), "text", 2000),
            (("justification",), "text", 10_000), (("webhookUrl",), "callback", 2000),
            (("source", "system"), "text", 50), (("source", "pipeline"), "text", 250),
            (("source", "run"), "text", 250), (("source", "task"), "text", 250),
            (("source", "url"), "text", 2000),
        ],
        objects=[(("details",), "json"), (("trace",), "json"), (("source",), "source")],
    ),
    Writer(
        "inbound", "POST", "/api/webhooks/inbound", inbound_body, creates="approval",
        strings=[
            (("action",), "text", 200), (("summary",), "text", 2000),
            (("justification",), "text", 10_000), (("callbackUrl",), "callback", 2000),
        ],
        objects=[(("details",), "json")],
    ),
    Writer(
        "decision", "POST", "/api/approvals/{approval}/decision", decision_body,
        strings=[(("note",), "text", 10_000), (("decision",), "text", None)],
        objects=[(("modifiedDetails",), "json")],
    ),
    Writer(
        "cancel", "POST", "/api/approvals/{approval}/cancel", lambda: {"reason": "withdrawn"},
        strings=[(("reason",), "text", 2000)],
    ),
    Writer(
        "wait", "POST", "/api/approvals/wait", lambda: {"ids": ["@APPROVAL@"], "maxWaitMs": 0},
        strings=[(("ids", 0), "text", None)],
    ),
    Writer(
        "webhook", "POST", "/webhooks", webhook_body, creates="webhook",
        strings=WEBHOOK_FIELDS, objects=[(("headers",), "headers")],
    ),
    Writer(
        "webhook_put", "PUT", "/webhooks/{webhook}", webhook_body,
        strings=WEBHOOK_FIELDS, objects=[(("headers",), "headers")],
    ),
    Writer(
        "webhook_patch", "PATCH", "/webhooks/{webhook}", webhook_body,
        strings=WEBHOOK_FIELDS, objects=[(("headers",), "headers")],
    ),
    Writer(
        "webhook_test", "POST", "/webhooks/@WEBHOOK@/test",
        lambda: {"event_types": ["payment_captured"]},
        strings=[(("event_types", 0), "event_type", None)],
    ),
    Writer(
        "workflow", "POST", "/workflows", workflow_body, creates="workflow", parts=(1, 3),
        strings=WORKFLOW_FIELDS, objects=WORKFLOW_OBJECTS,
    ),
    Writer(
        "workflow_patch", "PATCH", "/workflows/{workflow}", workflow_body,
        strings=WORKFLOW_FIELDS, objects=WORKFLOW_OBJECTS,
    ),
    Writer(
        "action_add", "POST", "/workflows/{workflow}/actions", action_body,
        strings=ACTION_FIELDS, objects=[(("headers",), "headers")],
    ),
    Writer(
        "action_put", "PUT", "/workflows/{workflow}/actions/{action}", action_body,
        strings=ACTION_FIELDS, objects=[(("headers",), "headers")],
    ),
    Writer(
        "condition_add", "POST", "/workflows/{workflow}/conditions", event_condition,
        strings=[(("events", "dispute", 0), "event_type", None)],
        objects=[(("events",), "events")],
    ),
    Writer(
        "condition_add_entity", "POST", "/workflows/{workflow}/conditions",
        lambda: {"type": "entity", "entities": ["ent_corpus"]},
        strings=[(("entities", 0), "text", None)],
    ),
    Writer(
        "condition_put", "PUT", "/workflows/{workflow}/conditions/{condition}", event_condition,
        strings=[(("events", "dispute", 0), "event_type", None)],
        objects=[(("events",), "events")],
    ),
    Writer(
        "workflow_test", "POST", "/workflows/@WORKFLOW@/test",
        lambda: {"event_types": ["payment_captured"]},
        strings=[(("event_types", 0), "event_type", None)],
    ),
    Writer(
        "event", "POST", "/events", event_body, creates="event",
        strings=[
            (("type",), "event_type", 100), (("data", "id"), "member", None),
            (("subject_id",), "text", 100), (("entity_id",), "text", 100),
            (("processing_channel_id",), "text", 100),
        ],
        objects=[(("data",), "json")],
    ),
    Writer(
        "reflow", "POST", "/workflows/events/reflow",
        lambda: {"events": ["@EVENT@"], "workflows": ["@WORKFLOW@"]},
        strings=[(("events", 0), "text", None), (("workflows", 0), "text", None)],
    ),
    Writer(
        "reflow_subjects", "POST", "/workflows/events/reflow",
        lambda: {"subjects": ["@SUBJECT@"]},
        strings=[(("subjects", 0), "text", None)],
    ),
]  # fmt: skip


def put(body: Any, where: tuple[Any, ...], value: Any) -> Any:
    """A copy of ``body`` with ``value`` at ``where`` (a missing last key is added)."""
    body = copy.deepcopy(body)
    if not where:
        return value
    holder = body
    for step in where[:-1]:
        holder = holder[step]
    holder[where[-1]] = value
    return body


def add_key(body: Any, where: tuple[Any, ...], key: Any, value: Any) -> Any:
    body = copy.deepcopy(body)
    holder = body
    for step in where:
        holder = holder[step]
    holder[key] = value
    return body


def string_values(kind: str, limit: int | None) -> list[tuple[str, str, Any, bool]]:
    """(class, label, value, must be refused) for one string field."""
    url = kind in ("url", "callback")
    prefix = f"http://127.0.0.1:{CLOSED_PORT}/s{next(SERIAL)}/" if url else ""
    if kind == "event_type":
        prefix = "payment_approved"
    values: list[tuple[str, str, Any, bool]] = [
        ("surrogate", "lone high \\ud800", text(prefix + "\\ud800"), False),
        ("surrogate", "lone low \\udfff", text(prefix + "x\\udfff"), False),
        ("surrogate", "reversed pair \\udfff\\ud800", text(prefix + "\\udfff\\ud800y"), False),
        ("nul", "\\u0000", prefix + "\x00", False),
        ("nul", "a\\u0000b", prefix + "a\x00b", False),
        ("wrong_type", "number", 12345, kind != "member"),
        ("wrong_type", "object", {"a": "b"}, kind != "member"),
    ]
    if limit is not None:
        values.append(("oversize", f"{limit + 1} characters", prefix + "x" * (limit + 1), True))
    else:
        values.append(("oversize", "300 000 characters", prefix + "x" * 300_000, False))
    if url:
        webhook, n = kind == "url", next(SERIAL)
        values += [
            ("url", "with spaces", prefix + "a b", webhook),
            ("url", "with userinfo", f"http://user:pa55w0rd@127.0.0.1:{CLOSED_PORT}/u{n}", False),
            ("url", "with CR/LF", prefix + "\r\nX-Injected: 1", False),
            ("url", "with a tab", prefix + "a\tb", False),
            ("url", "not http", "ftp://127.0.0.1/file", True),
            ("url", "no host", f"http:///n{n}", False),
            ("url", "broken IPv6 host", f"http://[::1/x{n}", False),
            ("url", "port out of range", f"http://127.0.0.1:99999/x{n}", False),
            ("url", "surrogate host", text(f"http://\\ud800.example/{n}"), False),
            ("url", "non-ASCII host", f"http://exämple.com/x{n}", False),
        ]
    return values


def object_values(kind: str) -> list[tuple[str, str, Any, bool]]:
    """(class, label, value, must be refused) for one JSON-object field."""
    hi, lo = text("\\ud800"), text("\\udfff")
    if kind == "headers":
        values: list[tuple[str, str, Any, bool]] = [
            ("surrogate", "key \\ud800", {hi: "v"}, False),
            ("surrogate", "value \\udfff", {"X-A": lo}, False),
            ("nul", "key", {"X-\x00": "v"}, False),
            ("nul", "value", {"X-A": "\x00"}, False),
        ]
    elif kind == "events":
        values = [
            ("surrogate", "key \\ud800", {hi: ["dispute_won"]}, False),
            ("surrogate", "value \\udfff", {"dispute": [lo]}, False),
            ("nul", "key", {"dis\x00pute": ["dispute_won"]}, False),
            ("nul", "value", {"dispute": ["dispute_won\x00"]}, False),
        ]
    else:
        values = [
            ("surrogate", "key \\ud800", {hi: 1}, False),
            ("surrogate", "value \\udfff", {"k": lo}, False),
            ("surrogate", "nested value \\ud800", {"a": {"b": [1, {"c": hi}]}}, False),
            ("surrogate", "nested key \\udfff", {"a": [{lo: {"b": 1}}]}, False),
            ("nul", "key", {"a\x00b": 1}, False),
            ("nul", "value", {"k": "\x00"}, False),
            ("nul", "nested", {"a": {"b": ["x\x00y"]}}, False),
        ]
        if kind == "json":
            for number in BAD_NUMBERS:
                values.append(("bad_number", number, {"n": Raw(number)}, False))
            values.append(("bad_number", "nested NaN", {"a": [1, {"b": Raw("NaN")}]}, False))
    deep_refused = kind != "source"  # a source ignores keys it does not know
    for depth in DEPTHS:
        values.append(("nesting", f"{depth} levels", nested(depth), deep_refused))
    values.append(("nesting", "1000 levels of lists", {"a": nested_list(1000)}, deep_refused))
    values += [
        ("wrong_type", "string", "x", True),
        ("wrong_type", "list", [1, 2], True),
        ("wrong_type", "number", 7, True),
    ]
    return values


def header_values() -> list[tuple[str, str, dict[str, Any], bool | str]]:
    """(class, label, headers, refusal): ``"status"`` = the route's validation status."""
    values: list[tuple[str, str, dict[str, Any], bool | str]] = []
    for name in ("Host", "Content-Type", "Content-Length", "X-Signoff-Delivery", "Cko-Signature"):
        values.append(("reserved_header", name, {name: "x"}, "status"))
    values.append(("reserved_header", "host (lower case)", {"host": "evil.example"}, "status"))
    values.append(("reserved_header", "CONTENT-LENGTH", {"CONTENT-LENGTH": "0"}, "status"))
    for label, value in (
        ("NUL", "a\x00b"), ("CR", "a\rb"), ("LF", "a\nb"), ("CRLF injection", "a\r\nX-Evil: 1"),
        ("non-ASCII", "café"), ("non-ASCII CJK", "日本"), ("surrogate", text("ok\\ud800")),
    ):  # fmt: skip
        values.append(("header_value", label, {"X-Value": value}, "status"))
    values.append(("header_value", "100 000 characters", {"X-Value": "v" * 100_000}, False))
    for label, name in (
        ("empty", ""), ("space", "X A"), ("colon", "X:A"), ("CRLF", "X\r\nY"),
        ("NUL", "X\x00Y"), ("non-ASCII", "Ümlaut"),
    ):  # fmt: skip
        values.append(("header_name", label, {name: "v"}, "status"))
    values.append(("header_name", "21 headers", {f"X-H{i}": "v" for i in range(21)}, "status"))
    return values


def body_shapes() -> list[tuple[str, Any]]:
    return [
        ("a list", []),
        ("null", Raw("null")),
        ("truncated", b'{"a":'),
        ("not UTF-8", b'{"a":"\xff\xfe"}'),
        ("a lone surrogate", text("\\ud800")),
    ]


def writer_cases(writer: Writer) -> Iterator[Case]:
    def case(klass: str, label: str, body: Any, refuse: bool | int) -> Case:
        return Case(
            klass, label, writer.method, writer.path, body, refuse=refuse,
            creates=writer.creates, parts=writer.parts,
        )  # fmt: skip

    for where, kind, limit in writer.strings:
        name = ".".join(str(step) for step in where)
        for klass, label, value, refuse in string_values(kind, limit):
            yield case(klass, f"{name} {label}", put(writer.base(), where, value), refuse)
    for where, kind in writer.objects:
        name = ".".join(str(step) for step in where)
        for klass, label, value, refuse in object_values(kind):
            yield case(klass, f"{name} {label}", put(writer.base(), where, value), refuse)
        if kind == "headers":
            for klass, label, value, refusal in header_values():
                status = writer.validation_status if refusal == "status" else bool(refusal)
                yield case(klass, f"{name} {label}", put(writer.base(), where, value), status)
        if kind in ("json", "events", "source"):
            yield case(
                "surrogate",
                f"{name} key \\ud800 in a nested key",
                add_key(writer.base(), where, text("\\ud800"), {"x": text("\\udfff")}),
                False,
            )
    for label, body in body_shapes():
        yield case("body_shape", label, body, False)


def event_id_cases() -> Iterator[Case]:
    """``data.id`` becomes the event's subject: every shape it can take."""
    for label, value in (
        ("an object", {"a": 1}), ("a list", ["pay_1"]), ("an int", 12345), ("null", None),
        ("a bool", True), ("a float", 1.5), ("NaN", Raw("NaN")), ("101 characters", "p" * 101),
        ("100 000 characters", "p" * 100_000), ("empty", ""),
    ):  # fmt: skip
        yield Case(
            "event_data_id", label, "POST", "/events",
            put(event_body(), ("data", "id"), value), creates="event",
        )  # fmt: skip
    yield Case(
        "event_data_id", "subject_id null, data.id an object", "POST", "/events",
        {"type": "payment_approved", "subject_id": None, "data": {"id": {"nested": [1]}}},
        creates="event",
    )  # fmt: skip


def cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_cases() -> Iterator[Case]:
    for label, raw in (
        ("year 1", b"0001-01-01T00:00:00+00:00|req_x"),
        ("year 1, naive", b"0001-01-01T00:00:00|req_x"),
        ("year 1 at +14:00", b"0001-01-01T00:00:00+14:00|req_x"),
        ("year 1 at +01:00", b"0001-01-01T00:30:00+01:00|req_x"),
        ("year 9999", b"9999-12-31T23:59:59.999999+00:00|req_x"),
        ("year 9999, naive", b"9999-12-31T23:59:59.999999|req_x"),
        ("year 9999 at -12:00", b"9999-12-31T23:59:59-12:00|req_x"),
        ("year 9999 at -00:01", b"9999-12-31T23:59:59-00:01|req_x"),
        ("a date without time", b"2025-01-01|req_x"),
        ("not a date", b"yesterday|req_x"),
        ("no separator", b"2025-01-01T00:00:00+00:00"),
        ("empty id", b"2025-01-01T00:00:00+00:00|"),
        ("NUL in id", b"2025-01-01T00:00:00+00:00|req_\x00x"),
        ("NUL id", b"2025-01-01T00:00:00+00:00|\x00"),
        ("NUL in the date", b"2025-01-01T00:00:00\x00+00:00|req_x"),
        ("not UTF-8", b"\xff\xfe\xfd|req_x"),
        ("encoded surrogate in id", b"2025-01-01T00:00:00+00:00|\xed\xa0\x80"),
        ("id of 10 000 characters", b"2025-01-01T00:00:00+00:00|" + b"x" * 10_000),
        ("empty", b""),
    ):
        yield Case("cursor", label, "GET", "/api/approvals", query=f"?cursor={cursor(raw)}")
    for label, value in (
        ("%00", "%00"), ("%ff%fe", "%ff%fe"), ("not base64 !!!", "!!!"), ("é", "%C3%A9"),
        ("one character", "A"), ("padding only", "===="), ("10 000 characters", "A" * 10_000),
        ("NUL inside base64", "MjAy%00NS0wMQ"),
    ):  # fmt: skip
        yield Case("cursor", label, "GET", "/api/approvals", query=f"?cursor={value}")
    yield Case(
        "cursor", "year 1 with status", "GET", "/api/approvals",
        query=f"?status=PENDING&cursor={cursor(b'0001-01-01T00:00:00+05:00|x')}",
    )  # fmt: skip
    for label, query in (
        ("status %00", "?status=%00"), ("status %ff", "?status=%ff"),
        ("status lower case", "?status=pending"), ("limit %00", "?limit=%00"),
        ("limit 0", "?limit=0"), ("limit -1", "?limit=-1"), ("limit 1e400", "?limit=1e400"),
        ("limit huge", "?limit=99999999999999999999999"), ("limit NaN", "?limit=NaN"),
    ):  # fmt: skip
        yield Case("query", label, "GET", "/api/approvals", query=query)
    for label, query in (
        ("waitMs %00", "?waitMs=%00"), ("waitMs -1", "?waitMs=-1"), ("waitMs NaN", "?waitMs=NaN"),
        ("waitMs huge", "?waitMs=1e400"),
    ):  # fmt: skip
        yield Case("query", label, "GET", "/api/approvals/@APPROVAL@", query=query)


ID_PATHS: list[tuple[str, str, Callable[[], Any] | None]] = [
    ("GET", "/api/approvals/#", None),
    ("GET", "/api/approvals/#/callbacks", None),
    ("POST", "/api/approvals/#/decision", decision_body),
    ("POST", "/api/approvals/#/cancel", lambda: {"reason": "r"}),
    ("GET", "/webhooks/wh_#", None),
    ("PUT", "/webhooks/wh_#", webhook_body),
    ("PATCH", "/webhooks/wh_#", lambda: {"active": False}),
    ("DELETE", "/webhooks/wh_#", None),
    ("POST", "/webhooks/wh_#/test", lambda: {"event_types": ["payment_captured"]}),
    ("GET", "/webhooks/wh_#/deliveries", None),
    ("GET", "/workflows/#", None),
    ("PATCH", "/workflows/#", lambda: {"name": "renamed"}),
    ("DELETE", "/workflows/#", None),
    ("POST", "/workflows/#/test", lambda: {"event_types": ["payment_captured"]}),
    ("POST", "/workflows/#/actions", action_body),
    ("POST", "/workflows/#/conditions", event_condition),
    ("PUT", "/workflows/@WORKFLOW@/actions/#", action_body),
    ("DELETE", "/workflows/@WORKFLOW@/actions/#", None),
    ("PUT", "/workflows/@WORKFLOW@/conditions/#", event_condition),
    ("DELETE", "/workflows/@WORKFLOW@/conditions/#", None),
    ("GET", "/workflows/events/#", None),
    ("GET", "/workflows/events/#/actions/#", None),
    ("GET", "/workflows/events/@EVENT@/actions/#", None),
    ("POST", "/workflows/events/#/reflow", None),
    ("POST", "/workflows/events/#/workflow/@WORKFLOW@/reflow", None),
    ("POST", "/workflows/events/@EVENT@/workflow/#/reflow", None),
    ("GET", "/workflows/events/subject/#", None),
    ("POST", "/workflows/events/subject/#/reflow", None),
    ("POST", "/workflows/events/subject/@SUBJECT@/workflow/#/reflow", None),
    ("GET", "/events/#/deliveries", None),
    ("POST", "/deliveries/#/replay", None),
]


def path_cases() -> Iterator[Case]:
    for method, template, body in ID_PATHS:
        for label, bad_id in (
            ("%00 id", "%00x"), ("NUL inside id", "a%00b"), ("%ff id", "%ff"),
            ("encoded surrogate id", "%ed%a0%80"), ("400 character id", "i" * 400),
        ):  # fmt: skip
            yield Case(
                "path_id", label, method, template.replace("#", bad_id),
                body() if body else None,
            )  # fmt: skip


def decision_cases() -> Iterator[Case]:
    path = "/api/approvals/{approval}/decision"
    bodies: list[tuple[str, dict[str, Any]]]
    for label, body in (
        ("reject with edits", {"decision": "reject", "modifiedDetails": {"n": 3}}),
        ("reject with empty edits", {"decision": "reject", "modifiedDetails": {}}),
        ("reject with NUL edits", {"decision": "reject", "modifiedDetails": {"a": "\x00"}}),
        ("reject with surrogate edits", {"decision": "reject", "modifiedDetails": {"a": text("\\ud800")}}),
        ("reject with NaN edits", {"decision": "reject", "modifiedDetails": {"n": Raw("NaN")}}),
        ("reject with deep edits", {"decision": "reject", "modifiedDetails": nested(40)}),
    ):  # fmt: skip
        yield Case("decision", label, "POST", path, body, refuse=422)
    bodies = [
        ("decision APPROVE", {"decision": "APPROVE"}),
        ("decision missing", {"note": "n"}),
        ("decision null", {"decision": None}),
        ("decision with NUL", {"decision": "approve\x00"}),
    ]
    for label, body in bodies:
        yield Case("decision", label, "POST", path, body, refuse=True)
    bodies = [
        ("reject with NUL note", {"decision": "reject", "note": "no\x00pe"}),
        ("approve with NUL note and edits", {"decision": "approve", "note": "\x00", "modifiedDetails": {"k": "\x00"}}),
        ("reject with surrogate note", {"decision": "reject", "note": text("\\udfff")}),
        ("approve with edits null", {"decision": "approve", "modifiedDetails": None}),
    ]  # fmt: skip
    for label, body in bodies:
        yield Case("decision", label, "POST", path, body)
    yield Case(
        "decision", "unknown id", "POST", "/api/approvals/req_doesnotexist/decision",
        {"decision": "approve"}, refuse=404,
    )  # fmt: skip
    yield Case(
        "decision", "unknown id, NUL note", "POST", "/api/approvals/req_nope/decision",
        {"decision": "reject", "note": "\x00"}, refuse=True,
    )  # fmt: skip
    for method, path, body in (
        ("decision", "/api/approvals/{decided}/decision", {"decision": "reject", "note": "again"}),
        ("cancel", "/api/approvals/{decided}/cancel", {"reason": "late"}),
    ):
        yield Case("decision", f"{method} already decided", "POST", path, body, refuse=409)
        nul = {key: value + "\x00" for key, value in body.items() if key != "decision"}
        yield Case(
            "decision", f"{method} already decided, NUL", "POST", path, body | nul, refuse=True
        )


def parts_cases() -> Iterator[Case]:
    """At most 20 actions and 20 conditions in a workflow, however they are added."""
    for count in (21, 25, 30):
        body = workflow_body() | {"actions": [action_body() for _ in range(count)]}
        yield Case(
            "too_many_parts", f"create with {count} actions", "POST", "/workflows", body,
            refuse=422, creates="workflow",
        )  # fmt: skip
        body = workflow_body() | {"conditions": [event_condition() for _ in range(count)]}
        yield Case(
            "too_many_parts", f"create with {count} conditions", "POST", "/workflows", body,
            refuse=422, creates="workflow",
        )  # fmt: skip
    body = {"actions": [action_body() for _ in range(21)]}
    yield Case(
        "too_many_parts", "patch to 21 actions", "PATCH", "/workflows/{workflow}", body, refuse=422
    )
    body = {"conditions": [event_condition() for _ in range(21)]}
    yield Case(
        "too_many_parts", "patch to 21 conditions", "PATCH", "/workflows/{workflow}", body,
        refuse=422,
    )  # fmt: skip
    for _ in range(2):
        yield Case(
            "too_many_parts", "add the 21st action", "POST", "/workflows/{full_workflow}/actions",
            action_body(), refuse=422,
        )  # fmt: skip
    for condition in (event_condition(), {"type": "entity", "entities": ["ent_21"]}):
        yield Case(
            "too_many_parts", f"add the 21st condition ({condition['type']})", "POST",
            "/workflows/{full_workflow}/conditions", condition, refuse=422,
        )  # fmt: skip
    yield Case(
        "too_many_parts", "patch a full workflow's name", "PATCH", "/workflows/{full_workflow}",
        {"name": "still twenty"},
    )  # fmt: skip


def oversize_body_cases() -> Iterator[Case]:
    big = "x" * (1024 * 1024 + 10)
    for writer in WRITERS:
        if writer.name in ("approval", "webhook", "workflow", "event", "decision", "action_add"):
            body = writer.base() | {"padding": big}
            yield Case(
                "oversize_body", "over 1 MiB", writer.method, writer.path, body, refuse=413,
                creates=writer.creates,
            )  # fmt: skip


def idempotency_cases() -> Iterator[Case]:
    for path, header, body, status, creates in (
        ("/api/approvals/request", "Idempotency-Key", approval_body, 422, "approval"),
        ("/webhooks", "Cko-Idempotency-Key", webhook_body, 400, "webhook"),
        ("/workflows", "Cko-Idempotency-Key", workflow_body, 422, "workflow"),
        ("/events", "Cko-Idempotency-Key", event_body, 422, "event"),
    ):
        yield Case(
            "idempotency_key", "201 characters", "POST", path, body(), refuse=status,
            creates=creates,
            headers={header: "k" * 201},
        )  # fmt: skip
        yield Case(
            "idempotency_key", "latin-1 bytes", "POST", path, body(), creates=creates,
            headers={header: b"key-\xff\xfe-" + str(next(SERIAL)).encode()},
        )  # fmt: skip


def corpus() -> list[Case]:
    """Reads first (cursors, queries, ids in paths), while no bad row can spoil a list."""
    cases = [*cursor_cases(), *path_cases()]
    for writer in WRITERS:
        cases += writer_cases(writer)
    for generate in (
        event_id_cases, decision_cases, parts_cases, oversize_body_cases, idempotency_cases,
    ):  # fmt: skip
        cases += generate()
    return cases


CORPUS = corpus()


# -- running it ---------------------------------------------------------------------------


def credentials(path: str) -> dict[str, str]:
    """What each route is called with: the way its own tests and SDKs call it."""
    if path.startswith("/api/approvals/") and path.endswith("/decision"):
        return {"Authorization": f"Bearer {REVIEWER_TOKEN}"}
    if path.startswith("/webhooks"):
        return {"Authorization": CKO_PREVIOUS_KEY}  # the previous platform: the key bare
    if path.startswith(("/workflows", "/events", "/deliveries")):
        return {"Authorization": f"Bearer {CKO_SECRET_KEY}"}
    return {"x-api-key": API_KEY}


TRACEBACK_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt|Warning)\w*\b.*$")


def volatile_free(value: Any) -> Any:
    """A stored object without what the delivery worker changes on its own (health)."""
    if isinstance(value, dict):
        return {k: volatile_free(v) for k, v in value.items() if k != "health"}
    if isinstance(value, list):
        return [volatile_free(v) for v in value]
    return value


@dataclass
class Outcome:
    status: int | None
    body: Any
    log: str


class Corpus:
    """Sends the corpus to one service and keeps what it found."""

    def __init__(self, service: ServiceProcess, hook: Receiver) -> None:
        self.service = service
        self.hook = hook
        self.http = httpx.Client(base_url=service.url, timeout=60)
        self.violations: list[str] = []
        self.statuses: Counter[tuple[str, str]] = Counter()
        self.server_errors: Counter[str] = Counter()
        self.created: dict[str, list[str]] = {
            "approval": [],
            "webhook": [],
            "workflow": [],
            "event": [],
        }
        self.workflow_parts: dict[str, tuple[int, int]] = {}
        self.tokens: dict[str, str] = {}
        self.failed_reads: set[str] = set()

    # -- sending

    def log_size(self) -> int:
        path = self.service.log_path
        return path.stat().st_size if path and path.exists() else 0

    def log_since(self, offset: int) -> str:
        """The last traceback line (else error line) the service logged since ``offset``."""
        path = self.service.log_path
        if not path or not path.exists():
            return ""
        with open(path, "rb") as log:
            log.seek(offset)
            lines = log.read().decode("utf-8", "replace").splitlines()
        found = [line for line in lines if TRACEBACK_LINE.match(line)]
        if not found:
            found = [line for line in lines if line.startswith(("ERROR", "CRITICAL"))]
        return found[-1][:300] if found else ""

    def fill(self, value: str) -> str:
        for token, replacement in self.tokens.items():
            value = value.replace(token, replacement)
        return value

    def send(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str | bytes] | None = None,
    ) -> Outcome:
        content: bytes | None = None
        if isinstance(body, bytes):
            content = body
        elif body is not None:
            content = self.fill(encode(body)).encode()
        sent_headers = {
            name.encode(): value if isinstance(value, bytes) else value.encode()
            for name, value in {
                **credentials(path),
                **({"Content-Type": "application/json"} if content is not None else {}),
                **(headers or {}),
            }.items()
        }
        offset = self.log_size()
        for attempt in (1, 2):
            try:
                response = self.http.request(
                    method, self.fill(path), content=content, headers=sent_headers
                )
                break
            except httpx.TransportError as exc:
                # A connection the service dropped after an earlier error is retried once,
                # on a new one; a second failure, or a dead service, is this input's doing.
                self.reconnect()
                proc = self.service.proc
                if proc is not None and proc.poll() is not None:
                    log = f"the service died ({proc.returncode}); restarted | "
                    log += self.log_since(offset)
                    self.service.start()
                    return Outcome(None, f"{type(exc).__name__}: {exc}", log)
                if attempt == 2:
                    return Outcome(None, f"{type(exc).__name__}: {exc}", self.log_since(offset))
        try:
            parsed: Any = response.json() if response.content else None
        except ValueError:
            parsed = response.content[:200]
        log = ""
        if response.status_code >= 500:
            log = self.log_since(offset)
            self.reconnect()  # after a 500 the service may close the connection any moment
        return Outcome(response.status_code, parsed, log)

    def reconnect(self) -> None:
        self.http.close()
        self.http = httpx.Client(base_url=self.service.url, timeout=60)

    def must(self, method: str, path: str, body: Any = None) -> Any:
        """A call that sets up the corpus and must succeed."""
        outcome = self.send(method, path, body)
        assert outcome.status is not None and outcome.status < 300, (method, path, outcome)
        return outcome.body

    def read(self, path: str, what: str) -> Any:
        """A read that must answer 200 whatever was stored; ``None`` if it did not."""
        outcome = self.send("GET", path)
        if outcome.status != 200 and path not in self.failed_reads:
            self.failed_reads.add(path)
            self.violations.append(
                f"GET {path} [{what}] -> {outcome.status}: a stored row makes this read fail"
                + (f" | {outcome.log}" if outcome.log else "")
            )
        return outcome.body if outcome.status == 200 else None

    # -- what the cases aim at

    def new_approval(self) -> str:
        approval_id = str(self.must("POST", "/api/approvals/request", approval_body())["id"])
        self.created["approval"].append(approval_id)
        return approval_id

    def new_webhook(self) -> str:
        webhook_id = str(self.must("POST", "/webhooks", webhook_body())["id"])
        self.created["webhook"].append(webhook_id)
        return webhook_id

    def new_workflow(self, actions: int = 1, conditions_: int = 3) -> dict[str, Any]:
        body = workflow_body()
        if actions != 1 or conditions_ != 3:
            body["actions"] = [action_body() for _ in range(actions)]
            body["conditions"] = [
                {"type": "entity", "entities": [f"ent_{n}"]} for n in range(conditions_)
            ]
        workflow_id = str(self.must("POST", "/workflows", body)["id"])
        self.created["workflow"].append(workflow_id)
        self.workflow_parts[workflow_id] = (actions, conditions_)
        found: dict[str, Any] = self.must("GET", f"/workflows/{workflow_id}")
        return found

    def prepare(self, path: str) -> tuple[str, str | None]:
        """The case's path with its target made; and where to read that target back."""
        if "{approval}" in path:
            approval_id = self.new_approval()
            return path.replace("{approval}", approval_id), f"/api/approvals/{approval_id}"
        if "{decided}" in path:
            approval_id = self.new_approval()
            self.must("POST", f"/api/approvals/{approval_id}/decision", {"decision": "approve"})
            return path.replace("{decided}", approval_id), f"/api/approvals/{approval_id}"
        if "{webhook}" in path:
            webhook_id = self.new_webhook()
            return path.replace("{webhook}", webhook_id), f"/webhooks/{webhook_id}"
        if "{workflow}" in path or "{full_workflow}" in path:
            full = "{full_workflow}" in path
            workflow = self.new_workflow(MAX_PARTS, MAX_PARTS) if full else self.new_workflow()
            filled = (
                path.replace("{workflow}", workflow["id"])
                .replace("{full_workflow}", workflow["id"])
                .replace("{action}", workflow["actions"][0]["id"])
                .replace("{condition}", workflow["conditions"][0]["id"])
            )
            return filled, f"/workflows/{workflow['id']}"
        return path, None

    def set_up(self) -> None:
        """The objects bodies and paths refer to (``@TOKENS@``)."""
        approval_id = self.new_approval()
        webhook = self.must(
            "POST",
            "/webhooks",
            {"url": self.hook.url + "?corpus", "event_types": ["payment_approved"]},
        )
        self.created["webhook"].append(webhook["id"])
        flow = {
            "name": "corpus deliveries",
            "conditions": [{"type": "event", "events": {"gateway": ["payment_approved"]}}],
            "actions": [{"type": "webhook", "url": self.hook.url}],
        }
        workflow_id = self.must("POST", "/workflows", flow)["id"]
        self.created["workflow"].append(workflow_id)
        self.workflow_parts[workflow_id] = (1, 1)
        subject = "pay_corpus_subject"
        event = self.must("POST", "/events", {"type": "payment_approved", "data": {"id": subject}})
        self.created["event"].append(event["id"])
        self.tokens = {
            "@APPROVAL@": approval_id,
            "@WEBHOOK@": webhook["id"],
            "@WORKFLOW@": workflow_id,
            "@EVENT@": event["id"],
            "@SUBJECT@": subject,
        }

    # -- one case

    def run(self, case: Case) -> None:
        try:
            path, snapshot_path = self.prepare(case.path)
        except AssertionError as exc:
            self.violations.append(f"{case.where}: could not make its target: {exc}")
            return
        before = self.send("GET", snapshot_path) if snapshot_path else None
        outcome = self.send(case.method, path + case.query, case.body, case.headers)
        status = outcome.status
        self.statuses[(case.klass, "5xx" if status is None or status >= 500 else str(status))] += 1
        where = f"{case.method} {path}{case.query} [{case.klass}: {case.label}]"
        problems = self.judge(case, outcome)
        if status is None or status >= 500:
            self.server_errors[case.klass] += 1
        for problem in problems:
            self.violations.append(
                f"{where} -> {status}: {problem}" + (f" | {outcome.log}" if outcome.log else "")
            )
        accepted = status is not None and 200 <= status < 300
        if accepted and case.creates:
            self.check_created(case, where, outcome.body)
        if snapshot_path and before is not None and before.status == 200:
            after = self.send("GET", snapshot_path)
            if after.status != 200:
                self.violations.append(
                    f"{where} -> {status}: afterwards GET {snapshot_path} answers "
                    f"{after.status}" + (f" | {after.log}" if after.log else "")
                )
            elif not accepted and volatile_free(after.body) != volatile_free(before.body):
                self.violations.append(
                    f"{where} -> {status}: refused, yet it changed {snapshot_path}: "
                    f"{json.dumps(volatile_free(before.body))[:300]} became "
                    f"{json.dumps(volatile_free(after.body))[:300]}"
                )

    def judge(self, case: Case, outcome: Outcome) -> list[str]:
        status = outcome.status
        if status is None:
            return [f"no answer ({outcome.body})"]
        if status >= 500:
            return ["server error"]
        problems = []
        if 400 <= status < 500:
            if status not in ALLOWED_4XX:
                problems.append(f"{status} is not one of {sorted(ALLOWED_4XX)}")
            body = outcome.body
            if not (
                isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]
            ):
                problems.append(f"the 4xx carries no JSON `error` string: {body!r:.200}")
        if case.refuse is True and not 400 <= status < 500:
            problems.append("must be refused with a 4xx")
        elif case.refuse is not True and case.refuse and status != case.refuse:
            problems.append(f"must be refused with {case.refuse}")
        return problems

    def check_created(self, case: Case, where: str, body: Any) -> None:
        kind = case.creates
        assert kind is not None
        created_id = (body.get("id") or body.get("approvalId")) if isinstance(body, dict) else None
        if not isinstance(created_id, str):
            self.violations.append(
                f"{where}: accepted without the id of what it created: {body!r:.200}"
            )
            return
        self.created[kind].append(created_id)
        if kind == "approval":
            self.read(f"/api/approvals/{created_id}", f"just created by {where}")
        elif kind == "webhook":
            self.read(f"/webhooks/{created_id}", f"just created by {where}")
        elif kind == "workflow":
            found = self.read(f"/workflows/{created_id}", f"just created by {where}")
            if case.parts:
                self.workflow_parts[created_id] = case.parts
            if found is not None and case.parts:
                stored = (len(found.get("actions", [])), len(found.get("conditions", [])))
                if stored != case.parts:
                    self.violations.append(
                        f"{where}: stored {stored} (actions, conditions), sent {case.parts}"
                    )
        elif kind == "event":
            self.read(f"/events/{created_id}/deliveries", f"just created by {where}")
            self.read(f"/workflows/events/{created_id}", f"just created by {where}")

    # -- after the corpus

    def check_everything_reads(self) -> None:
        listed = self.page_through("")
        self.page_through("PENDING")
        if listed is not None:
            self.compare("approval", listed)
        for approval_id in dict.fromkeys([*(listed or []), *self.created["approval"]]):
            self.read(f"/api/approvals/{approval_id}", "after the corpus")
        webhooks = self.read("/webhooks", "after the corpus")
        if isinstance(webhooks, list):
            self.compare("webhook", [w["id"] for w in webhooks])
        for webhook_id in self.created["webhook"]:
            self.read(f"/webhooks/{webhook_id}", "after the corpus")
        workflows = self.read("/workflows", "after the corpus")
        if isinstance(workflows, dict):
            self.compare("workflow", [w["id"] for w in workflows["data"]])
        for workflow_id in self.created["workflow"]:
            found = self.read(f"/workflows/{workflow_id}", "after the corpus")
            expected = self.workflow_parts.get(workflow_id)
            if isinstance(found, dict) and expected:
                stored = (len(found["actions"]), len(found["conditions"]))
                if stored[0] > MAX_PARTS or stored[1] > MAX_PARTS:
                    self.violations.append(
                        f"GET /workflows/{workflow_id}: holds {stored} (actions, conditions), "
                        f"more than {MAX_PARTS}"
                    )
        for event_id in self.created["event"]:
            self.read(f"/events/{event_id}/deliveries", "after the corpus")
            self.read(f"/workflows/events/{event_id}", "after the corpus")
        subject = self.tokens["@SUBJECT@"]
        self.read(f"/workflows/events/subject/{subject}", "after the corpus")

    def page_through(self, status: str) -> list[str] | None:
        ids: list[str] = []
        query = f"?limit=100&status={status}" if status else "?limit=100"
        next_cursor: str | None = None
        for _ in range(10_000):
            path = "/api/approvals" + query + (f"&cursor={next_cursor}" if next_cursor else "")
            page = self.read(path, f"page {len(ids) // 100 + 1} of the approvals")
            if not isinstance(page, dict):
                return None
            ids += [item["id"] for item in page["data"]]
            next_cursor = page.get("nextCursor")
            if not next_cursor:
                return ids
        return ids

    def compare(self, kind: str, listed: list[str]) -> None:
        """What is stored is exactly what the accepted requests created."""
        created = set(self.created[kind])
        extra = [i for i in listed if i not in created]
        lost = [i for i in self.created[kind] if i not in set(listed)]
        if len(listed) != len(created) or extra or lost:
            shown = [self.describe(kind, i) for i in extra[:10]]
            self.violations.append(
                f"{kind}s: {len(listed)} listed, {len(created)} created by accepted requests; "
                f"stored by refused requests: {shown}; lost: {lost[:10]}"
            )

    def describe(self, kind: str, item_id: str) -> str:
        path = {"approval": "/api/approvals/", "webhook": "/webhooks/", "workflow": "/workflows/"}
        found = self.send("GET", path[kind] + item_id).body
        return f"{item_id} {json.dumps(found, default=str)[:200]}"


def report(database: str, corpus: Corpus) -> str:
    by_class = Counter(case.klass for case in CORPUS)
    lines = [f"{database}: {len(CORPUS)} inputs, {sum(corpus.server_errors.values())} answered 5xx"]
    for klass, count in sorted(by_class.items()):
        statuses = {s: n for (k, s), n in corpus.statuses.items() if k == klass}
        lines.append(f"  {klass:<16} {count:>4} inputs  {dict(sorted(statuses.items()))}")
    return "\n".join(lines)


def test_the_corpus_is_big_enough() -> None:
    classes = Counter(case.klass for case in CORPUS)
    assert len(CORPUS) >= 410, classes
    for klass in (
        "surrogate", "nul", "nesting", "bad_number", "cursor", "event_data_id", "wrong_type",
        "oversize", "url", "header_value", "reserved_header", "too_many_parts", "decision",
        "path_id",
    ):  # fmt: skip
        assert classes[klass] >= 5, (klass, classes)


def test_bad_input_answers_4xx_and_stores_nothing_that_breaks_a_read(
    any_db_service: ServiceProcess, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    database = "postgresql" if any_db_service.database_url.startswith("postgres") else "sqlite"
    with receiver() as hook:
        corpus = Corpus(any_db_service, hook)
        try:
            corpus.set_up()
            for case in CORPUS:
                corpus.run(case)
            corpus.check_everything_reads()
        finally:
            corpus.http.close()
    summary = report(database, corpus)
    print(summary)
    (tmp_path / f"bad-input-{database}.txt").write_text(
        summary + "\n\n" + "\n".join(corpus.violations) + "\n"
    )
    assert not corpus.violations, (
        f"{summary}\n{len(corpus.violations)} violations on {database}:\n"
        + "\n".join(corpus.violations)
    )
