"""``signoff demo``: one approval from request to decision to result, against a real service."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

from rich.console import Console

from signoff.client import ApprovalsClient
from signoff.models import Approval

console = Console()
DEMO_TOKEN = "demo-reviewer-token"  # noqa: S105 - a throw-away service on loopback


def run_demo(port: int = 0, *, wait: bool = False) -> int:
    try:
        from signoff.server.process import ServiceProcess
    except ImportError:
        console.print("[red]the demo needs the server extra:[/] pip install 'signoff[server]'")
        return 1
    with tempfile.TemporaryDirectory(prefix="signoff-demo-") as workdir:
        service = ServiceProcess(
            database_url=f"sqlite:///{Path(workdir) / 'signoff.db'}",
            api_keys=["demo-pipeline-key"],
            reviewer_tokens=[f"alice={DEMO_TOKEN}"],
            port=port,
            log_path=Path(workdir) / "serve.log",
        )
        with service:
            console.rule("[bold]signoff demo")
            console.print(f"1. [bold]signoff serve[/] is running at {service.url} (SQLite)")
            pipeline = ApprovalsClient(service.url, api_key="demo-pipeline-key")
            reviewer = ApprovalsClient(service.url, reviewer_token=DEMO_TOKEN)
            with pipeline, reviewer:
                created = pipeline.create(
                    "process_refund",
                    "Refund $120.00 for order #8842",
                    {"orderId": "8842", "amount": 120.00, "currency": "USD"},
                    risk_level="high",
                    justification="Customer reported a damaged item; photos attached.",
                )
                approval = pipeline.get(created.id)
                console.print(f"2. The pipeline asked for sign-off: [bold]{created.id}[/]")
                console.print(f"   review it at {approval.review_url}")

                result: dict[str, Approval] = {}
                woke_at: dict[str, float] = {}

                def pipeline_waits() -> None:
                    result["approval"] = pipeline.wait_for_decision(
                        created.id, timeout=None if wait else 60
                    )
                    woke_at["t"] = time.monotonic()

                waiter = threading.Thread(target=pipeline_waits)
                waiter.start()
                console.print("3. The pipeline waits (one long-poll, no busy polling) ...")
                if wait:
                    console.print(
                        "   decide it yourself, from another terminal:\n"
                        f"   SIGNOFF_URL={service.url} SIGNOFF_REVIEWER_TOKEN={DEMO_TOKEN} "
                        f"signoff approvals approve {created.id} --details "
                        '\'{"orderId": "8842", "amount": 100.0}\' --note \'ok\'\n'
                        "   (or reject it with: signoff approvals reject ID --note why)"
                    )
                    waiter.join()
                    decided_at = woke_at["t"]
                else:
                    time.sleep(1.5)
                    decided_at = time.monotonic()
                    reviewer.approve(
                        created.id,
                        modified_details={"orderId": "8842", "amount": 100.00, "currency": "USD"},
                        note="Partial refund: shipping is not refundable.",
                    )
                    console.print(
                        "4. Reviewer [bold]alice[/] approves, lowering the amount to 100.00"
                    )
                    waiter.join(timeout=30)
                decision = result["approval"]
                latency_ms = (woke_at["t"] - decided_at) * 1000
                woke = "" if wait else f" {latency_ms:.0f} ms after the decision"
                console.print(
                    f"5. The pipeline woke{woke}: "
                    f"[green]{decision.status.value}[/] by {decision.decided_by}, "
                    f"note: {decision.decision_note!r}"
                )
                console.print("   it goes on with the effective details:")
                console.print_json(data=decision.effective_details)
            console.rule("[bold]done")
    return 0
