"""A batch opening many incidents stores what one incident per transaction would: the same
numbers, incident rows, alert links, timeline, timers and notifications, with one round trip for
the numbers and the rota asked once per question, also when the batch changes what it opened
(the new incidents and links are written at the batch's end, as they stand then); and incident
numbers stay unique and increasing under rollbacks and concurrent allocators."""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session, sessionmaker

from bridge.alert import Source
from bridge.clock import FakeClock
from bridge.db.engine import create_db_engine, make_session_factory
from bridge.db.intake import store_delivery
from bridge.db.models import (
    AlertGroup,
    AlertRow,
    Incident,
    IncidentAlert,
    Notification,
    OutboxJob,
    TimelineEntry,
    Timer,
)
from bridge.integrations.channels import EmailChannel, TelegramChannel, WebhookChannel
from bridge.priority import Priority
from bridge.services.duty import Duty
from bridge.services.incidents import NewIncident, act_on, open_incident
from bridge.services.live import LiveRota, LiveRules
from bridge.services.notifications import Notifier, Templates
from bridge.services.pipeline import Pipeline
from bridge.services.state_store import IncidentNumbers
from bridge.sources import parse_delivery
from bridge.ticketing import sla
from bridge.ticketing.lifecycle import Change, IncidentAction
from bridge.ticketing.rota import Rota
from tests.conftest import _truncate
from tests.support.app import write_rules
from tests.support.db import empty_database
from tests.support.payloads import am_alert, am_notification

REPO_RULES = Path(__file__).resolve().parents[2] / "rules"
T0 = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)  # a Monday morning in Moscow: business hours
RULES = """
defaults:
  group_by: [host, name]
  priority: {critical: P1, high: P2, default: P3}
rules:
  - name: page
    match: {name: Page}
    storm: false
    client: {label: customer}
    resolve_after: 0s
  - name: host-down
    match: {name: HostDown}
    storm: false
    inhibits:
      match: {name: Page}
      equal: [host]
"""
CUSTOMERS = ["retail", "bank", "logistics", "nobody-knows"]
SEVERITIES = ["critical", "high", "warning"]


def deliveries() -> list[tuple[datetime, bytes]]:
    """6 notifications of 10 new alerts each (every alert its own incident), at 6 instants
    spread over a day (in and out of business hours), of several clients and priorities."""
    found = []
    for n in range(6):
        at = T0 + timedelta(hours=5 * n, minutes=n)
        alerts = [
            am_alert(
                "Page",
                starts_at=at.isoformat(),
                fingerprint=f"fp{n:02d}{i:02d}",
                instance=f"host-{n}-{i}:9100",
                severity=SEVERITIES[i % 3],
                customer=CUSTOMERS[(n + i) % 4],
            )
            for i in range(10)
        ]
        found.append((at, json.dumps(am_notification(*alerts)).encode()))
    return found


def follow_ups() -> list[tuple[datetime, bytes]]:
    """Incidents opened, then changed by later deliveries of the same batch: a second alert joins
    each of 5 groups, alerts resolve (2 groups go quiet and their incidents resolve), one fires
    again (its link counts a second occurrence), a host goes down (its own incident, the host's
    Page alert held back by it: a link of role "related" to an incident of this batch), and a
    group whose incident resolved fires again (reopened)."""
    at = [T0 + timedelta(minutes=m) for m in range(8)]

    def page(i: int, when: datetime, second: bool = False, status: str = "firing") -> dict[str, Any]:
        return am_alert(
            "Page",
            status=status,
            starts_at=when.isoformat(),
            ends_at=(when + timedelta(seconds=30)).isoformat() if status == "resolved" else None,
            fingerprint=f"fu{i:02d}{'b' if second else 'a'}",
            instance=f"fu-{i}:9100",
            severity=SEVERITIES[i % 3],
            customer=CUSTOMERS[i % 4],
            **({"device": "sdb"} if second else {}),
        )

    notifications = [
        am_notification(*(page(i, at[0]) for i in range(10))),
        am_notification(*(page(i, at[1], second=True) for i in range(5))),
        am_notification(*(page(i, at[0], status="resolved") for i in range(3))),
        am_notification(page(0, at[1], second=True, status="resolved"), page(5, at[0], status="resolved")),
        am_notification(page(1, at[4])),  # fires again: a new occurrence of an alert already linked
        am_notification(
            am_alert(
                "HostDown",
                starts_at=at[5].isoformat(),
                fingerprint="fu-down",
                instance="fu-12:9100",
                severity="critical",
            ),
            page(12, at[5]),
        ),
        am_notification(page(0, at[6])),  # its incident resolved: reopened
    ]
    return [(at[min(n, 7)], json.dumps(body).encode()) for n, body in enumerate(notifications)]


