"""`bridge serve` and `bridge worker` and the mail action links: links only to BRIDGE_BASE_URL,
never to the address served, and a warning at start when mails go out without them."""

from __future__ import annotations

import logging

import pytest

from bridge.cli.serve import served_settings, warn_about_links
from bridge.settings import Settings

SECRET = "k" * 32


def test_served_without_a_base_url_mails_carry_no_action_links() -> None:
    served = served_settings(Settings(secret_key=SECRET), "http://127.0.0.1:8080")
    assert served.base_url == "http://127.0.0.1:8080"  # the console link still points somewhere
    assert not served.mail_links


def test_served_with_a_base_url_mails_carry_them() -> None:
    served = served_settings(
        Settings(secret_key=SECRET, base_url="https://bridge.example"), "https://bridge.example"
    )
    assert served.mail_links


@pytest.mark.parametrize(
    ("settings", "missing"),
    [
        (Settings(smtp_url="smtp://mail", secret_key=SECRET), "BRIDGE_BASE_URL not set"),
        (Settings(smtp_url="smtp://mail", base_url="https://b.example"), "BRIDGE_SECRET_KEY not set"),
        (Settings(smtp_url="smtp://mail"), "BRIDGE_BASE_URL and BRIDGE_SECRET_KEY not set"),
    ],
)
def test_a_start_without_what_links_need_says_so(
    settings: Settings, missing: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bridge"):
        warn_about_links(settings)
    assert [r.getMessage() for r in caplog.records] == [
        f"{missing}: notification mails carry no Acknowledge/Escalate links (docs/mail.md)"
    ]


@pytest.mark.parametrize(
    "settings",
    [
        Settings(smtp_url="smtp://mail", secret_key=SECRET, base_url="https://b.example"),
        Settings(),  # no mail at all
    ],
)
def test_nothing_to_say_when_links_work_or_no_mail_goes_out(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bridge"):
        warn_about_links(settings)
    assert caplog.records == []
