"""The weekly and monthly SLA report by e-mail, through a real SMTP server (aiosmtpd), with the
example rota (`reports.sla_mail`: weekly and monthly at 08:00 Moscow, to the head of IT and each
client's contact), on SQLite and PostgreSQL: sent once when due, never twice, whatever restarts
or runs beside it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bridge.clock import FakeClock
from bridge.db.models import Notification
from bridge.services.report_mail import QueuedReport
from bridge.ticketing.messages import MessageKind
from bridge.ticketing.roles import Role
from bridge.web.app import create_app
from bridge.worker.runtime import Runtime
from tests.support.app import build_runtime, make_settings, write_rules
from tests.support.duty import EXAMPLE_ROTA, RULES, Desk, msk
from tests.support.people import add_user
from tests.support.receivers import http_server, smtp_server

CONTACTS = {"it@retail.example", "it@logistics.example", "servicedesk@bank.example"}
WEEK_SUBJECT = "[bridge] SLA report, week 2026-11-23 - 2026-11-29"


@pytest.fixture
def desk(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Desk]:
    with smtp_server() as (smtp_url, inbox), http_server() as (http_url, sink):
        rules_dir = write_rules(tmp_path / "rules", RULES)
        (rules_dir / "rota.yaml").write_text(
            EXAMPLE_ROTA.read_text().replace("https://chat.desk.example", http_url)
        )
        settings = make_settings(database_url, rules_dir, smtp_url=smtp_url, smtp_from="bridge@desk.example")
        runtime = build_runtime(settings, clock)
        try:
            yield Desk(create_app(runtime=runtime).test_client(), runtime, clock, inbox, sink, rules_dir)
        finally:
            runtime.close()


def _reports(desk: Desk, about: str = "SLA report") -> list[tuple[str, str]]:
    """(recipient, subject) of every SLA report mail received whose subject holds `about`."""
    return [
        (m.recipients[0], m.subject)
        for m in desk.inbox.mails
        if "SLA report" in m.subject and about in m.subject
    ]


def _restart(desk: Desk) -> Runtime:
    """A second bridge process on the same database and files (a restart, or another worker)."""
    return build_runtime(desk.runtime.settings, desk.clock)


def _week_of_incidents(desk: Desk) -> None:
    desk.at("2026-11-24 10:00")
    desk.open(title="Shipping labels do not print", client="logistics", priority="P2")
    desk.at("2026-11-24 10:20")
    desk.act(1, "ack")
    desk.at("2026-11-24 11:20")
    desk.act(1, "resolve")
    desk.open(title="Card payments declined", client="bank", priority="P2")
    desk.at("2026-11-24 11:50")  # the bank's P2 acknowledge target (15m) is missed
    desk.act(2, "ack")


def test_the_weekly_report_goes_out_on_monday_morning_to_the_head_of_it_and_each_client(desk: Desk) -> None:
    desk.drain()  # Sunday 22nd: the first run notes when the mail was switched on
    _week_of_incidents(desk)
    # The week in progress when it was switched on (16th-22nd) went out on Tuesday's first tick.
    assert len(_reports(desk, "week 2026-11-16 - 2026-11-22")) == 4
    desk.at("2026-11-30 07:59")
    assert _reports(desk, WEEK_SUBJECT) == []
    desk.at("2026-11-30 08:05")  # the job looks every 5 minutes
    desk.drain()  # the notifier sends what the job queued
    received = _reports(desk, WEEK_SUBJECT)
    assert sorted(to for to, _ in received) == sorted(["smirnova@desk.example", *CONTACTS])
    subjects = dict(received)
    assert subjects["smirnova@desk.example"] == WEEK_SUBJECT
    assert subjects["it@logistics.example"] == f"{WEEK_SUBJECT}: logistics"
    mails = {m.recipients[0]: m.text for m in desk.inbox.mails if m.subject.startswith(WEEK_SUBJECT)}
    head = mails["smirnova@desk.example"]
    assert "Hello Natalia Smirnova," in head
    assert "(2026-11-23 00:00 - 2026-11-30 00:00, Europe/Moscow)" in head
    assert "logistics" in head and "bank" in head
    assert "#2 acknowledge due 2026-11-24 11:35: Card payments declined" in head
    logistics = mails["it@logistics.example"]
    assert "Hello Logistics IT," in logistics
    assert "logistics        P2      1     1     1" in logistics
    assert "bank" not in logistics and "Card payments" not in logistics  # a client sees only its own
    retail = mails["it@retail.example"]
    assert "No incidents were opened in this period." in retail
    desk.at("2026-12-01 08:05")
    desk.drain()
    monthly = _reports(desk, "November 2026")
    assert sorted(to for to, _ in monthly) == sorted(["smirnova@desk.example", *CONTACTS])


def test_a_restart_or_a_second_worker_never_sends_a_period_twice(desk: Desk) -> None:
    desk.drain()
    desk.at("2026-11-30 08:05")
    desk.drain()
    assert len(_reports(desk)) == 4
    again = _restart(desk)
    try:
        assert again.services.sla_mailer.run() == []  # the period is in the ledger
        desk.clock.set(msk("2026-11-30 09:00"))
        again.runner.drain()
        again.runner.drain()
        desk.drain()
        assert desk.runtime.services.sla_mailer.run() == []
    finally:
        again.close()
    desk.drain()
    assert len(_reports(desk)) == 4
    with desk.runtime.services.sessions() as session:
        rows = session.scalar(
            select(func.count()).select_from(Notification).where(Notification.kind == MessageKind.SLA_REPORT)
        )
    assert rows == 4


def test_workers_that_run_the_job_at_the_same_moment_queue_each_period_once(desk: Desk) -> None:
    desk.drain()
    desk.clock.set(msk("2026-12-01 08:30"))  # both the week of Nov 23 and November are due
    others = [_restart(desk) for _ in range(3)]
    results: list[list[QueuedReport]] = []
    barrier = threading.Barrier(len(others))

    def run(runtime: Runtime) -> None:
        barrier.wait()
        results.append(runtime.services.sla_mailer.run())

    threads = [threading.Thread(target=run, args=(r,)) for r in others]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    finally:
        for runtime in others:
            runtime.close()
    periods = sorted(q.period.key for found in results for q in found)
    assert periods == ["monthly:2026-11-01", "weekly:2026-11-23"]
    desk.drain()
    assert len(_reports(desk)) == 8  # 4 recipients x 2 periods, each once


def test_no_mail_of_periods_that_ended_before_the_mail_was_switched_on(desk: Desk) -> None:
    desk.at("2026-12-20 12:00")  # the first run: October, November and past weeks are not sent
    desk.drain()
    assert _reports(desk) == []
    desk.at("2026-12-21 08:05")
    desk.drain()
    assert {s for _, s in _reports(desk)} >= {"[bridge] SLA report, week 2026-12-14 - 2026-12-20"}
    assert _reports(desk, "November") == []


def test_a_head_of_it_who_reads_russian_gets_the_report_in_russian(desk: Desk) -> None:
    add_user(desk.runtime, "smirnova", Role.ENGINEER, locale="ru")
    desk.drain()
    _week_of_incidents(desk)
    desk.at("2026-11-30 08:05")
    desk.drain()
    week = "week 2026-11-23 - 2026-11-29"
    mails = {m.recipients[0]: m for m in desk.inbox.mails if week in m.subject}
    head = mails["smirnova@desk.example"]
    assert head.subject == f"[bridge] Отчёт по SLA, {week}"
    assert "Здравствуйте, Natalia Smirnova!" in head.text
    assert "#2 реакция, срок 2026-11-24 11:35: Card payments declined" in head.text
    logistics = mails["it@logistics.example"]  # a client's contact has no user: BRIDGE_LOCALE, English
    assert logistics.subject == f"{WEEK_SUBJECT}: logistics"
