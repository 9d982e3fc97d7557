"""Issue 17 as a new user tries it: `signoff serve --smtp-url ...`, a finance group of two
reviewers with emails, a DAG asks for a refund sign-off; both get an email, one approves
from the link in it without signing in, the other hears who decided, the DAG goes on.

Real parts throughout: the service, an SMTP server (aiosmtpd), Airflow's ``dag.test()``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import httpx
import pytest

from signoff.client import ApprovalsClient
from signoff.models import ApprovalStatus
from tests.airflow.dags import run_dag, task_states
from tests.conftest import ADMIN_KEY, API_KEY, launcher
from tests.mailbox import Mail, Mailbox, mailbox

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture(scope="module")
def inbox() -> Iterator[Mailbox]:
    with mailbox() as box:
        yield box


@pytest.fixture(scope="module")
def service(inbox: Mailbox, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """This module's service sends email (``signoff_conn`` points Airflow at it)."""
    with launcher(tmp_path_factory.mktemp("notified")) as start:
        yield start(None, "--smtp-url", inbox.url)


def add(url: str, name: str, email: str) -> None:
    response = httpx.post(
        f"{url}/api/reviewers",
        headers={"Authorization": f"Bearer {ADMIN_KEY}"},
        json={"name": name, "email": email, "groups": ["finance"]},
        timeout=10,
    )
    assert response.status_code == 201, response.text


def refund_dag() -> Any:
    from airflow.sdk import DAG, task

    from signoff_airflow.operators.approval import RequestApprovalOperator

    with DAG(
        "notified_refund", schedule=None, start_date=datetime(2025, 1, 1, tzinfo=timezone.utc)
    ) as dag:
        ask = RequestApprovalOperator(
            task_id="approve_refund",
            action="process_refund_batch",
            summary="Refund 1,200.00 to 3 customers",
            details={"total": 1200.0},
            groups=["finance"],
        )

        @task
        def pay(decision: dict[str, Any]) -> str:
            return f"paid, approved by {decision['approved_by']}"

        pay(ask.output)
    return dag


def follow_link(mail: Mail) -> httpx.Response:
    """What a reviewer's browser does: open the link (a page, nothing decided), then press
    Approve on it (the form echoes the link's token)."""
    link = mail.link("approve")
    page = httpx.get(link, timeout=10)
    assert page.status_code == 200 and "Approve" in page.text
    url = link.split("?", 1)[0]
    token = url.rsplit("/", 1)[1]
    return httpx.post(
        url, data={"link": token, "decision": "approve"}, timeout=10, follow_redirects=True
    )


def test_finance_is_emailed_one_approves_from_the_link_and_the_dag_goes_on(
    service: Any, inbox: Mailbox, signoff_conn: str
) -> None:
    add(service.url, "fin-alice", "fin-alice@example.com")
    add(service.url, "fin-bob", "fin-bob@example.com")
    errors: list[BaseException] = []

    def finance_at_their_desks() -> None:
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not inbox.to("fin-bob@example.com"):
                time.sleep(0.05)
            [alice_mail] = inbox.to("fin-alice@example.com")
            [bob_mail] = inbox.to("fin-bob@example.com")
            assert "Refund 1,200.00 to 3 customers" in alice_mail.subject
            approval_id = alice_mail.text.split("/review/", 1)[1].split()[0]
            with ApprovalsClient(signoff_conn, api_key=API_KEY) as client:
                assert (
                    client.get(approval_id).status is ApprovalStatus.PENDING
                )  # GET decided nothing
            decided = follow_link(alice_mail)
            assert decided.status_code == 200, decided.text
            assert bob_mail.link("approve") != alice_mail.link("approve")  # links are personal
        except BaseException as exc:
            errors.append(exc)

    person = threading.Thread(target=finance_at_their_desks, daemon=True)
    person.start()
    run = run_dag(refund_dag())
    person.join(60)
    assert not errors, errors[0]
    assert task_states(run) == {"approve_refund": "success", "pay": "success"}
    told = inbox.wait_for(3, timeout=30)
    [bob_heard] = [m for m in told if "fin-bob@example.com" in m.to and "Approved by" in m.subject]
    assert "Approved by fin-alice" in bob_heard.subject
    assert not [m for m in inbox.to("fin-alice@example.com") if "Approved by" in m.subject]
    with ApprovalsClient(signoff_conn, api_key=API_KEY) as client:
        [approval] = [
            a
            for a in client.list(limit=50).data
            if a.source and a.source.pipeline == "notified_refund"
        ]
        assert approval.status is ApprovalStatus.APPROVED and approval.decided_by == "fin-alice"
