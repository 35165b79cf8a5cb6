"""The Acknowledge link of a notification mail in a real browser: Debian's chromium, driven by
Playwright, opens the link from the mail a real SMTP server (aiosmtpd) received, against the real
app served over HTTP (waitress on a free port) on SQLite; the person confirms and sees the
incident acknowledged. Signed out (a phone's browser) and signed in (taken to the console's
incident page). The pages run under the console's Content-Security-Policy: no inline script."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, ConsoleMessage, Page, expect

from bridge.clock import FakeClock
from bridge.web.app import create_app
from bridge.worker.runtime import Runtime
from tests.support.app import ADMIN_TOKEN, serving
from tests.support.browser import browser, screenshots  # noqa: F401  (fixtures)
from tests.support.console import console_runtime, console_settings
from tests.support.duty import msk
from tests.support.people import PASSWORD
from tests.support.postgres import free_port
from tests.support.receivers import _Inbox, smtp_server

TIMEOUT_MS = 15_000
SECRET = "test-secret-key-that-is-long-enough-0123456789"
ACK_LINK = re.compile(r"Acknowledge:\s+(http://\S+/mail-link/\S+?)\r?$", re.M)


@dataclass
class Site:
    url: str
    runtime: Runtime
    inbox: _Inbox

    def open_p1(self) -> int:
        """A P1 opened by hand at night (it goes to the night operator, orlov); its number."""
        response = requests.post(
            f"{self.url}/api/incidents",
            json={"title": "Payment gateway down", "priority": "P1", "client": "bank"},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=10,
        )
        assert response.status_code == 201, response.text
        self.runtime.runner.drain()  # the registration mail goes out
        incident = response.json()
        assert incident["assignee"] == "orlov"
        return int(incident["number"])

    def ack_link(self, number: int) -> str:
        (mail,) = [
            m
            for m in self.inbox.mails
            if m.recipients == ["orlov@desk.example"]
            and f"#{number} P1 registered" in str(m.message["Subject"])
        ]
        found = ACK_LINK.search(mail.message.get_body(("plain",)).get_content())
        assert found is not None
        return found.group(1)

    def status(self, number: int) -> str:
        response = requests.get(
            f"{self.url}/api/incidents/{number}",
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=10,
        )
        return str(response.json()["status"])


@pytest.fixture
def site(sqlite_template: Path, tmp_path: Path, clock: FakeClock) -> Iterator[Site]:
    database = tmp_path / "bridge.db"
    shutil.copy(sqlite_template, database)
    port = free_port()
    clock.set(msk("2026-11-24 03:00"))
    with smtp_server() as (smtp_url, inbox):
        settings = console_settings(
            f"sqlite:///{database}",
            tmp_path,
            smtp_url=smtp_url,
            smtp_from="bridge@desk.example",
            base_url=f"http://127.0.0.1:{port}",
            secret_key=SECRET,
        )
        runtime = console_runtime(settings, clock)
        try:
            with serving(create_app(runtime=runtime), port) as url:
                yield Site(url, runtime, inbox)
        finally:
            runtime.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:  # noqa: F811
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US")  # a phone
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    context.close()


def csp_violations(page: Page) -> list[str]:
    found: list[str] = []

    def listen(message: ConsoleMessage) -> None:
        if message.type == "error" and "Content Security Policy" in message.text:
            found.append(message.text)

    page.on("console", listen)
    return found


def test_the_link_from_the_mail_acknowledges_after_confirming_in_chromium(
    site: Site,
    page: Page,
    screenshots: Path,  # noqa: F811
) -> None:
    number = site.open_p1()
    link = site.ack_link(number)
    violations = csp_violations(page)

    page.goto(link)
    expect(page.locator("h1")).to_contain_text("Payment gateway down")
    expect(page.locator("#status")).to_have_attribute("data-status", "open")
    assert site.status(number) == "open"  # opening the link did nothing
    page.screenshot(path=str(screenshots / "mail-link-confirm.png"), full_page=True)

    page.click("button[data-action=ack]")

    expect(page.locator("#done")).to_have_attribute("data-outcome", "acted")
    expect(page.locator("#status")).to_have_attribute("data-status", "acknowledged")
    expect(page.locator("#done")).to_contain_text("Acknowledged by Oleg Orlov, via e-mail.")
    page.screenshot(path=str(screenshots / "mail-link-done.png"), full_page=True)
    assert site.status(number) == "acknowledged"
    assert violations == []

    page.goto(link)  # the same link again: used
    expect(page.locator("#refused")).to_have_attribute("data-problem", "used")


def test_signed_in_as_the_recipient_the_link_ends_on_the_console_incident(site: Site, page: Page) -> None:
    number = site.open_p1()
    link = site.ack_link(number)
    page.goto(f"{site.url}/login")
    page.fill("input[name=handle]", "orlov")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{site.url}/")

    page.goto(link)
    page.click("button[data-action=ack]")

    expect(page).to_have_url(f"{site.url}/incidents/{number}")
    expect(page.locator("body")).to_contain_text("acknowledged by orlov")
    expect(page.locator("td.who .via").first).to_contain_text("via E-mail")
    assert site.status(number) == "acknowledged"