class Desk:
    """The worker's pipeline with the example rota's duty and every channel (messages are only
    queued as rows here, never sent)."""

    def __init__(self, database_url: str, rules_dir: Path) -> None:
        self.url = database_url
        self.engine = create_db_engine(database_url)
        self.sessions = make_session_factory(self.engine)
        self.clock = FakeClock(T0)
        channels = [
            EmailChannel("smtp://mail.desk.example", "bridge@desk.example"),
            TelegramChannel("123:token", "https://telegram.invalid"),
            WebhookChannel(),
        ]
        notifier = Notifier(self.sessions, self.clock, channels, Templates())
        self.duty = Duty(LiveRota(REPO_RULES, ZoneInfo("Europe/Moscow")), notifier, "https://bridge.example")
        # No time limit on a transaction's deciding: what a batch asks and draws is counted.
        self.pipeline = Pipeline(
            self.sessions, LiveRules(rules_dir), self.clock, hooks=self.duty, slice_seconds=600
        )

    def restart(self) -> None:
        """An empty database whose incident numbers start at 1 again."""
        empty_database(self.url)
        with self.engine.begin() as connection:
            if self.engine.dialect.name == "postgresql":
                connection.execute(text("ALTER SEQUENCE incidents_number_seq RESTART WITH 1"))
            else:
                connection.execute(text("DELETE FROM sqlite_sequence WHERE name = 'incidents'"))

    def run(
        self, alerts_per_transaction: int, stored: list[tuple[datetime, bytes]] | None = None
    ) -> dict[str, list[tuple[Any, ...]]]:
        self.restart()
        for received, raw in deliveries() if stored is None else stored:
            delivery = parse_delivery(Source.ALERTMANAGER, raw, received)
            store_delivery(self.sessions, delivery, raw, received)
        self.clock.set(T0 + timedelta(days=1))
        while self.pipeline.process_pending(200, alerts_per_transaction).progressed:
            pass
        with self.sessions() as session, session.begin():  # one opened by hand afterwards
            new = NewIncident("Printer on fire", client="retail", priority=Priority.P2)
            open_incident(session, new, "orlov", self.clock.now(), self.duty)
        return snapshot(self.sessions)


def snapshot(sessions: sessionmaker[Session]) -> dict[str, list[tuple[Any, ...]]]:
    """What is stored of incidents and everything that follows from opening them (no ids: the
    order of rows within an incident is kept instead)."""
    with sessions() as session:
        incidents = [
            tuple(getattr(row, c.key) for c in Incident.__table__.columns)
            for row in session.scalars(select(Incident).order_by(Incident.number))
        ]
        links = [
            tuple(getattr(row, c.key) for c in IncidentAlert.__table__.columns)
            for row in session.scalars(
                select(IncidentAlert).order_by(IncidentAlert.incident_number, IncidentAlert.fingerprint)
            )
        ]
        alerts = [
            tuple(getattr(row, c.key) for c in AlertRow.__table__.columns if c.key != "id")
            for row in session.scalars(select(AlertRow).order_by(AlertRow.fingerprint))
        ]
        groups = [
            tuple(getattr(row, c.key) for c in AlertGroup.__table__.columns)
            for row in session.scalars(select(AlertGroup).order_by(AlertGroup.key))
        ]
        timeline = [
            (e.incident_number, e.at, e.actor, e.kind, e.text, e.fingerprint, e.via)
            for e in session.scalars(
                select(TimelineEntry).order_by(TimelineEntry.incident_number, TimelineEntry.id)
            )
        ]
        timers = sorted(
            (t.kind, t.subject, t.due_at) for t in session.scalars(select(Timer)) if t.kind != "hold"
        )
        notifications = [
            (n.incident_number, n.person, n.channel, n.address, n.kind, n.subject, n.body, n.status)
            for n in session.scalars(
                select(Notification).order_by(Notification.incident_number, Notification.id)
            )
        ]
        outbox = [
            (j.incident_number, j.kind, json.dumps(j.payload, sort_keys=True))
            for j in session.scalars(select(OutboxJob).order_by(OutboxJob.incident_number, OutboxJob.id))
        ]
    return {
        "incidents": incidents,
        "links": links,
        "alerts": alerts,
        "groups": groups,
        "timeline": timeline,
        "timers": timers,
        "notifications": notifications,
        "outbox": outbox,
    }


