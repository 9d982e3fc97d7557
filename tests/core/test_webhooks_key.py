"""The key ``/webhooks`` takes: the account's webhooks key if it has one, else its secret key."""

from __future__ import annotations

from signoff.client import webhooks_key
from signoff.subscriptions import SubscriptionsClient


def test_the_webhooks_key_wins_when_given() -> None:
    assert webhooks_key("sk_1", "sk_prev") == "sk_prev"
    assert webhooks_key("sk_1", None) == "sk_1"
    assert webhooks_key("sk_1", "") == "sk_1"  # an empty form field is no key
    assert webhooks_key("sk_1") == "sk_1"


def test_the_subscriptions_client_follows_it() -> None:
    with SubscriptionsClient("http://127.0.0.1:1", secret_key="sk_1") as client:
        assert client.calls.webhooks.secret_key == "sk_1"
        assert client.calls.workflows.secret_key == "sk_1"
    with SubscriptionsClient(
        "http://127.0.0.1:1", secret_key="sk_1", webhooks_secret_key="sk_prev"
    ) as client:
        assert client.calls.webhooks.secret_key == "sk_prev"
        assert client.calls.workflows.secret_key == "sk_1"
