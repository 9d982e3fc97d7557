"""Real headless Chromium (Debian's /usr/bin/chromium, never a downloaded one) via Playwright."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from signoff.server.process import ServiceProcess
from tests.conftest import API_KEY, REVIEWER_TOKEN

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"

expect.set_options(timeout=20_000)  # a shared 2-core machine: waits, never timed claims

Screenshot = Callable[..., Path]


@pytest.fixture(scope="module")
def browser(service: ServiceProcess) -> Iterator[Browser]:
    """One Chromium per module, closed before the module's service stops."""
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh profile per test: no cookies carried over."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Screenshot:
    """Saves a full-page screenshot as test-output/screenshots/<test>[-<name>].png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str = "") -> Path:
        stem = request.node.name.removeprefix("test_") + (f"-{name}" if name else "")
        path = SCREENSHOTS / f"{stem}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take


def create(service: ServiceProcess, **fields: Any) -> dict[str, Any]:
    """Submit an approval through the API, as a pipeline would; its full record."""
    body = {
        "action": "process_refund",
        "summary": "Refund $120.00 for order #8842",
        "details": {"orderId": "8842", "amount": 120.0, "currency": "USD"},
        "riskLevel": "high",
        **fields,
    }
    created = httpx.post(
        f"{service.url}/api/approvals/request", json=body, headers={"x-api-key": API_KEY}
    )
    assert created.status_code == 201, created.text
    return read(service, created.json()["id"])


def read(service: ServiceProcess, approval_id: str) -> dict[str, Any]:
    answer = httpx.get(f"{service.url}/api/approvals/{approval_id}", headers={"x-api-key": API_KEY})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def decide_by_api(service: ServiceProcess, approval_id: str, **body: Any) -> dict[str, Any]:
    answer = httpx.post(
        f"{service.url}/api/approvals/{approval_id}/decision",
        json=body,
        headers={"authorization": f"Bearer {REVIEWER_TOKEN}"},
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def sign_in(page: Page, url: str, token: str = REVIEWER_TOKEN) -> None:
    """Open ``url``, get sent to the sign-in page, sign in, come back to ``url``."""
    page.goto(url)
    expect(page).to_have_url(re.compile(r"/signin\?next="))
    page.get_by_label("Reviewer token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(re.compile(r"/signin"))


def unlabelled_controls(page: Page) -> list[str]:
    """Visible form controls a screen reader could not name."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll('input, select, textarea, button')]
            .filter((el) => el.type !== 'hidden' && el.offsetParent !== null)
            .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
                            && !(el.tagName === 'BUTTON' && el.textContent.trim()))
            .map((el) => el.outerHTML.slice(0, 80))"""
    )
    return found
