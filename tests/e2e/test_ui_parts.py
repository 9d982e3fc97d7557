"""The pieces under the pages: the session cookie and the details diff."""

from __future__ import annotations

import time

from signoff.server.store.credentials import KeyEntry, Keyring, Principal, key_hash
from signoff.server.ui.diff import diff
from signoff.server.ui.session import MAX_AGE, SessionCodec

ALICE = Principal("reviewer", "alice")
KEYRING = Keyring(
    [
        KeyEntry(key_hash("alice-token"), ALICE),
        KeyEntry(key_hash("pipeline-key"), Principal("api", "etl")),
    ]
)


def test_a_session_names_its_reviewer_and_survives_only_unaltered() -> None:
    codec = SessionCodec("secret")
    session, cookie = codec.signed_in(ALICE, key_hash("alice-token"))
    assert codec.decode(cookie, KEYRING) == session
    assert "alice-token" not in cookie and key_hash("alice-token") not in cookie

    payload, _, signature = cookie.partition(".")
    assert codec.decode(payload[:-2] + "xx." + signature, KEYRING) is None
    assert SessionCodec("another secret").decode(cookie, KEYRING) is None
    assert codec.decode(cookie, KEYRING, now=time.time() + MAX_AGE + 5) is None


def test_a_session_ends_when_its_token_is_replaced() -> None:
    codec = SessionCodec("secret")
    _, cookie = codec.signed_in(ALICE, key_hash("alice-token"))
    replaced = Keyring([KeyEntry(key_hash("new-token"), ALICE)])
    assert codec.decode(cookie, replaced) is None


def test_an_anonymous_session_carries_only_a_csrf_token() -> None:
    codec = SessionCodec("secret")
    session, cookie = codec.anonymous()
    decoded = codec.decode(cookie, KEYRING)
    assert decoded is not None and decoded.reviewer is None and decoded.csrf == session.csrf
    signed_in, _ = codec.signed_in(ALICE, key_hash("alice-token"))
    assert signed_in.csrf != session.csrf  # a token planted before sign-in is worthless


def test_diff_names_each_changed_path() -> None:
    before = {"amount": 120.0, "items": [1, 2], "to": {"iban": "DE1"}, "odd key": 1}
    after = {"amount": 100, "items": [1], "to": {"iban": "DE2", "bic": "X"}, "odd key": 1}
    found = [(c.path, c.kind, c.before, c.after) for c in diff(before, after)]
    assert found == [
        ("amount", "changed", 120.0, 100),
        ("items[1]", "removed", 2, None),
        ("to.iban", "changed", "DE1", "DE2"),
        ("to.bic", "added", None, "X"),
    ]
    assert diff({"n": 1}, {"n": 1.0}) == []  # one JSON number
    assert [c.kind for c in diff({"flag": 1}, {"flag": True})] == ["changed"]
    assert [c.path for c in diff({"a b": 1}, {"a b": 2})] == ['["a b"]']


def test_sign_in_only_returns_to_pages_of_this_site() -> None:
    from signoff.server.ui.router import local_path

    assert local_path("/review/req_1?x=1") == "/review/req_1?x=1"
    for elsewhere in ("//evil.example/", "https://evil.example/", "/\\evil.example", None, ""):
        assert local_path(elsewhere) == "/inbox"
