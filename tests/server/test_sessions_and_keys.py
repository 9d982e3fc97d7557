"""Admin keys, revocable reviewer sessions, ``next`` after sign-in, failed-key limits and
keys read from files, all against the real ``signoff serve``."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import HTTPException

from signoff.server.auth import admin
from signoff.server.process import ServiceProcess, free_port
from signoff.server.store.credentials import Principal
from signoff.server.ui.session import COOKIE
from tests.conftest import API_KEY, REVIEWER_TOKEN, StartService


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")}
    return subprocess.run(
        [sys.executable, "-m", "signoff", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def eventually(check: Callable[[], Any], seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while not (value := check()) and time.monotonic() < deadline:
        time.sleep(0.1)
    return value


def create_approval(service: ServiceProcess, key: str = API_KEY) -> httpx.Response:
    return httpx.post(
        f"{service.url}/api/approvals/request",
        json={"action": "sessions", "summary": "check"},
        headers={"x-api-key": key},
    )


# -- admin keys -------------------------------------------------------------------------


def test_admin_key_may_do_what_an_api_key_may_but_not_decide(
    start_service: StartService, database_url: str | None, tmp_path: Any
) -> None:
    url = database_url or f"sqlite:///{tmp_path / 'signoff.db'}"
    service = start_service(url)
    made = run_cli("keys", "create", "--database-url", url, "--kind", "admin", "--name", "ops")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("so_adm_") and "created admin key" in made.stdout
    listed = run_cli("keys", "list", "--database-url", url)
    assert "admin" in listed.stdout and key not in listed.stdout

    # A running service loads it within seconds, as it does any stored key.
    created = eventually(lambda: (r := create_approval(service, key)).status_code == 201 and r)
    assert created, "the admin key was never accepted"
    approval_id = created.json()["id"]
    auth = {"Authorization": f"Bearer {key}"}
    assert httpx.get(f"{service.url}/webhooks", headers=auth).status_code in (200, 204)
    read = httpx.get(f"{service.url}/api/approvals/{approval_id}", headers=auth)
    assert read.status_code == 200 and read.json()["status"] == "PENDING"
    decided = httpx.post(
        f"{service.url}/api/approvals/{approval_id}/decision",
        json={"decision": "approve"},
        headers=auth,
    )
    assert decided.status_code == 403 and decided.json()["error"]


def test_admin_caller_refuses_every_other_kind() -> None:
    for kind in ("api", "reviewer"):
        with pytest.raises(HTTPException) as refused:
            asyncio.run(admin(Principal(kind, "someone")))
        assert refused.value.status_code == 403
    assert asyncio.run(admin(Principal("admin", "ops"))) == Principal("admin", "ops")


# -- sessions ---------------------------------------------------------------------------


def csrf_in(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def get(service: ServiceProcess, path: str, cookie: str | None = None) -> httpx.Response:
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
    return httpx.get(f"{service.url}{path}", headers=headers)


def post_form(
    service: ServiceProcess, path: str, cookie: str | None, fields: dict[str, str]
) -> httpx.Response:
    headers = {"Cookie": f"{COOKIE}={cookie}"} if cookie else {}
    return httpx.post(f"{service.url}{path}", data=fields, headers=headers)


def sign_in(service: ServiceProcess, next_path: str = "/inbox") -> tuple[str, str]:
    """As a browser does: the form and its cookie, then the token; (cookie, CSRF token)."""
    form = get(service, "/signin")
    anonymous = form.cookies[COOKIE]
    fields = {"csrf": csrf_in(form.text), "token": REVIEWER_TOKEN, "next": next_path}
    signed_in = post_form(service, "/signin", anonymous, fields)
    assert signed_in.status_code == 303, signed_in.text
    cookie = signed_in.cookies[COOKIE]
    inbox = get(service, "/inbox", cookie)
    assert inbox.status_code == 200
    return cookie, csrf_in(inbox.text)


def test_sign_out_ends_the_session_on_every_process(
    start_service: StartService, database_url: str | None
) -> None:
    """Two processes sharing one database: signing out on one ends it on the other too."""
    first, second = start_service(database_url), start_service(database_url)
    approval_id = create_approval(first).json()["id"]
    cookie, csrf = sign_in(first)
    other_cookie, _ = sign_in(first)  # the same reviewer on another device
    assert get(second, "/inbox", cookie).status_code == 200  # one session, any process

    signed_out = post_form(first, "/signout", cookie, {"csrf": csrf})
    assert signed_out.status_code == 303 and "signedout=1" in signed_out.headers["location"]

    for service in (first, second):
        inbox = get(service, "/inbox", cookie)
        assert inbox.status_code == 303 and inbox.headers["location"].startswith("/signin")
        assert get(service, f"/review/{approval_id}/live", cookie).status_code == 401
        decision = post_form(
            service, f"/review/{approval_id}/decision", cookie,
            {"csrf": csrf, "decision": "approve", "note": "after sign-out"},
        )  # fmt: skip
        assert decision.status_code == 303 and decision.headers["location"].startswith("/signin")
    read = httpx.get(f"{first.url}/api/approvals/{approval_id}", headers={"x-api-key": API_KEY})
    assert read.json()["status"] == "PENDING" and read.json()["decidedBy"] is None

    # The reviewer's other session is untouched, and signing in again works.
    assert get(second, "/inbox", other_cookie).status_code == 200
    again, again_csrf = sign_in(second)
    decided = post_form(
        first, f"/review/{approval_id}/decision", again, {"csrf": again_csrf, "decision": "reject"}
    )
    assert decided.status_code == 303 and decided.headers["location"] == f"/review/{approval_id}"
    read = httpx.get(f"{first.url}/api/approvals/{approval_id}", headers={"x-api-key": API_KEY})
    assert read.json()["status"] == "REJECTED"


# -- where sign-in leads ----------------------------------------------------------------

OFF_SITE = [
    "/%09/evil.example",  # Chromium drops the tab: //evil.example
    "/\t/evil.example",
    "/%0a/evil.example",
    "/%0d%0a/evil.example",
    "//evil.example",
    "/\\evil.example",
    "/%5Cevil.example",
    "/%2F/evil.example",
    "/%252F%252Fevil.example",  # decoded twice
    "/%E2%80%8B/evil.example",  # a zero-width space
    "https://evil.example/",
    "javascript:alert(1)",
    " /inbox",
]


def test_next_is_only_a_plain_path_of_this_site(service: ServiceProcess) -> None:
    cookie, _ = sign_in(service)
    # As given in a link (the server decodes %09 to a tab), and encoded once more.
    queries = [f"next={t}" for t in OFF_SITE if t.isprintable() and " " not in t]
    for query in queries + [urlencode({"next": t}) for t in OFF_SITE]:
        shown = get(service, f"/signin?{query}", cookie)
        assert shown.status_code == 200
        assert '<a href="/inbox">Continue</a>' in shown.text, query
        assert "evil" not in shown.text, query
    for target in ("/review/req_1?tab=details", "/history?status=approved&page=2"):
        shown = get(service, f"/signin?{urlencode({'next': target})}", cookie)
        assert f'href="{target.replace("&", "&amp;")}"' in shown.text

    # Signing in follows the same rule.
    for target, lands in ((OFF_SITE[0], "/inbox"), ("/history", "/history")):
        form = get(service, "/signin")
        anonymous = form.cookies[COOKIE]
        fields = {"csrf": csrf_in(form.text), "token": REVIEWER_TOKEN, "next": target}
        signed_in = post_form(service, "/signin", anonymous, fields)
        assert signed_in.status_code == 303 and signed_in.headers["location"] == lands


# -- failed keys ------------------------------------------------------------------------


def wrong_keys(service: ServiceProcess, count: int) -> list[httpx.Response]:
    with httpx.Client(base_url=service.url, timeout=30) as http:
        return [
            http.get("/api/approvals", headers={"x-api-key": f"guess-{n}"}) for n in range(count)
        ]


def test_a_burst_of_wrong_keys_is_slowed_down(start_service: StartService) -> None:
    service = start_service()
    statuses = [a.status_code for a in wrong_keys(service, 300)]
    assert statuses[:100] == [401] * 100  # the default burst: ten seconds' worth
    assert set(statuses) == {401, 429} and statuses.count(429) >= 100


def test_the_limit_can_be_turned_off(start_service: StartService) -> None:
    service = start_service(None, "--auth-failure-rate", "0")
    assert {a.status_code for a in wrong_keys(service, 150)} == {401}


def test_while_an_address_is_limited_even_the_right_key_waits(
    start_service: StartService,
) -> None:
    """Wrong keys and wrong sign-ins share the address's bucket; the right key then
    learns nothing either, until the bucket refills (a failure every 5 s, bursts of 2)."""
    service = start_service(None, "--auth-failure-rate", "0.2")
    assert httpx.get(f"{service.url}/api/approvals").status_code == 401  # no key: no charge
    form = get(service, "/signin")
    anonymous, csrf = form.cookies[COOKIE], csrf_in(form.text)
    statuses = [
        post_form(service, "/signin", anonymous, {"csrf": csrf, "token": f"guess-{n}"})
        for n in range(2)
    ]
    assert [s.status_code for s in statuses] == [401, 401]
    assert "not known" in statuses[0].text

    signin = post_form(service, "/signin", anonymous, {"csrf": csrf, "token": REVIEWER_TOKEN})
    assert signin.status_code == 429 and signin.headers["Retry-After"]
    assert "Too many failed sign-ins" in signin.text
    limited = create_approval(service)  # the right API key, from the same address
    assert limited.status_code == 429 and "failed" in limited.json()["error"]
    wait = int(limited.headers["Retry-After"])
    assert 1 <= wait <= 5

    time.sleep(wait + 0.2)
    assert create_approval(service).status_code == 201  # the right key is let through
    assert wrong_keys(service, 1)[0].status_code == 401  # the refilled token is spent
    assert create_approval(service).status_code == 429


# -- keys from files and the environment ------------------------------------------------

WARNING = "visible to other users of this machine"


@contextmanager
def serve(tmp_path: Path, env: dict[str, str], *args: str) -> Iterator[tuple[str, Path]]:
    """``signoff serve`` with exactly this environment; (its URL, its output)."""
    port = free_port()
    log = tmp_path / f"serve-{port}.log"
    base = {k: v for k, v in os.environ.items() if not k.startswith("SIGNOFF_")}
    database = ["--database-url", f"sqlite:///{tmp_path / 'keys.db'}"]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "signoff", "serve", "--port", str(port), *database, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**base, **env},
        )
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        assert proc.poll() is None, log.read_text()
        try:
            return httpx.get(f"{url}/healthz").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        assert eventually(healthy, 90)
        yield url, log
    finally:
        proc.terminate()
        proc.wait(20)


def can_read(url: str, key: str) -> bool:
    return httpx.get(f"{url}/api/approvals", headers={"x-api-key": key}).status_code == 200


def test_keys_from_files_and_the_environment_warn_of_nothing(tmp_path: Path) -> None:
    keys = tmp_path / "api-keys"
    keys.write_text("# pipelines\nfile-key-one\n\n   file-key-two  \n#not-a-key\n")
    tokens = tmp_path / "reviewer-tokens"
    tokens.write_text("# reviewers\nbob=file-token-bob\n")
    env = {"SIGNOFF_API_KEY_FILE": str(keys), "SIGNOFF_REVIEWER_TOKEN": "carol=env-token"}
    with serve(tmp_path, env, "--reviewer-token-file", str(tokens)) as (url, log):
        assert can_read(url, "file-key-one") and can_read(url, "file-key-two")
        assert not can_read(url, "#not-a-key")
        created = httpx.post(
            f"{url}/api/approvals/request",
            json={"action": "a", "summary": "s"},
            headers={"x-api-key": "file-key-one"},
        ).json()
        for token, name in (("file-token-bob", "bob"), ("env-token", "carol")):
            me = httpx.get(
                f"{url}/api/approvals/{created['id']}",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert me.status_code == 200, name
        decided = httpx.post(
            f"{url}/api/approvals/{created['id']}/decision",
            json={"decision": "approve"},
            headers={"Authorization": "Bearer file-token-bob"},
        )
        assert decided.json()["decidedBy"] == "bob"
    output = log.read_text()
    assert WARNING not in output and "file-key" not in output and "env-token" not in output


def test_several_keys_in_one_environment_variable(tmp_path: Path) -> None:
    with serve(tmp_path, {"SIGNOFF_API_KEY": "env-key-one  env-key-two"}) as (url, log):
        assert can_read(url, "env-key-one") and can_read(url, "env-key-two")
    assert WARNING not in log.read_text()


def test_keys_given_as_flags_still_work_with_a_warning(
    start_service: StartService, tmp_path: Path
) -> None:
    service = start_service()  # --api-key and --reviewer-token flags, as the suite does
    assert create_approval(service).status_code == 201
    service.stop()
    output = (tmp_path / "serve-0.log").read_text()
    assert f"--api-key values are {WARNING}" in output
    assert f"--reviewer-token values are {WARNING}" in output
    assert API_KEY not in output and REVIEWER_TOKEN not in output


def test_a_key_file_that_cannot_be_read_stops_serve(tmp_path: Path) -> None:
    for option, path in (
        ("--api-key-file", tmp_path / "missing"),
        ("--reviewer-token-file", tmp_path),  # a directory
    ):
        result = run_cli("serve", "--port", str(free_port()), option, str(path))
        assert result.returncode == 2, result.stderr
        assert f"Invalid value for {option}: cannot read {path}" in result.stderr
