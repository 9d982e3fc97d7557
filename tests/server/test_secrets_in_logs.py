"""No secret reaches the service's log, whatever goes wrong: on SQLite and on PostgreSQL.

The service runs with its log captured. A webhook carries a secret ``Authorization``
header, a workflow action carries one too plus a signature key; then the failure paths
are driven with those secrets in the very requests that fail: a NUL in a webhook URL or a
workflow name (which PostgreSQL cannot store), lone surrogates, an idempotency key
reused with another body, a duplicate webhook URL, a wrong API key, and deliveries and a
callback failing against a closed port, so that the worker logs its errors. Every log
file must then be free of every secret: the header values, the signature key, the
password in a webhook URL, the API keys, the reviewer token and the signing secret.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from signoff.server.process import ServiceProcess, free_port
from tests.conftest import (
    API_KEY,
    CKO_PREVIOUS_KEY,
    CKO_SECRET_KEY,
    REVIEWER_TOKEN,
    SIGNING_SECRET,
)
from tests.receiver import receiver

WEBHOOK_TOKEN = "s3cr3t-webhook-7f3a9c1e5b"
ACTION_TOKEN = "s3cr3t-action-2d8e6b4a0c"
SIGNATURE_KEY = "s3cr3t-signature-key-9b1d7f"
URL_PASSWORD = "s3cr3t-url-password-4c2a"
WRONG_KEY = "sk_test_s3cr3t-wrong-key-5e0f"

SECRETS = {
    "webhook Authorization header": WEBHOOK_TOKEN,
    "workflow action Authorization header": ACTION_TOKEN,
    "workflow action signature key": SIGNATURE_KEY,
    "password in a webhook URL": URL_PASSWORD,
    "a wrong API key presented": WRONG_KEY,
    "API key": API_KEY,
    "checkout secret key": CKO_SECRET_KEY,
    "checkout previous-platform key": CKO_PREVIOUS_KEY,
    "reviewer token": REVIEWER_TOKEN,
    "signing secret": SIGNING_SECRET,
}

SURROGATE = "\\ud800"
"""A lone surrogate as a JSON escape: bodies with it are written as raw text."""


def credentials(path: str) -> dict[str, str]:
    if path.endswith("/decision"):
        return {"Authorization": f"Bearer {REVIEWER_TOKEN}"}
    if path.startswith("/webhooks"):
        return {"Authorization": CKO_PREVIOUS_KEY}
    if path.startswith(("/workflows", "/events", "/deliveries")):
        return {"Authorization": f"Bearer {CKO_SECRET_KEY}"}
    return {"x-api-key": API_KEY}


class Api:
    def __init__(self, service: ServiceProcess) -> None:
        self.base = service.url
        self.http = httpx.Client(base_url=self.base, timeout=30)
        self.answers: list[tuple[str, str, int | None]] = []

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response | None:
        """``raw``: the body as JSON text, where ``@S@`` becomes a lone surrogate escape."""
        content = None
        if raw is not None:
            content = raw.replace("@S@", SURROGATE).encode()
        elif body is not None:
            content = json.dumps(body).encode()
        sent = {**credentials(path), "Content-Type": "application/json", **(headers or {})}
        try:
            response = self.http.request(method, path, content=content, headers=sent)
        except httpx.TransportError:  # what a failure path may do; the log is what counts
            self.reconnect()
            self.answers.append((method, path, None))
            return None
        self.answers.append((method, path, response.status_code))
        if response.status_code >= 500:  # the service may drop this connection
            self.reconnect()
        return response

    def reconnect(self) -> None:
        self.http.close()
        self.http = httpx.Client(base_url=self.base, timeout=30)

    def ok(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        response = self(method, path, body, headers=headers)
        assert response is not None and response.status_code < 300, (
            method,
            path,
            response and response.text,
        )
        return response.json() if response.content else None


def eventually(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return check()


def secret_action(url: str) -> dict[str, Any]:
    return {
        "type": "webhook",
        "url": url,
        "headers": {"Authorization": f"Bearer {ACTION_TOKEN}"},
        "signature": {"method": "HMACSHA256", "key": SIGNATURE_KEY},
    }


def deliveries_failed(api: Api, webhook_id: str, event_id: str, approval_id: str) -> bool:
    """Each delivery and the callback tried twice, or given up on (a refused URL is not
    retried)."""
    sends: list[dict[str, Any]] = []
    for path in (
        f"/events/{event_id}/deliveries",
        f"/webhooks/{webhook_id}/deliveries",
        f"/api/approvals/{approval_id}/callbacks",
    ):
        response = api("GET", path)
        if response is None or response.status_code != 200:
            return False
        sends += response.json()["data"]
    return len(sends) >= 7 and all(len(s["attempts"]) >= 2 or s["state"] == "failed" for s in sends)


def drive_failures(api: Api, closed: str, failing_hook: str) -> None:
    """Every failure path, each request carrying the secrets."""
    secret_headers = {"Authorization": f"Bearer {WEBHOOK_TOKEN}"}
    webhook = api.ok(
        "POST",
        "/webhooks",
        {
            "url": closed + "/webhook",
            "headers": secret_headers,
            "event_types": ["payment_approved"],
        },
    )
    api.ok(
        "POST",
        "/webhooks",
        {
            "url": failing_hook + "?webhook",  # answers 500 (the receiver's script)
            "headers": secret_headers,
            "event_types": ["payment_approved"],
        },
    )
    api(  # a password in the URL: accepted or refused, never logged
        "POST",
        "/webhooks",
        {
            "url": f"http://signoff:{URL_PASSWORD}@127.0.0.1:{closed.rsplit(':', 1)[1]}/userinfo",
            "event_types": ["payment_approved"],
        },
    )
    target = api.ok(  # what the failing updates aim at
        "POST",
        "/webhooks",
        {"url": closed + "/target", "headers": secret_headers, "event_types": ["dispute_won"]},
    )
    workflow = api.ok(
        "POST",
        "/workflows",
        {
            "name": "secrets",
            "conditions": [{"type": "event", "events": {"gateway": ["payment_approved"]}}],
            "actions": [secret_action(closed + "/action"), secret_action(failing_hook)],
        },
    )
    action_id = api.ok("GET", f"/workflows/{workflow['id']}")["actions"][0]["id"]

    # Deliveries that fail: an event to every subscriber, tests, and a callback.
    event = api.ok("POST", "/events", {"type": "payment_approved", "data": {"id": "pay_secret"}})
    api.ok("POST", f"/webhooks/{webhook['id']}/test", {"event_types": ["payment_captured"]})
    api.ok("POST", f"/workflows/{workflow['id']}/test", {"event_types": ["payment_captured"]})
    approval = api.ok(
        "POST",
        "/api/approvals/request",
        {"action": "a", "summary": "callback", "webhookUrl": closed + "/callback"},
    )
    api.ok("POST", f"/api/approvals/{approval['id']}/decision", {"decision": "approve"})
    assert eventually(lambda: deliveries_failed(api, webhook["id"], event["id"], approval["id"])), (
        "the deliveries were not attempted twice each"
    )
    headers_json = json.dumps(secret_headers)
    action_json = json.dumps(secret_action(closed + "/other"))

    # A NUL or a lone surrogate where the database cannot take it, next to the secrets.
    for url in (closed + "/nul\\u0000", closed + "/surrogate@S@"):
        body = f'{{"url":"{url}","headers":{headers_json},"event_types":["payment_approved"]}}'
        api("POST", "/webhooks", raw=body)
        api("PUT", f"/webhooks/{target['id']}", raw=body)
        api("PATCH", f"/webhooks/{target['id']}", raw=body)
        api("POST", f"/workflows/{workflow['id']}/actions", raw=action_json.replace("/other", url))
        api(
            "PUT",
            f"/workflows/{workflow['id']}/actions/{action_id}",
            raw=action_json.replace("/other", url),
        )
    for name in ("nul\\u0000", "surrogate@S@"):
        api("POST", "/workflows", raw=f'{{"name":"{name}","actions":[{action_json}]}}')
        api("PATCH", f"/workflows/{workflow['id']}", raw=f'{{"name":"{name}"}}')
    for value in ("nul\\u0000", "surrogate@S@", "caf\\u00e9"):
        header = f'{{"Authorization":"Bearer {WEBHOOK_TOKEN}","X-Bad":"{value}"}}'
        api(
            "POST",
            "/webhooks",
            raw=f'{{"url":"{closed}/h{len(value)}","headers":{header},"event_types":["payment_approved"]}}',
        )
        api(
            "PATCH",
            f"/webhooks/{target['id']}",
            raw=f'{{"headers":{{"X-Bad":"{value}","Authorization":"Bearer {WEBHOOK_TOKEN}"}}}}',
        )
    # The approvals API: NUL and surrogates next to the SDK's echo of its key, deep details.
    for summary in ("nul\\u0000", "surrogate@S@"):
        api(
            "POST",
            "/api/approvals/request",
            raw=f'{{"action":"a","summary":"{summary}","apiKey":"{API_KEY}","details":{{"k":"@S@"}}}}',
        )
    api(
        "POST",
        "/api/approvals/request",
        raw=f'{{"action":"a","summary":"deep","apiKey":"{API_KEY}","details":'
        + '{"a":' * 400
        + "1"
        + "}" * 400
        + "}",
    )

    # An idempotency key reused with another body; a URL configured twice.
    for key_header, path, first, second in (
        (
            "Cko-Idempotency-Key",
            "/webhooks",
            {
                "url": closed + "/idem-1",
                "headers": secret_headers,
                "event_types": ["payment_approved"],
            },
            {
                "url": closed + "/idem-2",
                "headers": secret_headers,
                "event_types": ["payment_approved"],
            },
        ),
        (
            "Cko-Idempotency-Key",
            "/workflows",
            {"name": "idem", "actions": [secret_action(closed + "/idem-1")]},
            {"name": "idem", "actions": [secret_action(closed + "/idem-2")]},
        ),
        (
            "Idempotency-Key",
            "/api/approvals/request",
            {"action": "a", "summary": "one", "apiKey": API_KEY},
            {"action": "a", "summary": "two", "apiKey": API_KEY},
        ),
    ):
        api.ok("POST", path, first, **{key_header: f"reused-{path}"})
        reused = api("POST", path, second, headers={key_header: f"reused-{path}"})
        assert reused is not None and reused.status_code == 409, reused and reused.text
    duplicate = api(
        "POST",
        "/webhooks",
        {
            "url": closed + "/webhook",
            "headers": secret_headers,
            "event_types": ["payment_approved"],
        },
    )
    assert duplicate is not None and duplicate.status_code == 409, duplicate and duplicate.text
    wrong = api("GET", "/api/approvals", headers={"x-api-key": WRONG_KEY})
    assert wrong is not None and wrong.status_code == 401
    wrong = api("GET", "/webhooks", headers={"Authorization": WRONG_KEY})
    assert wrong is not None and wrong.status_code == 401

    # Deliveries that fail again, now that the bad input is in (each may be refused now).
    api("POST", "/events", {"type": "payment_approved", "data": {"id": "pay_after"}})
    api("POST", f"/workflows/{workflow['id']}/test", {"event_types": ["payment_captured"]})
    eventually(lambda: deliveries_failed(api, webhook["id"], event["id"], approval["id"]))


def test_no_secret_reaches_the_log_on_any_failure_path(
    any_db_service: ServiceProcess, tmp_path: Path
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    api = Api(any_db_service)
    with receiver(answers=[500] * 50) as hook:
        try:
            drive_failures(api, closed, hook.url)
        finally:
            api.http.close()
    any_db_service.stop()  # everything it had to say is written
    logs = {path.name: path.read_text(errors="replace") for path in tmp_path.glob("serve-*.log")}
    assert logs, "no service log was captured"
    everything = "\n".join(logs.values())
    assert "delivery" in everything, "the failing deliveries were not logged"
    leaks = [
        f"{what} ({secret[:12]}...) in {name}, line: "
        + next(line for line in log.splitlines() if secret in line)[:300]
        for what, secret in SECRETS.items()
        for name, log in logs.items()
        if secret in log
    ]
    answered = sorted({status for _, _, status in api.answers if status and status >= 500})
    assert not leaks, (
        f"secrets in the service log (the service answered {answered}):\n" + "\n".join(leaks)
    )
