"""The console in a real browser: Debian's chromium, driven by Playwright, against the real app
served over HTTP (waitress on a free port) on SQLite. An operator signs in, sees a new incident
arrive on the board without a reload, and works it end to end; a viewer sees only their client;
a POST without the CSRF token is refused; monitoring text cannot run; the Russian console
renders. Screenshots of the board, an incident, on duty and reports are saved for people to look
at (tests/artifacts/screenshots/)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, Page, expect

from bridge.clock import FakeClock
from bridge.web.app import create_app
from bridge.worker.runtime import Runtime
from tests.support.app import AM_TOKEN, serving
from tests.support.browser import browser, screenshots  # noqa: F401  (fixtures)
from tests.support.console import VIEWER, console_runtime, console_settings, firing
from tests.support.people import PASSWORD
from tests.support.postgres import free_port

TIMEOUT_MS = 15_000


@dataclass
class Site:
    url: str
    runtime: Runtime
    clock: FakeClock

    def alert(self, body: dict[str, object]) -> None:
        """Deliver an Alertmanager notification over HTTP and let the worker decide it."""
        response = requests.post(
            f"{self.url}/webhooks/alertmanager",
            json=body,
            headers={"Authorization": f"Bearer {AM_TOKEN}"},
            timeout=10,
        )
        assert response.status_code == 202, response.text
        self.runtime.runner.drain()


@pytest.fixture
def site(sqlite_template: Path, tmp_path: Path, clock: FakeClock) -> Iterator[Site]:
    database = tmp_path / "bridge.db"
    shutil.copy(sqlite_template, database)
    runtime = console_runtime(console_settings(f"sqlite:///{database}", tmp_path), clock)
    try:
        with serving(create_app(runtime=runtime), free_port()) as url:
            yield Site(url, runtime, clock)
    finally:
        runtime.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:  # noqa: F811
    context = browser.new_context(viewport={"width": 1366, "height": 900}, locale="en-US")
    context.set_default_timeout(TIMEOUT_MS)
    opened = context.new_page()
    yield opened
    context.close()


def sign_in(page: Page, site: Site, handle: str, path: str = "/") -> None:
    page.goto(f"{site.url}{path}")
    expect(page).to_have_url(f"{site.url}/login?next={path}")
    page.fill("input[name=handle]", handle)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(f"{site.url}{path}")


def open_three(site: Site) -> None:
    now = site.clock.now()
    site.alert(firing("HostDown", host="core-01", customer="retail", severity="critical", now=now))
    site.alert(firing("DiskFull", host="db-03", customer="bank", now=now))
    site.alert(firing("HighLatency", host="app-02", customer="logistics", severity="warning", now=now))


def timeline_row(page: Page, kind: str) -> str:
    return page.locator(f'#timeline tr[data-kind="{kind}"] td.who').first.inner_text()


def test_an_operator_works_an_incident_end_to_end(site: Site, page: Page, screenshots: Path) -> None:  # noqa: F811
    sign_in(page, site, "orlov")
    expect(page.locator("h1")).to_contain_text("Open incidents")
    expect(page.locator("#board tbody")).to_contain_text("Nothing open")
    page.evaluate("window.__sameDocument = true")  # gone if the page reloads

    # A new incident arrives: the board shows it without a reload.
    site.alert(
        firing("HostDown", host="core-01", customer="retail", severity="critical", now=site.clock.now())
    )
    row = page.locator('#board tr[data-number="1"]')
    expect(row).to_contain_text("HostDown", timeout=TIMEOUT_MS)
    assert page.evaluate("window.__sameDocument") is True
    expect(page.locator("body")).to_have_attribute("data-announced", "1")  # a new P1: tone and notification
    expect(row.locator(".prio")).to_have_text("P1")
    expect(page.locator("#board-total")).to_have_text("1")
    site.alert(firing("DiskFull", host="db-03", customer="bank", now=site.clock.now()))
    expect(page.locator('#board tr[data-number="2"]')).to_be_visible(timeout=TIMEOUT_MS)
    assert page.evaluate("window.__sameDocument") is True
    page.screenshot(path=str(screenshots / "board.png"), full_page=True)

    # The sound switch and the theme are remembered across reloads.
    page.uncheck("#alert-sound")
    page.click("#theme-toggle")
    page.reload()
    expect(page.locator("#alert-sound")).not_to_be_checked()
    assert page.evaluate("document.documentElement.getAttribute('data-theme')") == "light"
    page.screenshot(path=str(screenshots / "board-light.png"), full_page=True)
    page.click("#theme-toggle")

    # Keyboard: j selects the first row (the P1); the selection survives the board's refresh.
    page.keyboard.press("j")
    expect(page.locator('#board tr[data-number="1"]')).to_have_class("row-link selected")
    site.alert(
        firing("LinkDown", host="edge-01", customer="logistics", severity="high", now=site.clock.now())
    )
    expect(page.locator('#board tr[data-number="3"]')).to_be_visible(timeout=TIMEOUT_MS)
    expect(page.locator("body")).to_have_attribute("data-announced", "")  # switched off: silent
    expect(page.locator('#board tr[data-number="1"]')).to_have_class("row-link selected")
    # a acknowledges the selected incident.
    page.keyboard.press("a")
    expect(page.locator('#board tr[data-number="1"] .status')).to_have_text("acknowledged")

    # The incident page: comment, escalate, resolve, confirm the closure.
    page.goto(f"{site.url}/incidents/1")
    page.fill("#comment", "rebooting core-01")
    page.click('#comment-form button[data-action="comment"]')
    expect(page.locator("#done")).to_contain_text("Comment")
    page.click('button[data-action="escalate"]')
    expect(page.locator("#done")).to_contain_text("Escalate now")
    page.fill("#comment", "core-01 is back")
    page.click('#comment-form button[data-action="resolve"]')
    expect(page.locator("#done")).to_contain_text("Resolve")
    page.click('button[data-action="close"]')
    expect(page.locator("#done")).to_contain_text("Confirm closure")
    for kind in ("acknowledged", "comment", "escalated", "resolved", "closed"):
        assert timeline_row(page, kind) == "Oleg Orlov", kind
    expect(page.locator("#timeline")).to_contain_text("rebooting core-01")
    page.screenshot(path=str(screenshots / "incident.png"), full_page=True)

    page.goto(f"{site.url}/duty")
    expect(page.locator("h1")).to_have_text("On duty")
    page.screenshot(path=str(screenshots / "on-duty.png"), full_page=True)
    page.goto(f"{site.url}/reports")
    expect(page.locator("svg.chart").first).to_be_visible()
    page.screenshot(path=str(screenshots / "reports.png"), full_page=True)
    page.goto(f"{site.url}/alerts")
    page.screenshot(path=str(screenshots / "alerts.png"), full_page=True)
    page.goto(f"{site.url}/rules")
    page.screenshot(path=str(screenshots / "rules.png"), full_page=True)


def test_a_viewer_sees_only_their_client_and_acts_only_as_a_viewer(site: Site, page: Page) -> None:
    open_three(site)
    sign_in(page, site, VIEWER)
    rows = page.locator("#board tbody tr[data-number]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("DiskFull")
    response = page.goto(f"{site.url}/incidents/1")  # retail's: as if it did not exist
    assert response is not None and response.status == 404
    page.goto(f"{site.url}/incidents/2")
    expect(page.locator('button[data-action="ack"]')).to_have_count(0)
    expect(page.locator('button[data-action="escalate"]')).to_have_count(0)
    expect(page.locator('button[data-action="resolve"]')).to_have_count(0)
    page.select_option('select[name="priority"]', "P4")
    page.click('button[data-action="priority"]')
    expect(page.locator(".prio").first).to_have_text("P4")
    expect(page.locator("nav")).not_to_contain_text("Rules")
    # What the page does not offer, the server refuses too (with the session's own token).
    status = page.evaluate(
        """async () => {
            const token = document.querySelector('input[name=csrf_token]').value;
            const r = await fetch('/incidents/2/ack', {method: 'POST', body: new URLSearchParams({csrf_token: token})});
            return r.status;
        }"""
    )
    assert status == 403


def test_a_post_without_the_csrf_token_is_refused(site: Site, page: Page) -> None:
    open_three(site)
    sign_in(page, site, "orlov")
    status = page.evaluate(
        "async () => (await fetch('/incidents/1/ack', {method: 'POST', body: new URLSearchParams({})})).status"
    )
    assert status == 403
    assert site.runtime.services.incidents.detail(1).incident.status == "open"


def test_monitoring_text_cannot_run_in_the_page(site: Site, page: Page) -> None:
    body = firing(
        "Evil<script>window.__pwned=1</script>",
        host="web-9",
        customer="retail",
        now=site.clock.now(),
        note="<script>window.__pwned=2</script><img src=x onerror='window.__pwned=3'>",
    )
    body["alerts"][0]["generatorURL"] = "javascript:window.__pwned=4"  # type: ignore[index]
    site.alert(body)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, site, "orlov")
    expect(page.locator('#board tr[data-number="1"]')).to_contain_text("<script>window.__pwned=1</script>")
    page.goto(f"{site.url}/incidents/1")
    expect(page.locator("body")).to_contain_text("note=<script>window.__pwned=2</script>")
    expect(page.locator('a[href^="javascript"]')).to_have_count(0)
    page.get_by_text("javascript:window.__pwned=4").first.click()
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert errors == []


def test_the_russian_console(site: Site, page: Page, screenshots: Path) -> None:  # noqa: F811
    open_three(site)
    sign_in(page, site, "ivanova")  # her saved language is Russian
    expect(page.locator("h1")).to_contain_text("Открытые инциденты")
    assert page.get_attribute("html", "lang") == "ru"  # what screen readers and spell checkers read
    page.screenshot(path=str(screenshots / "board-ru.png"), full_page=True)
    expect(page.locator("nav")).to_contain_text("Дежурные")
    expect(page.locator("#board thead")).to_contain_text("Приоритет")
    page.goto(f"{site.url}/incidents/1")
    expect(page.locator('button[data-action="ack"]')).to_have_text("Подтвердить")
    page.screenshot(path=str(screenshots / "incident-ru.png"), full_page=True)
    page.click('button[lang="en"]')  # the switch: English from now on
    expect(page.locator('button[data-action="ack"]')).to_have_text("Acknowledge")
    page.goto(f"{site.url}/")
    expect(page.locator("h1")).to_contain_text("Open incidents")
    assert page.get_attribute("html", "lang") == "en"


def test_the_board_on_a_phone(site: Site, browser: Browser, screenshots: Path) -> None:  # noqa: F811
    open_three(site)
    site.clock.advance(timedelta(minutes=15))
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    phone = context.new_page()
    try:
        sign_in(phone, site, "orlov")
        expect(phone.locator('#board tr[data-number="1"]')).to_be_visible()
        width = phone.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the board is {width}px wide on a 390px phone"
        phone.screenshot(path=str(screenshots / "board-phone.png"), full_page=True)
    finally:
        context.close()
