"""Requests by mail, end to end: a real Dovecot holds the desk's mailbox, bridge's worker polls it
(the periodic job, as `bridge serve` runs it), a real SMTP server (aiosmtpd) receives bridge's
answers, and the API shows the incidents. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.clock import FakeClock
from tests.support.duty import msk
from tests.support.mail import DESK_ADDRESS, MailDesk, mail, mail_desk

IVANOV = "ivanov@logistics.example"
PETROVA = "petrova@logistics.example"


@pytest.fixture
def desk(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[MailDesk]:
    clock.set(msk("2026-12-07 10:00"))  # a Monday: logistics' engineer (morozov) is at work
    with mail_desk(database_url, tmp_path, clock) as found:
        yield found


def only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


def test_a_clients_mail_opens_an_incident_for_their_engineer_and_is_answered_at_once(desk: MailDesk) -> None:
    raw = mail(
        f"Ivan Ivanov <{IVANOV}>",
        "Shipping labels do not print",
        "Since 9:40 no label prints in the Tver warehouse.\nThe printer says: queue stalled.",
        message_id="labels-1@logistics.example",
        attachments=[("printer.log", "text/plain", b"ERR queue stalled\n")],
    )
    desk.send(raw)
    desk.poll()

    incident = only(desk.incidents())
    number = incident["number"]
    assert incident["source"] == "mail"
    assert incident["client"] == "logistics"
    assert incident["assignee"] == "morozov"
    assert incident["priority"] == "P3"
    assert incident["type"] == "incident"
    assert incident["reporter"] == IVANOV
    assert "no label prints" in incident["description"]
    assert "printer.log (text/plain, 18 bytes)" in incident["description"]

    reply = only(desk.mails_to(IVANOV))
    assert reply.sender == DESK_ADDRESS
    assert reply.subject == f"[#{number}] P3 registered: Shipping labels do not print"
    assert reply.message["Auto-Submitted"] == "auto-replied"
    assert f"registered with the support desk as #{number}" in reply.text
    assert "Resolve by:  2026-12-08 10:01 MSK (in 1d)" in reply.text  # P3: one business day
    assert f"https://bridge.desk.example/incidents/{number}" in reply.text
    paged = desk.mails_to("morozov@desk.example")
    assert [m.subject for m in paged][:1] == [
        f"[bridge] #{number} P3 registered: Shipping labels do not print"
    ]
    assert desk.imap.messages("INBOX") == []
    assert len(desk.imap.messages("bridge/processed")) == 1

    # The client answers the auto-reply: a comment by them, not a new incident.
    desk.send(
        mail(
            IVANOV,
            f"Re: {reply.subject}",
            "It also fails in Klin now.\n\n> Incident #1 is registered",
            message_id="labels-2@logistics.example",
            in_reply_to=str(reply.message["Message-ID"]),
        )
    )
    # A colleague writes about it with the number in the subject only.
    desk.send(mail(PETROVA, f"[#{number}] labels", "Klin confirms.", message_id="labels-3@logistics.example"))
    desk.poll()
    assert len(desk.incidents()) == 1
    comments = [e for e in desk.desk.incident(number)["timeline"] if e["kind"] == "comment"]
    assert [(c["actor"], c["text"]) for c in comments] == [
        (IVANOV, "It also fails in Klin now."),
        (PETROVA, "Klin confirms."),
    ]

    # Resolved: the client is asked to confirm, and confirms by mail.
    desk.desk.act(number, "resolve", comment="the print server's queue is cleared")
    desk.poll()
    asked = desk.mails_to(IVANOV)[-1]
    assert asked.subject == f"[#{number}] resolved, please confirm: Shipping labels do not print"
    assert "the print server's queue is cleared" in asked.text
    desk.send(
        mail(
            IVANOV,
            f"Re: {asked.subject}",
            "confirm\n\nThanks!",
            message_id="labels-4@logistics.example",
            in_reply_to=str(asked.message["Message-ID"]),
        )
    )
    desk.poll()
    closed = desk.desk.incident(number)
    assert closed["status"] == "closed"
    closing = only([e for e in closed["timeline"] if e["kind"] == "closed"])
    assert closing["actor"] == IVANOV

    print("\n--- the mail in ---\n" + raw.decode())
    print(f"--- the auto-reply ---\nSubject: {reply.subject}\n\n{reply.text}")
    print("--- the incident's timeline ---")
    for entry in closed["timeline"]:
        print(f"{entry['at']}  {entry['actor']:<27} {entry['kind']:<13} {entry['text']}")

    # Writing again in the thread of a closed incident opens a new one that says which it follows.
    desk.send(
        mail(
            IVANOV,
            f"Re: {asked.subject}",
            "It is back since this morning.",
            message_id="labels-5@logistics.example",
            in_reply_to=str(asked.message["Message-ID"]),
        )
    )
    desk.poll()
    follow_up = max(desk.incidents(), key=lambda i: i["number"])
    assert follow_up["number"] != number
    assert follow_up["description"].startswith(f"[follow-up of #{number}, closed]")
    assert desk.desk.incident(number)["status"] == "closed"
    assert desk.desk.timeline(number, "follow_up") == [f"a mail about it opened #{follow_up['number']}"]


def test_a_rejection_by_mail_sends_the_incident_back_to_work(desk: MailDesk) -> None:
    desk.send(mail(IVANOV, "Scanner offline", "Gun 4 is offline.", message_id="scan-1@logistics.example"))
    desk.poll()
    number = only(desk.incidents())["number"]
    desk.desk.act(number, "resolve", comment="rebooted")
    desk.poll()
    asked = desk.mails_to(IVANOV)[-1]
    desk.send(
        mail(
            IVANOV,
            f"Re: {asked.subject}",
            "Reject: still offline after the reboot.",
            message_id="scan-2@logistics.example",
            in_reply_to=str(asked.message["Message-ID"]),
        )
    )
    desk.poll()
    incident = desk.desk.incident(number)
    assert incident["status"] == "open"
    assert incident["return_count"] == 1
    rejected = only([e for e in incident["timeline"] if e["kind"] == "rejected"])
    assert rejected["actor"] == IVANOV


def test_priority_tag_and_request_words_and_the_duty_chain_outside_business_hours(desk: MailDesk) -> None:
    desk.desk.clock.set(msk("2026-12-07 23:30"))  # a Monday night: the night operator owns it
    desk.send(mail(IVANOV, "[P1] All warehouses down", "Nothing works.", message_id="p1@logistics.example"))
    desk.send(mail(IVANOV, "Access for a new clerk", "Please add Anna.", message_id="req@logistics.example"))
    desk.poll()
    down, access = sorted(desk.incidents(), key=lambda i: i["number"])
    assert (down["title"], down["priority"], down["type"]) == ("All warehouses down", "P1", "incident")
    assert (access["priority"], access["type"]) == ("P3", "service_request")
    assert down["assignee"] == access["assignee"] == "volkov"
    assigned = only(desk.desk.timeline(down["number"], "assigned"))
    assert "on duty in schedule night-operators" in assigned  # not logistics' engineer at night
    reply = desk.mails_to(IVANOV)[0]
    assert "Resolve by:  2026-12-08 00:01 MSK (in 30m)" in reply.text  # P1 runs around the clock


def test_an_unknown_sender_is_registered_for_l1_by_default(desk: MailDesk) -> None:
    desk.send(mail("someone@elsewhere.example", "Your site is slow", message_id="u-1@elsewhere.example"))
    desk.poll()
    incident = only(desk.incidents())
    assert incident["client"] is None
    assert incident["line"] == "L1"
    assert incident["description"].startswith("[unknown sender: someone@elsewhere.example, verified]")
    assert only(desk.mails_to("someone@elsewhere.example")).subject.startswith(f"[#{incident['number']}]")


def test_a_forged_client_address_is_not_the_clients(desk: MailDesk) -> None:
    """No DKIM/SPF pass from the desk's own mail server: the From address proves nothing."""
    forged = mail(IVANOV, "Please reset the admin password", message_id="forged@x.example", verified=False)
    spoofed = mail(
        IVANOV,
        "Urgent",
        message_id="spoofed@x.example",
        verified=False,
        headers={"Authentication-Results": "mx.attacker.example; dkim=pass header.d=logistics.example"},
    )
    desk.send(forged)
    desk.send(spoofed)
    desk.poll()
    for incident in desk.incidents():
        assert incident["client"] is None
        assert "not verified" in incident["description"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto-Submitted": "auto-replied"},
        {"Precedence": "bulk"},
        {"List-Id": "<ops.lists.logistics.example>"},
        {"Return-Path": "<>"},
    ],
)
def test_automatic_mail_is_refused_and_never_answered(desk: MailDesk, headers: dict[str, str]) -> None:
    desk.send(mail(IVANOV, "Out of office", message_id="ooo@logistics.example", headers=headers))
    desk.poll()
    assert desk.incidents() == []
    assert desk.desk.inbox.mails == []
    refused = only(desk.imap.messages("bridge/refused"))
    assert refused.startswith(b"X-Bridge-Refused: ")


