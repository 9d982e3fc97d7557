"""The resume receiver: turns signoff's signed decision callbacks into Prefect resumes.

    SIGNOFF_SIGNING_SECRET=whsec_... PREFECT_API_URL=http://prefect:4200/api \\
        python -m signoff_prefect.receiver --host 0.0.0.0 --port 8787

``request_approval_and_suspend`` points each approval's ``callbackUrl`` at
``<receiver>/flow-runs/<flow run id>``. When the approval is decided, ``signoff serve``
POSTs the decision here; the receiver refuses anything whose ``X-Signoff-Signature``
does not verify, and resumes the flow run with the decision as its run input.

Delivery is at-least-once and may race the suspend, so the answers tell the service
what to do next: 200 when the run is resumed (or was, by an earlier delivery), 503 while
the run has not suspended yet (the service retries with backoff), 410 when there is
nothing left to resume (the run is gone, finished, or timed out: the service stops).
"""

from __future__ import annotations

import argparse
import logging
import os
from uuid import UUID

import httpx
from prefect.client.orchestration import get_client
from prefect.exceptions import FlowPauseTimeout, NotPausedError, ObjectNotFound
from prefect.flow_runs import aresume_flow_run
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from signoff.models import CallbackPayload
from signoff.signing import SIGNATURE_HEADER, SignatureError, verify
from signoff_prefect.suspend import ApprovalDecision, pause_key

log = logging.getLogger(__name__)


def _answer(status: int, message: str) -> JSONResponse:
    return JSONResponse({"status": message} if status < 400 else {"error": message}, status)


async def _already_resumed(flow_run_id: UUID, approval_id: str) -> bool:
    """True when an earlier delivery already gave this run its decision."""
    key = f"suspended-{pause_key(approval_id)}-response"
    async with get_client() as client:
        try:
            await client.read_flow_run_input(flow_run_id, key)
        except (ObjectNotFound, httpx.HTTPStatusError):
            return False
    return True


async def _finished(flow_run_id: UUID) -> bool:
    async with get_client() as client:
        run = await client.read_flow_run(flow_run_id)
    return run.state is not None and run.state.is_final()


def create_app(signing_secret: str) -> Starlette:
    """The receiver as an ASGI app (mount it in an existing server, or run ``main``)."""

    async def resume(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            verify(body, request.headers.get(SIGNATURE_HEADER), signing_secret)
        except SignatureError as exc:
            return _answer(401, str(exc))
        try:
            payload = CallbackPayload.model_validate_json(body)
            flow_run_id = UUID(request.path_params["flow_run_id"])
        except (ValidationError, ValueError) as exc:
            return _answer(422, str(exc))
        run_input = ApprovalDecision.from_callback(payload).model_dump(mode="json")
        try:
            await aresume_flow_run(flow_run_id, run_input=run_input)
        except ObjectNotFound:
            return _answer(410, f"flow run {flow_run_id} does not exist")
        except FlowPauseTimeout:
            return _answer(410, f"flow run {flow_run_id} stopped waiting")
        except NotPausedError:
            if await _already_resumed(flow_run_id, payload.approval_id):
                return _answer(200, "already resumed")
            if await _finished(flow_run_id):
                return _answer(410, f"flow run {flow_run_id} has finished")
            # Decided before the run got to suspend: the service will try again shortly.
            return _answer(503, f"flow run {flow_run_id} is not suspended yet")
        log.info("resumed flow run %s: %s %s", flow_run_id, payload.approval_id, payload.status)
        return _answer(200, "resumed")

    async def healthz(request: Request) -> JSONResponse:
        return _answer(200, "ok")

    return Starlette(
        routes=[
            Route("/flow-runs/{flow_run_id}", resume, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(
        prog="python -m signoff_prefect.receiver",
        description="Resume suspended Prefect flow runs when signoff approvals are decided.",
    )
    parser.add_argument("--host", default=os.environ.get("SIGNOFF_RECEIVER_HOST", "127.0.0.1"))
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("SIGNOFF_RECEIVER_PORT", "8787"))
    )
    parser.add_argument(
        "--signing-secret",
        default=os.environ.get("SIGNOFF_SIGNING_SECRET"),
        help="the service's callback signing secret (env SIGNOFF_SIGNING_SECRET)",
    )
    args = parser.parse_args(argv)
    if not args.signing_secret:
        parser.error("--signing-secret (or SIGNOFF_SIGNING_SECRET) is required")
    logging.basicConfig(level=logging.INFO)
    uvicorn.run(create_app(args.signing_secret), host=args.host, port=args.port)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
