"""Without chromium the console's browser tests skip on a developer's machine and fail in CI."""

from __future__ import annotations

from pathlib import Path

import pytest
from _pytest.outcomes import Failed, Skipped

from tests.support import browser


def test_a_missing_chromium_skips_locally_and_fails_in_ci(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(browser, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(Skipped):
        browser.chromium_or_skip()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(Failed, match="scripts/bootstrap --dev"):
        browser.chromium_or_skip()


def test_a_present_chromium_is_used(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    binary = tmp_path / "chromium"
    binary.write_text("")
    monkeypatch.setattr(browser, "CHROMIUM", binary)
    monkeypatch.setenv("CI", "true")
    assert browser.chromium_or_skip() == binary