def test_bridges_own_answer_coming_back_is_refused(desk: MailDesk) -> None:
    desk.send(mail(IVANOV, "Printer", message_id="own-1@logistics.example"))
    desk.poll()
    reply = only(desk.mails_to(IVANOV))
    desk.send(reply.message.as_bytes())  # a misconfigured forward sends it back to the desk
    desk.poll()
    assert len(desk.incidents()) == 1
    assert len(desk.mails_to(IVANOV)) == 1
    assert only(desk.imap.messages("bridge/refused")).startswith(b"X-Bridge-Refused: bridge's own mail")


def test_html_mail_is_reduced_to_text_and_shown_escaped(desk: MailDesk) -> None:
    html = (
        "<html><head><style>p{}</style><script>steal()</script></head><body>"
        "<p>Row &lt;b&gt; is <b>red</b></p><img src=x onerror=alert(1)><script>alert(2)</script>"
        "</body></html>"
    )
    raw = mail(IVANOV, "<script>alert(3)</script>", "", message_id="html@logistics.example", html=html)
    # Only an HTML part: drop the text one the builder made.
    desk.send(raw.replace(b"Content-Type: text/plain", b"Content-Type: text/x-ignored"))
    desk.poll()
    incident = only(desk.incidents())
    assert "steal" not in incident["description"]
    assert "alert(2)" not in incident["description"]
    assert "Row <b> is red" in incident["description"]
    page = desk.desk.client.get(
        f"/incidents/{incident['number']}", headers={"Authorization": "Basic eDphZG1pbi10ZXN0LXRva2Vu"}
    )
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "<script>alert(3)</script>" not in text
    assert "&lt;script&gt;alert(3)&lt;/script&gt;" in text


