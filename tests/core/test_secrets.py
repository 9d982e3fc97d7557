"""One masking rule (``signoff.secrets``): header values, signature keys, URL passwords."""

from __future__ import annotations

import json

from signoff.models.webhooks import Webhook
from signoff.secrets import MASK, SECRET, mask_field, mask_url, masked, secrets_in
from signoff.subscriptions.plan import make_plan
from signoff.subscriptions.spec import Spec

WEBHOOK = {
    "id": "wh_1",
    "url": "https://ops:pa55word@hooks.example.com/in",
    "active": True,
    "headers": {"Authorization": "Bearer tok-1", "X-Team": "ledger", "X-Empty": ""},
    "content_type": "json",
    "event_types": ["payment_captured"],
}
WORKFLOW = {
    "name": "refunds",
    "conditions": [{"type": "event", "events": {"gateway": ["payment_refunded"]}}],
    "actions": [
        {
            "type": "webhook",
            "url": "https://finance.example.com/in",
            "headers": {"X-Key": "k-2"},
            "signature": {"method": "HMACSHA256", "key": "sig-3"},
        }
    ],
}


def test_every_header_value_is_a_secret_whatever_its_name() -> None:
    shown = masked(WEBHOOK)
    assert shown["headers"] == {"Authorization": SECRET, "X-Team": SECRET, "X-Empty": SECRET}
    assert shown["url"] == f"https://ops:{MASK}@hooks.example.com/in"
    assert shown["event_types"] == ["payment_captured"] and shown["id"] == "wh_1"
    assert WEBHOOK["headers"]["X-Team"] == "ledger"  # a copy: the body itself is unchanged


def test_signature_keys_anywhere_in_a_body() -> None:
    shown = masked(WORKFLOW)
    [action] = shown["actions"]
    assert action["signature"] == {"method": "HMACSHA256", "key": SECRET}
    assert action["headers"] == {"X-Key": SECRET}
    assert action["url"] == "https://finance.example.com/in"  # no password: unchanged
    assert shown["conditions"] == WORKFLOW["conditions"]


def test_secrets_in_finds_what_masked_hides() -> None:
    found = secrets_in([WEBHOOK, WORKFLOW])
    assert sorted(found) == sorted(["Bearer tok-1", "ledger", "pa55word", "k-2", "sig-3"])
    text = json.dumps(masked([WEBHOOK, WORKFLOW]))
    assert not any(secret in text for secret in found)


def test_mask_field_masks_one_field_by_its_name() -> None:
    assert mask_field("headers", {"A": "1"}) == {"A": SECRET}
    assert mask_field("signature", {"key": "s", "method": "m"}) == {"key": SECRET, "method": "m"}
    assert mask_field("url", "https://u:p@h.example/") == f"https://u:{MASK}@h.example/"
    assert mask_field("name", "refunds") == "refunds" and mask_field("url", None) is None


def test_mask_url_keeps_a_url_without_a_password() -> None:
    assert mask_url("https://user@h.example/x") == "https://user@h.example/x"
    assert mask_url("https://h.example/x?token=1") == "https://h.example/x?token=1"
    assert mask_url("http://[::1") == "http://[::1"  # unparsable: shown as given


def test_a_plan_shows_no_url_password_of_an_unmanaged_webhook() -> None:
    remote = Webhook.model_validate(
        {**WEBHOOK, "headers": {}, "_links": {"self": {"href": "https://x.example/webhooks/wh_1"}}}
    )
    plan = make_plan(Spec(webhooks={}, workflows={}), [remote], [])
    assert [item.label for item in plan.unmanaged] == [f"https://ops:{MASK}@hooks.example.com/in"]
    pruned = make_plan(
        Spec(webhooks={}, workflows={}), [remote], [], prune=True, prune_unmanaged=True
    )
    assert "pa55word" not in pruned.model_dump_json()
    assert pruned.changes[0].payload["url"] == WEBHOOK["url"]  # what is sent stays exact
