"""``POST /slack/interactions``: Slack's Interactivity request URL for signoff's Slack app.

Slack signs every request with the app's signing secret (``X-Slack-Signature`` over
``v0:{X-Slack-Request-Timestamp}:{body}``); the signature is the only credential, so it
is checked before the body is read as anything, and a request older than five minutes
is refused (a replay). Slack wants an answer within three seconds and retries without
one: the click is decided while Slack waits, and the answer carries nothing.
"""

from __future__ import annotations

import json
import logging
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Request, Response
from starlette.datastructures import Headers

from signoff.server.api._common import errors
from signoff.server.auth import client_address, too_many_failures
from signoff.server.domain import slack
from signoff.server.services import Services, get_services

log = logging.getLogger(__name__)

router = APIRouter(prefix="/slack", tags=["slack"], responses=errors(429, 503))

FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "required": ["payload"],
                    "properties": {
                        "payload": {
                            "type": "string",
                            "description": "Slack's interaction payload (block_actions), as JSON",
                        }
                    },
                }
            }
        },
    }
}


def signed(secret: str, body: bytes, headers: Headers) -> bool:
    """Slack's v0 signature holds for this body, and its timestamp is within 5 minutes."""
    from slack_sdk.signature import SignatureVerifier

    timestamp = headers.get("x-slack-request-timestamp")
    signature = headers.get("x-slack-signature")
    if not timestamp or not signature:
        return False
    try:
        return SignatureVerifier(secret).is_valid(body, timestamp.strip(), signature.strip())
    except (ValueError, UnicodeError):  # a timestamp that is no number, a body not UTF-8
        return False


def payload_of(body: bytes) -> dict[str, Any]:
    """``payload=<JSON>`` of a form-encoded body; 400 when it is not there."""
    try:
        values = parse_qs(body.decode("utf-8"), max_num_fields=20)
        found = json.loads(values["payload"][0])
    except (UnicodeError, ValueError, KeyError, IndexError):
        raise HTTPException(400, "the body must be payload=<Slack's interaction JSON>") from None
    if not isinstance(found, dict):
        raise HTTPException(400, "the interaction payload must be a JSON object")
    return found


@router.post(
    "/interactions",
    response_class=Response,
    responses={
        200: {"description": "Acknowledged (a refusal is told to the clicking user in Slack)"},
        **errors(400, 401, 404, 413, 422),
    },
    openapi_extra=FORM,
)
async def interactions(
    request: Request, services: Annotated[Services, Depends(get_services)]
) -> Response:
    """A click on an Approve / Reject button of a message signoff's Slack app posted.

    The Slack user decides as the reviewer with their Slack email, under every rule of
    who may decide; when they may not, Slack shows them alone why. 401 unless Slack
    signed it (with ``--slack-signing-secret``) in the last 5 minutes; 404 when Slack
    app mode is off.
    """
    secret = services.settings.slack_signing_secret
    if not secret:
        raise HTTPException(404, "Slack app mode is off: the service has no --slack-signing-secret")
    address = client_address(request)
    if wait := services.auth_failures.wait(address):
        raise too_many_failures(wait)
    body = await request.body()
    if not signed(secret, body, request.headers):
        if request.headers.get("x-slack-signature"):  # no signature is a mistake, not a guess
            services.auth_failures.take(address)
        raise HTTPException(
            401, "not signed by Slack with this app's signing secret in the last 5 minutes"
        )
    outcome = await slack.interact(services, payload_of(body))
    log.debug("Slack interaction: %s", outcome)
    return Response(status_code=200)