def test_attachments_beyond_the_limit_are_listed_as_left_out(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    clock.set(msk("2026-12-07 10:00"))
    with mail_desk(
        database_url, tmp_path, clock, mail_attachment_max_bytes=1000, mail_attachments_dir=tmp_path
    ) as desk:
        desk.send(
            mail(
                IVANOV,
                "Logs",
                message_id="att@logistics.example",
                attachments=[
                    ("small.txt", "text/plain", b"x" * 10),
                    ("big.bin", "application/zip", b"y" * 5000),
                ],
            )
        )
        desk.poll()
        incident = only(desk.incidents())
        assert "small.txt (text/plain, 10 bytes)" in incident["description"]
        assert "big.bin (5000 bytes) left out: larger than 1000 bytes" in incident["description"]
        kept = [p for p in tmp_path.rglob("*") if p.is_file() and p.read_bytes() == b"x" * 10]
        assert len(kept) == 1


def test_with_the_reply_policy_an_unknown_sender_is_told_and_refused(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    clock.set(msk("2026-12-07 10:00"))
    with mail_desk(database_url, tmp_path, clock, mail_unknown_sender="reply") as desk:
        desk.send(mail("someone@elsewhere.example", "Help", message_id="u-2@elsewhere.example"))
        desk.send(
            mail("forged@elsewhere.example", "Help", message_id="u-3@elsewhere.example", verified=False)
        )
        desk.send(mail(IVANOV, "Printer jam", message_id="known@logistics.example"))
        desk.poll()
        assert [i["client"] for i in desk.incidents()] == ["logistics"]
        told = only(desk.mails_to("someone@elsewhere.example"))
        assert told.subject == "Your address is not registered with the support desk: Help"
        assert "someone@elsewhere.example" in told.text
        assert told.message["Auto-Submitted"] == "auto-replied"
        assert desk.mails_to("forged@elsewhere.example") == []  # no answer to an address nobody vouched for
        refused = sorted(m.split(b"\r\n", 1)[0] for m in desk.imap.messages("bridge/refused"))
        assert refused == [
            b"X-Bridge-Refused: unknown sender, and the From address is not verified: not answered",
            b"X-Bridge-Refused: unknown sender: the address is not registered with any client",
        ]
