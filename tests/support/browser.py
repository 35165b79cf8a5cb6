"""Debian's chromium driven by Playwright, for the console's browser tests. Playwright never
downloads a browser here: it launches /usr/bin/chromium (scripts/bootstrap --dev installs it).
Without it the tests skip, except with CI=true, where they fail: CI must prove the console.

Screenshots go to tests/artifacts/screenshots/ (git-ignored); the run prints where."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM = Path(os.environ.get("BRIDGE_TEST_CHROMIUM", "/usr/bin/chromium"))
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).parents[1] / "artifacts" / "screenshots"


def chromium_or_skip() -> Path:
    """The chromium binary; skip the test without one (fail with CI=true)."""
    if CHROMIUM.exists():
        return CHROMIUM
    message = f"no chromium at {CHROMIUM}: run scripts/bootstrap --dev (it installs Debian's chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    binary = chromium_or_skip()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(binary), headless=True, args=ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def screenshots(request: pytest.FixtureRequest) -> Path:
    """The folder this run's screenshots go to, emptied first; the run says where."""
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True)
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is not None and reporter is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nconsole screenshots: {SCREENSHOTS}")
    return SCREENSHOTS
