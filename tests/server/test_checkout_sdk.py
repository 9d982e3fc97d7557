"""The official ``checkout-sdk``, unchanged, against ``signoff serve``."""

from __future__ import annotations

import json
import warnings

import pytest
from checkout_sdk.checkout_sdk import CheckoutSdk
from checkout_sdk.environment import Environment
from checkout_sdk.exception import CheckoutApiException
from checkout_sdk.webhooks.webhooks import WebhookRequest
from checkout_sdk.workflows.workflows import (
    CreateWorkflowRequest,
    EntityWorkflowConditionRequest,
    EventTypesRequest,
    EventWorkflowConditionRequest,
    ReflowByEventsRequest,
    UpdateWorkflowRequest,
    WebhookSignature,
    WebhookWorkflowActionRequest,
)

from signoff.server.process import ServiceProcess
from signoff.signing import verify_cko_signature
from tests.conftest import CKO_PREVIOUS_KEY, CKO_SECRET_KEY
from tests.receiver import receiver


def environment(service: ServiceProcess) -> Environment:
    url = f"{service.url}/"
    return Environment(url, url, url, url, url, url, url, True)


@pytest.fixture
def api(service: ServiceProcess):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # use_legacy_domain: no subdomain here
        return (
            CheckoutSdk.builder()
            .secret_key(CKO_SECRET_KEY)
            .environment(environment(service))
            .use_legacy_domain()
            .build()
        )


@pytest.fixture
def previous(service: ServiceProcess):  # type: ignore[no-untyped-def]
    return (
        CheckoutSdk.builder()
        .previous()
        .secret_key(CKO_PREVIOUS_KEY)
        .environment(environment(service))
        .build()
    )


def webhook_action(url: str, key: str = "sdk-key") -> WebhookWorkflowActionRequest:
    action = WebhookWorkflowActionRequest()
    action.url = url
    action.headers = {"Authorization": "sdk-auth"}
    signature = WebhookSignature()
    signature.method = "HMACSHA256"
    signature.key = key
    action.signature = signature
    return action


def test_workflow_lifecycle_through_the_sdk(api) -> None:  # type: ignore[no-untyped-def]
    with receiver() as hook:
        condition = EventWorkflowConditionRequest()
        condition.events = {"gateway": ["payment_approved", "payment_captured"]}
        request = CreateWorkflowRequest()
        request.name = "sdk workflow"
        request.active = True
        request.conditions = [condition]
        request.actions = [webhook_action(hook.url)]
        created = api.workflows.create_workflow(request)
        assert created.http_metadata.status_code == 201
        workflow = api.workflows.get_workflow(created.id)
        assert workflow.name == "sdk workflow"
        assert workflow.conditions[0].events.gateway == ["payment_approved", "payment_captured"]
        assert created.id in [w.id for w in api.workflows.get_workflows().data]

        update = UpdateWorkflowRequest()
        update.name = "renamed"
        update.active = True
        assert api.workflows.update_workflow(created.id, update).name == "renamed"

        entity = EntityWorkflowConditionRequest()
        entity.entities = ["ent_sdk"]
        condition_id = api.workflows.add_workflow_condition(created.id, entity).id
        entity.entities = ["ent_sdk", "ent_two"]
        api.workflows.update_workflow_condition(created.id, condition_id, entity)
        conditions = api.workflows.get_workflow(created.id).conditions
        assert [c.entities for c in conditions if c.id == condition_id] == [["ent_sdk", "ent_two"]]
        api.workflows.remove_workflow_condition(created.id, condition_id)

        action_id = api.workflows.add_workflow_action(created.id, webhook_action(hook.url, "k2")).id
        api.workflows.update_workflow_action(created.id, action_id, webhook_action(hook.url, "k3"))
        api.workflows.remove_workflow_action(created.id, action_id)

        test = EventTypesRequest()
        test.event_types = ["payment_approved"]
        assert api.workflows.test_workflow(created.id, test).http_metadata.status_code == 204
        (delivery,) = hook.wait_for(1)
        verify_cko_signature(delivery.body, delivery.headers["cko-signature"], "sdk-key")
        event_id = json.loads(delivery.body)["id"]

        event = api.workflows.get_event(event_id)
        assert event.type == "payment_approved"
        action = event.action_invocations[0]
        invocations = api.workflows.get_action_invocations(event_id, action.workflow_action_id)
        assert invocations.status == "successful"

        reflow = ReflowByEventsRequest()
        reflow.events = [event_id]
        reflow.workflows = [created.id]
        assert api.workflows.reflow(reflow).http_metadata.status_code == 202
        assert api.workflows.reflow_by_event(event_id).http_metadata.status_code == 202
        hook.wait_for(3)
        assert len(api.workflows.get_event_types().items) >= 3

        api.workflows.remove_workflow(created.id)
        with pytest.raises(CheckoutApiException) as caught:
            api.workflows.get_workflow(created.id)
        assert caught.value.http_metadata.status_code == 404


def test_invalid_workflow_gives_the_sdk_error_codes(api) -> None:  # type: ignore[no-untyped-def]
    request = CreateWorkflowRequest()
    request.name = "bad"
    request.actions = [webhook_action("https://example.com")]
    request.actions[0].signature.method = "MD5"
    with pytest.raises(CheckoutApiException) as caught:
        api.workflows.create_workflow(request)
    assert caught.value.http_metadata.status_code == 422
    assert caught.value.error_type == "request_invalid"
    assert caught.value.error_details


def test_webhooks_through_the_previous_platform_sdk(previous) -> None:  # type: ignore[no-untyped-def]
    request = WebhookRequest()
    request.url = "https://example.com/sdk-previous"
    request.active = True
    request.headers = {"authorization": "1234"}
    request.content_type = "json"
    request.event_types = ["payment_approved", "payment_captured"]
    created = previous.webhooks.register_webhook(request)
    assert created.http_metadata.status_code == 201 and created.id.startswith("wh_")
    assert created.id in [w.id for w in previous.webhooks.retrieve_webhooks().items]
    assert previous.webhooks.retrieve_webhook(created.id).url == request.url

    request.event_types = ["payment_voided"]
    assert previous.webhooks.update_webhook(created.id, request).event_types == ["payment_voided"]
    patch = WebhookRequest()
    patch.active = False
    assert previous.webhooks.patch_webhook(created.id, patch).active is False

    with pytest.raises(CheckoutApiException) as caught:
        previous.webhooks.register_webhook(request)
    assert caught.value.http_metadata.status_code == 409
    assert previous.webhooks.remove_webhook(created.id).http_metadata.status_code == 200
