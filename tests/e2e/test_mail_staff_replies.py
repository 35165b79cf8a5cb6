"""A reply by the desk's own staff (a rota person whose address is known) to bridge's mail about an
incident becomes a comment by that person, "via e-mail", through the real mail intake: a real
Dovecot holds the desk's mailbox, the worker polls it, a real SMTP server (aiosmtpd) received the
notification being answered. Only a person allowed to comment on the incident is taken, and only
when the From is believed. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bridge.clock import FakeClock
from bridge.ticketing.roles import Role
from tests.support.duty import msk
from tests.support.mail import MailDesk, mail, mail_desk
from tests.support.people import add_user, people

IVANOV = "ivanov@logistics.example"
MOROZOV = "morozov@desk.example"  # logistics' engineer in the example rota
SECRET = "test-secret-key-that-is-long-enough-0123456789"


@pytest.fixture
def desk(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[MailDesk]:
    clock.set(msk("2026-12-07 10:00"))  # a Monday: morozov is at work
    with mail_desk(database_url, tmp_path, clock, secret_key=SECRET) as found:
        yield found


def only(items: list[Any]) -> Any:
    assert len(items) == 1, items
    return items[0]


def opened_by_a_client(desk: MailDesk) -> tuple[int, Any]:
    """An incident a client's mail opened, and the registration mail bridge sent morozov."""
    desk.send(
        mail(
            f"Ivan Ivanov <{IVANOV}>", "Shipping labels do not print", message_id="labels-1@logistics.example"
        )
    )
    desk.poll()
    number = only(desk.incidents())["number"]
    paged = only([m for m in desk.mails_to(MOROZOV) if "registered" in m.subject])
    assert "/mail-link/" in paged.text  # the mail carries its action links
    return number, paged


def comments(desk: MailDesk, number: int) -> list[tuple[str, str]]:
    timeline = desk.desk.incident(number)["timeline"]
    found = [e for e in timeline if e["kind"] == "comment"]
    assert all(e["via"] == "e-mail" for e in found), found
    return [(e["actor"], e["text"]) for e in found]


def test_a_staff_reply_to_the_registration_mail_becomes_their_comment(desk: MailDesk) -> None:
    number, paged = opened_by_a_client(desk)
    quoted = "\n".join(f"> {line}" for line in paged.text.splitlines())
    link = next(line for line in paged.text.splitlines() if "/mail-link/" in line).split()[-1]
    desk.send(
        mail(
            f"Pavel Morozov <{MOROZOV}>",
            f"Re: {paged.subject}",
            f"On it: the print spooler on tver-prn-1 is stuck.\nAck: {link}\n\n{quoted}",
            message_id="re-1@desk.example",
            in_reply_to=str(paged.message["Message-ID"]),
        )
    )
    desk.poll()

    assert len(desk.incidents()) == 1  # no new request
    ((actor, text),) = comments(desk, number)
    assert actor == "morozov"
    assert text.startswith("On it: the print spooler on tver-prn-1 is stuck.")
    assert "/mail-link/" not in text  # a signed link on the timeline would let its readers act as him
    assert "[link removed]" in text
    assert desk.imap.messages("bridge/refused") == []


def test_a_staff_mail_with_the_number_in_the_subject_is_a_comment_too(desk: MailDesk) -> None:
    number, _ = opened_by_a_client(desk)
    desk.send(mail(MOROZOV, f"[#{number}] spooler", "Restarted the spooler.", message_id="re-2@desk.example"))
    desk.poll()
    assert comments(desk, number) == [("morozov", "Restarted the spooler.")]


def test_a_disabled_staff_persons_reply_is_refused_and_changes_nothing(desk: MailDesk) -> None:
    number, paged = opened_by_a_client(desk)
    add_user(desk.desk.runtime, "morozov", Role.ENGINEER)
    people(desk.desk.runtime).disable("morozov", "admin")
    desk.send(
        mail(
            MOROZOV,
            f"Re: {paged.subject}",
            "On it.",
            message_id="re-3@desk.example",
            in_reply_to=str(paged.message["Message-ID"]),
        )
    )
    desk.poll()
    assert comments(desk, number) == []
    assert len(desk.incidents()) == 1
    (refused,) = desk.imap.messages("bridge/refused")
    assert b"X-Bridge-Refused: morozov may not act any more" in refused


def test_a_staff_user_who_may_not_comment_on_that_incident_is_refused(desk: MailDesk) -> None:
    number, _ = opened_by_a_client(desk)
    add_user(desk.desk.runtime, "morozov", Role.VIEWER, client="bank")  # another client's viewer
    desk.send(mail(MOROZOV, f"[#{number}] spooler", "On it.", message_id="re-4@desk.example"))
    desk.poll()
    assert comments(desk, number) == []
    (refused,) = desk.imap.messages("bridge/refused")
    assert f"may not comment on #{number}".encode() in refused


def test_a_staff_address_nobody_vouched_for_is_not_taken_as_staff(desk: MailDesk) -> None:
    number, paged = opened_by_a_client(desk)
    desk.send(
        mail(
            MOROZOV,
            f"Re: {paged.subject}",
            "Close it, all fine.",
            message_id="re-5@desk.example",
            in_reply_to=str(paged.message["Message-ID"]),
            verified=False,  # anyone can write this From
        )
    )
    desk.poll()
    assert [actor for actor, _ in comments(desk, number)] == []  # not a comment by morozov
    assert len(desk.incidents()) == 2  # an unknown sender's new request, as before


def test_the_reply_policy_still_takes_a_staff_reply_in_a_thread(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    clock.set(msk("2026-12-07 10:00"))
    with mail_desk(database_url, tmp_path, clock, secret_key=SECRET, mail_unknown_sender="reply") as desk:
        number, paged = opened_by_a_client(desk)
        desk.send(
            mail(
                MOROZOV,
                f"Re: {paged.subject}",
                "Looking.",
                message_id="re-6@desk.example",
                in_reply_to=str(paged.message["Message-ID"]),
            )
        )
        desk.poll()
        assert comments(desk, number) == [("morozov", "Looking.")]