@pytest.fixture
def desk(database_url: str, tmp_path: Path) -> Iterator[Desk]:
    desk = Desk(database_url, write_rules(tmp_path / "rules", RULES))
    yield desk
    desk.engine.dispose()


@pytest.fixture
def statements(desk: Desk) -> Iterator[list[str]]:
    """Every statement the desk's engine runs."""
    seen: list[str] = []

    def record(*args: Any) -> None:
        seen.append(args[2])

    event.listen(desk.engine, "before_cursor_execute", record)
    yield seen
    event.remove(desk.engine, "before_cursor_execute", record)


def test_a_batch_opening_many_incidents_stores_what_one_incident_per_transaction_does(
    desk: Desk, statements: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    one_by_one = desk.run(alerts_per_transaction=1)

    asked: Counter[str] = Counter()
    for question in ("responsible_for", "targets"):
        real = getattr(Rota, question)

        def spy(self: Rota, *args: Any, _real: Any = real, _question: str = question, **kwargs: Any) -> Any:
            asked[_question] += 1
            return _real(self, *args, **kwargs)

        monkeypatch.setattr(Rota, question, spy)
    statements.clear()
    batched = desk.run(alerts_per_transaction=500)

    assert len(batched["incidents"]) == 61
    assert [row[0] for row in batched["incidents"]] == list(range(1, 62))  # numbered in a row, no gaps
    assert {kind for _, _, _, _, kind, *_ in batched["notifications"]} >= {"registration"}
    assert {channel for _, _, channel, *_ in batched["notifications"]} == {"email", "telegram", "webhook"}
    for table, rows in one_by_one.items():
        assert batched[table] == rows, table
    # One batch of 60 incidents at 6 instants: the rota is asked per instant and client, not
    # per incident; the numbers cost one round trip (PostgreSQL).
    assert asked["responsible_for"] <= 6 * 4 + 1
    assert asked["targets"] <= 6 * 4 * 3 + 1
    linked = [s for s in statements if "users.telegram_id" in s]  # people without a chat in the rota
    assert len(linked) <= len(desk.duty.rota.people)
    if desk.engine.dialect.name == "postgresql":
        drawn = [s for s in statements if "nextval" in s and "'incidents'" in s]  # not the alerts' ids
        assert len(drawn) == 2  # the batch's first number, and the one opened by hand


def test_a_batch_changing_what_it_opened_stores_what_one_alert_per_transaction_does(desk: Desk) -> None:
    one_by_one = desk.run(alerts_per_transaction=1, stored=follow_ups())
    batched = desk.run(alerts_per_transaction=500, stored=follow_ups())

    # The scenario reaches what it is about: incidents and links changed after they were made.
    incidents = {
        row[0]: dict(zip(Incident.__table__.columns.keys(), row, strict=True)) for row in batched["incidents"]
    }
    assert sorted(i["alert_count"] for i in incidents.values() if i["rule"] == "page")[-5:] == [2] * 5
    assert {i["status"] for i in incidents.values()} >= {"open", "resolved"}
    assert any(i["reopen_count"] == 1 for i in incidents.values())
    roles = Counter(row[-1] for row in batched["links"])
    assert roles["related"] == 1 and roles["member"] >= 15
    assert max(row[4] for row in batched["links"]) >= 2  # an alert linked twice over
    for table, rows in one_by_one.items():
        assert batched[table] == rows, table


def test_numbers_stay_unique_and_increasing_after_a_rollback(database_url: str) -> None:
    engine = create_db_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        with sessions() as session, session.begin():
            numbers = IncidentNumbers(session)
            assert [numbers.next() for _ in range(3)] == [1, 2, 3]
            session.add_all(_incident(n) for n in (1, 2, 3))
        with sessions() as session, session.begin():
            numbers = IncidentNumbers(session)
            [numbers.next() for _ in range(4)]  # counted, never stored
            session.rollback()
        with sessions() as session, session.begin():
            numbers = IncidentNumbers(session)
            later = [numbers.next() for _ in range(2)]
            session.add_all(_incident(n) for n in later)
        with sessions() as session, session.begin():
            last = IncidentNumbers(session).next()
            session.add(_incident(last))
        with sessions() as session:
            stored = list(session.scalars(select(Incident.number).order_by(Incident.number)))
    finally:
        engine.dispose()
    assert stored[:3] == [1, 2, 3]
    assert stored == sorted(set(stored))
    assert stored[3] > 3 and stored[-1] == stored[-2] + 1


@pytest.mark.postgres
def test_an_incident_opened_meanwhile_waits_for_the_batch_numbering_and_follows_it(
    postgres_database: str,
) -> None:
    _truncate(postgres_database)
    engine = create_db_engine(postgres_database)
    sessions = make_session_factory(engine)
    counted = threading.Event()
    got: list[int] = []

    def by_hand() -> None:
        counted.wait(5)
        with sessions() as session, session.begin():
            number = IncidentNumbers(session).next()
            session.add(_incident(number))
            got.append(number)

    other = threading.Thread(target=by_hand)
    other.start()
    try:
        with sessions() as session, session.begin():
            numbers = IncidentNumbers(session)
            batch = [numbers.next() for _ in range(5)]
            session.add_all(_incident(n) for n in batch)
            counted.set()
            other.join(0.5)
            assert other.is_alive()  # waiting for this transaction's numbering turn
        other.join(5)
    finally:
        counted.set()
        other.join(5)
        engine.dispose()
    assert batch == [1, 2, 3, 4, 5]
    assert got == [6]


def _incident(number: int) -> Incident:
    return Incident(
        number=number,
        title=f"incident {number}",
        priority=Priority.P3,
        alert_count=0,
        occurrence_count=0,
        opened_at=T0,
        reopen_count=0,
        updated_at=T0,
    )


def test_a_priority_change_moves_the_deadlines_and_their_timers(desk: Desk) -> None:
    desk.restart()
    opened = T0
    with desk.sessions() as session, session.begin():
        new = NewIncident("Tills offline", client="retail", priority=Priority.P4)
        number = open_incident(session, new, "orlov", opened, desk.duty).number
    with desk.sessions() as session, session.begin():
        change = Change(priority=Priority.P1)
        act_on(
            session,
            number,
            IncidentAction.PRIORITY,
            "orlov",
            opened + timedelta(minutes=5),
            desk.duty,
            "",
            change,
        )
    due = sla.deadlines(desk.duty.rota, "retail", Priority.P1, opened)
    with desk.sessions() as session:
        incident = session.scalars(select(Incident).where(Incident.number == number)).one()
        armed = {t.kind: t.due_at for t in session.scalars(select(Timer).where(Timer.subject == str(number)))}
        said = [e.text for e in session.scalars(select(TimelineEntry).where(TimelineEntry.kind == "sla"))]
    assert (incident.ack_due_at, incident.resolve_due_at) == (due.ack, due.resolve)
    assert armed["sla_ack"] == due.ack and armed["sla_resolve"] == due.resolve
    assert said and said[0].startswith("deadlines for P1: ")
