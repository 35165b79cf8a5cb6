"""The channels keep a person's webhook URL out of what they say, send mail whatever an alert's
name holds, and tell a message refused for good (no retry) from a server that is busy (retry)."""

from __future__ import annotations

import smtplib

import pytest

from bridge.errors import PermanentFailure
from bridge.integrations.channels import (
    EmailChannel,
    Message,
    WebhookChannel,
    one_line,
    shown_address,
    url_origin,
)
from tests.support.receivers import smtp_server

MESSAGE = Message(notification=7, incident=3, person="novikova", kind="registration", subject="S", body="B\n")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://hooks.slack.com/services/T000/B000/XXXX", "https://hooks.slack.com/..."),
        ("https://user:pw@chat.example:8443/hooks/key?token=abc", "https://chat.example:8443/..."),
        ("http://[::1]:8065/hooks/key", "http://[::1]:8065/..."),
        ("no url at all", "(a URL)"),
        ("http://[::1/hooks/key", "(a URL)"),
    ],
)
def test_a_webhook_url_shows_as_its_origin(url: str, shown: str) -> None:
    assert url_origin(url) == shown
    assert shown_address("webhook", url) == shown


def test_other_addresses_show_as_they_are() -> None:
    assert shown_address("email", "novikova@desk.example") == "novikova@desk.example"
    assert shown_address("telegram", "100002") == "100002"


@pytest.mark.parametrize(
    ("url", "secrets"),
    [
        ("http://127.0.0.1:1/hooks/T0/B0/SeCrEtKeY?token=Tok3n", ["SeCrEtKeY", "Tok3n", "/hooks/"]),
        ("http://user:Pa55w0rd@127.0.0.1:1/a b/\u00fcSeCrEt", ["Pa55w0rd", "SeCrEt", "a%20b", "%C3%BC"]),
        ("htp://chat.example/hooks/SeCrEtKeY", ["SeCrEtKeY"]),
        ("http://[::1/hooks/SeCrEtKeY", ["SeCrEtKeY"]),
    ],
)
def test_errors_of_a_webhook_never_carry_its_url(url: str, secrets: list[str]) -> None:
    with pytest.raises(RuntimeError) as raised:
        WebhookChannel().send(url, MESSAGE)
    text = str(raised.value)
    assert text.split(":", maxsplit=1)[0] in ("ConnectionError", "InvalidSchema", "InvalidURL"), text
    for secret in secrets:
        assert secret not in text, text


@pytest.mark.parametrize(
    "breaker", ["\r", "\n", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\u2029", "\x00", "\ud800"]
)
def test_one_line_leaves_no_line_break_nor_control(breaker: str) -> None:
    line = one_line(f"Disk{breaker}full on\tdb-01 ")
    assert line in ("Disk full on db-01", "Disk\ufffdfull on db-01")
    assert len(line.splitlines()) == 1


@pytest.mark.parametrize("breaker", ["\r", "\n", "\x0b", "\x0c", "\x85", "\u2028", "\ud800"])
def test_a_mail_goes_out_whatever_the_subject_holds(breaker: str) -> None:
    with smtp_server() as (url, inbox):
        message = Message(
            7, 3, "novikova", "registration", f"[bridge] #3 P1 Disk{breaker}full", "body \ud800\n"
        )
        EmailChannel(url, "bridge@desk.example").send("novikova@desk.example", message)
        (mail,) = inbox.mails
        assert mail.subject in ("[bridge] #3 P1 Disk full", "[bridge] #3 P1 Disk\ufffdfull")
        assert mail.recipients == ["novikova@desk.example"]


def test_a_mail_that_cannot_be_made_fails_for_good() -> None:
    with pytest.raises(PermanentFailure, match="the message cannot be sent"):
        EmailChannel("smtp://127.0.0.1:1", "bridge@desk.example").compose(
            "a@b.example\r\nBcc: x@y.example", MESSAGE
        )


def test_a_message_the_server_refuses_for_good_is_a_permanent_failure() -> None:
    with smtp_server() as (url, inbox):
        inbox.data_answer = "554 5.6.0 message refused"
        with pytest.raises(PermanentFailure, match="message refused: 554"):
            EmailChannel(url, "bridge@desk.example").send("novikova@desk.example", MESSAGE)


def test_a_server_that_says_later_is_tried_again() -> None:
    with smtp_server() as (url, inbox):
        inbox.data_answer = "451 4.3.0 try again later"
        with pytest.raises(smtplib.SMTPDataError) as raised:
            EmailChannel(url, "bridge@desk.example").send("novikova@desk.example", MESSAGE)
        assert not isinstance(raised.value, PermanentFailure) and raised.value.smtp_code == 451
