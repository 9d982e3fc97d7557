"""In Chromium: a cookie kept from before signing out opens nothing, and the link after
signing in never leads to another site however ``next`` is spelled."""

from __future__ import annotations

import re

from playwright.sync_api import BrowserContext, Page, expect

from signoff.server.process import ServiceProcess
from tests.e2e.conftest import Screenshot, create, read, sign_in


def test_a_cookie_copied_before_sign_out_opens_nothing(
    service: ServiceProcess, page: Page, context: BrowserContext, shot: Screenshot
) -> None:
    approval = create(service, summary="Refund after sign-out")
    sign_in(page, approval["reviewUrl"])
    kept = context.cookies()  # what someone with access to the browser could copy
    csrf = page.locator("form.signout input[name=csrf]").input_value()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_text("You are signed out.")).to_be_visible()

    context.clear_cookies()
    context.add_cookies(kept)  # type: ignore[arg-type]
    page.goto(approval["reviewUrl"])
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    shot(page)
    answer = context.request.post(
        f"{service.url}/review/{approval['id']}/decision",
        form={"csrf": csrf, "decision": "approve"},
        max_redirects=0,
    )
    assert answer.status == 303 and answer.headers["location"].startswith("/signin")
    assert read(service, approval["id"])["status"] == "PENDING"


def test_continue_after_sign_in_stays_on_this_site(
    service: ServiceProcess, page: Page, shot: Screenshot
) -> None:
    sign_in(page, f"{service.url}/inbox")
    for target in ("/%09/evil.example", "/%5Cevil.example", "/%0a/evil.example"):
        page.goto(f"{service.url}/signin?next={target}")
        link = page.get_by_role("link", name="Continue")
        resolved = link.evaluate("a => a.href")  # as Chromium resolves it
        assert resolved == f"{service.url}/inbox", (target, resolved)
    shot(page)
