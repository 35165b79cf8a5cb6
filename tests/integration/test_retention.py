"""Retention: a prune removes exactly what the settings say and nothing an open incident, a
pending delivery, a waiting timer or a report needs (generated histories, SQLite and PostgreSQL);
reports give the same figures before and after; one prune at a time."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from bridge.alert import Source
from bridge.clock import FakeClock
from bridge.db import retention
from bridge.db.engine import create_db_engine, make_session_factory
from bridge.db.models import (
    AlertRow,
    Incident,
    Intake,
    IntakeKey,
    Notification,
    OutboxJob,
    TimelineEntry,
    Timer,
)
from bridge.services.live import LiveRota
from bridge.services.noise import NoiseReport, noise_report
from bridge.services.proactive import ProactiveReport, proactive_report
from bridge.services.reports import alert_counts, sla_report
from bridge.services.retention import Pruner, Retention
from tests.integration.test_pipeline import REPO_RULES, Harness
from tests.support.app import write_rules
from tests.support.db import empty_database
from tests.support.payloads import am_alert, am_notification

NOW = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)
KEEP = Retention(intake=timedelta(days=30), alerts=timedelta(days=90), delivered=timedelta(days=60))
EVERYTHING = (datetime(2020, 1, 1, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))
NOTIFICATION_KINDS = ["registration", "breach", "escalation", "assigned"]
INCIDENT_STATES = ["open", "acknowledged", "stale", "resolved", "closed", "cancelled"]


@dataclass(frozen=True)
class History:
    intake: list[tuple[int, str]]  # (days ago, status)
    incidents: list[tuple[str, int]]  # (status, days ago opened)
    alerts: list[tuple[int, str, int | None, bool, bool]]  # days ago, status, incident index, timer, held
    notifications: list[tuple[int, str]]
    outbox: list[tuple[int, str]]


days = st.integers(0, 200)


@st.composite
def histories(draw: st.DrawFn) -> History:
    incidents = draw(st.lists(st.tuples(st.sampled_from(INCIDENT_STATES), days), max_size=5))
    incident = st.none() | st.integers(0, len(incidents) - 1) if incidents else st.none()
    return History(
        intake=draw(
            st.lists(st.tuples(days, st.sampled_from(["done", "done", "pending", "failed"])), max_size=25)
        ),
        incidents=incidents,
        alerts=draw(
            st.lists(
                st.tuples(
                    days,
                    st.sampled_from(["firing", "resolved", "resolved"]),
                    incident,
                    st.booleans(),
                    st.booleans(),
                ),
                max_size=25,
            )
        ),
        notifications=draw(
            st.lists(st.tuples(days, st.sampled_from(["sent", "sent", "pending", "failed"])), max_size=8)
        ),
        outbox=draw(
            st.lists(st.tuples(days, st.sampled_from(["done", "done", "pending", "failed"])), max_size=8)
        ),
    )


def ago(n: int, hours: int = 0) -> datetime:
    return NOW - timedelta(days=n, hours=hours)


def write(sessions: object, history: History, postgres: bool) -> None:
    with sessions() as session, session.begin():  # type: ignore[operator]
        numbers = []
        for i, (status, opened) in enumerate(history.incidents):
            row = Incident(
                title=f"incident {i}",
                status=status,
                priority="P2",
                client=f"client-{i % 2}",
                opened_at=ago(opened),
                updated_at=ago(opened),
                acknowledged_at=ago(opened, -1) if status != "open" else None,
                resolved_at=ago(opened, -2) if status in ("resolved", "closed") else None,
                ack_breached_at=ago(opened, -1) if i % 3 == 0 else None,
            )
            session.add(row)
            session.flush()
            numbers.append(row.number)
            session.add(TimelineEntry(incident_number=row.number, at=ago(opened), actor="t", kind="opened"))
        if postgres and history.intake:  # no default partition: every week written to exists
            oldest, newest = max(n for n, _ in history.intake), min(n for n, _ in history.intake)
            retention.ensure_partitions(session, ago(oldest, 24), ago(newest))
        for i, (n, status) in enumerate(history.intake):
            key = f"key-{i}"
            session.add(
                Intake(
                    source="alertmanager",
                    dedup_key=key,
                    received_at=ago(n, i % 24),
                    body=b"{}" * (i + 1),
                    alert_count=1,
                    status=status,
                    attempts=1,
                )
            )
            if postgres:
                session.add(IntakeKey(dedup_key=key, received_at=ago(n, i % 24)))
        for i, (n, status, incident, timer, held) in enumerate(history.alerts):
            group = f"group-{i}"
            session.add(
                AlertRow(
                    fingerprint=f"fp-{i}",
                    source="alertmanager",
                    source_ref=f"ref-{i}",
                    name=f"Alert{i % 3}",
                    host=f"h{i % 4}",
                    severity="warning",
                    status=status,
                    labels={"i": i},
                    annotations={},
                    starts_at=ago(n + 1),
                    first_seen_at=ago(n + 1, i % 5),
                    last_event_at=ago(n, i % 7),
                    rule=f"rule-{i % 2}",
                    group_key=group,
                    disposition="incident" if incident is not None else ("suppressed" if held else "cleared"),
                    reason="HighCPU: firing since 10:02, for 5m" if i % 3 == 0 else "",
                    incident_number=numbers[incident] if incident is not None else None,
                    occurrences=i % 4 + 1,
                    suppressed_by=f"silence:{i}" if held else None,
                )
            )
            if timer:
                session.add(
                    Timer(
                        kind="hold" if i % 2 else "release",
                        subject=group if i % 2 else f"silence:{i}",
                        due_at=NOW + timedelta(hours=1),
                    )
                )
        for i, (n, status) in enumerate(history.notifications):
            session.add(
                Notification(
                    person=f"p{i % 2}",
                    channel="email",
                    address="p@example.com",
                    kind=NOTIFICATION_KINDS[i % len(NOTIFICATION_KINDS)],
                    incident_number=numbers[i % len(numbers)] if numbers else None,
                    subject="s",
                    body="b" * i,
                    status=status,
                    next_attempt_at=ago(n, i * 5 % 24),
                    created_at=ago(n, i * 5 % 24),
                    sent_at=ago(n, i * 5 % 24) if status == "sent" else None,
                )
            )
        for i, (n, status) in enumerate(history.outbox):
            session.add(
                OutboxJob(
                    kind="zabbix.acknowledge",
                    payload={"i": i},
                    status=status,
                    next_attempt_at=ago(n),
                    created_at=ago(n),
                    done_at=ago(n) if status == "done" else None,
                )
            )


def snapshot(sessions: object) -> dict[str, set[object]]:
    with sessions() as session:  # type: ignore[operator]
        return {
            "intake": set(session.scalars(select(Intake.dedup_key))),
            "alerts": set(session.scalars(select(AlertRow.fingerprint))),
            "incidents": set(session.scalars(select(Incident.number))),
            "timeline": set(session.scalars(select(TimelineEntry.id))),
            "notifications": set(session.scalars(select(Notification.id))),
            "outbox": set(session.scalars(select(OutboxJob.id))),
            "keys": set(session.scalars(select(IntakeKey.dedup_key))),
        }


def expected_gone(sessions: object, postgres: bool) -> dict[str, set[object]]:
    """What the settings say may go, worked out row by row from what each row is."""
    intake_cut, alert_cut, done_cut = NOW - KEEP.intake, NOW - KEEP.alerts, NOW - KEEP.delivered  # type: ignore[operator]
    gone: dict[str, set[object]] = {"intake": set(), "alerts": set(), "notifications": set(), "outbox": set()}
    with sessions() as session:  # type: ignore[operator]
        ends = {p.name: p.end for p in retention.partitions(session)} if postgres else {}
        for row in session.scalars(select(Intake)):
            if row.status != "done" or row.received_at >= intake_cut:
                continue
            where = retention.partition_of(session, row.id) if postgres else "intake"
            if where == "intake" or ends[where] <= intake_cut:
                gone["intake"].add(row.dedup_key)
        subjects = set(session.scalars(select(Timer.subject)))
        finished = set(
            session.scalars(select(Incident.number).where(Incident.status.in_(["closed", "cancelled"])))
        )
        for alert in session.scalars(select(AlertRow)):
            if (
                alert.status == "resolved"
                and alert.last_event_at < alert_cut
                and (alert.incident_number is None or alert.incident_number in finished)
                and alert.group_key not in subjects
                and alert.suppressed_by not in subjects
            ):
                gone["alerts"].add(alert.fingerprint)
        for note in session.scalars(select(Notification)):
            if (
                note.status == "sent"
                and note.sent_at is not None
                and note.sent_at < done_cut
                and note.kind not in ("registration", "escalation")  # pages: the noise report counts them
            ):
                gone["notifications"].add(note.id)
        for job in session.scalars(select(OutboxJob)):
            if job.status == "done" and job.done_at is not None and job.done_at < done_cut:
                gone["outbox"].add(job.id)
    return gone


def reports(
    sessions: object, rota: LiveRota, period: tuple[datetime, datetime] = EVERYTHING
) -> tuple[object, ...]:
    """The SLA report, the alert counts, the noise report and the proactive share of `period`
    (whole hours)."""
    with sessions() as session:  # type: ignore[operator]
        noise = noise_report(session, *period, None, rota.rota.tz, rota.rota.reports.night)
        sla = [
            (
                r.client,
                r.priority,
                r.count,
                r.acknowledged,
                r.resolved,
                r.ack_seconds,
                r.resolve_seconds,
                r.breaches,
            )
            for r in sla_report(session, rota.rota, *EVERYTHING)
        ]
        return sla, alert_counts(session, *period), noise, proactive_report(session, *period, None)


@pytest.mark.timeout(360)  # 20 histories, each with four reports taken twice, on a shared machine
@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(history=histories(), batch=st.integers(1, 7))
def test_a_prune_removes_exactly_what_the_settings_say_and_keeps_what_is_still_needed(
    database_url: str, history: History, batch: int
) -> None:
    empty_database(database_url)
    engine = create_db_engine(database_url)
    sessions = make_session_factory(engine)
    postgres = engine.dialect.name == "postgresql"
    try:
        clock = FakeClock(NOW)
        pruner = Pruner(sessions, clock, KEEP, batch=batch, yielding=False)  # nothing else runs here
        if postgres:  # weeks of the history as partitions, so that some are dropped whole
            for week in range(30, 0, -1):
                with sessions() as session, session.begin():
                    retention.create_partition(session, retention.week_start(NOW - timedelta(weeks=week)))
        write(sessions, history, postgres)
        rota = LiveRota(REPO_RULES, UTC, clock)
        before, figures = snapshot(sessions), reports(sessions, rota)
        gone = expected_gone(sessions, postgres)

        result = pruner.run()

        after = snapshot(sessions)
        assert result.finished and not result.busy
        for table in ("intake", "alerts", "notifications", "outbox"):
            assert before[table] - after[table] == gone[table], table
            assert after[table] <= before[table]
        assert after["incidents"] == before["incidents"] and after["timeline"] == before["timeline"]
        removed = {t.table: t.rows for t in result.tables}
        assert removed == {t: len(gone[t]) for t in ("intake", "alerts", "notifications", "outbox")}
        if postgres:  # the keys go with their deliveries, and only with them
            assert after["keys"] == after["intake"]
        assert reports(sessions, rota) == figures
        assert pruner.run().rows == 0  # nothing more to do
    finally:
        engine.dispose()


def test_a_dry_run_counts_what_a_prune_then_removes(database_url: str) -> None:
    engine = create_db_engine(database_url)
    sessions = make_session_factory(engine)
    postgres = engine.dialect.name == "postgresql"
    try:
        history = History(
            intake=[(n, "done") for n in range(0, 120, 3)] + [(100, "failed"), (90, "pending")],
            incidents=[("closed", 150), ("open", 150)],
            alerts=[(n, "resolved", n % 3 if n % 3 < 2 else None, False, False) for n in range(0, 200, 5)],
            notifications=[(n, "sent") for n in range(0, 100, 10)],
            outbox=[(n, "done") for n in range(0, 100, 10)],
        )
        write(sessions, history, postgres)
        pruner = Pruner(sessions, FakeClock(NOW), KEEP, batch=4)
        before, gone = snapshot(sessions)["intake"], expected_gone(sessions, postgres)["intake"]
        dry = pruner.run(dry_run=True)
        assert snapshot(sessions)["intake"] == {
            f"key-{i}" for i in range(len(history.intake))
        }  # nothing removed
        wet = pruner.run()
        assert {t.table: t.rows for t in dry.tables} == {t.table: t.rows for t in wet.tables}
        assert all(t.rows > 0 and t.bytes > 0 for t in wet.tables)
        with sessions() as session:  # parked and pending deliveries stay, however old
            assert {"failed", "pending"} <= set(session.scalars(select(Intake.status)))
        assert snapshot(sessions)["intake"] == before - gone
    finally:
        engine.dispose()


def test_one_prune_at_a_time(database_url: str) -> None:
    engine = create_db_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        clock = FakeClock(NOW)
        first, second = Pruner(sessions, clock, KEEP), Pruner(sessions, clock, KEEP)
        assert first._take_lease(timedelta(minutes=1))
        assert second.run().busy
        clock.advance(timedelta(minutes=2))  # a holder that died: its lease runs out
        assert not second.run().busy
        first._give_back_lease()
        assert not first.run().busy
    finally:
        engine.dispose()


def test_reports_give_the_same_figures_after_a_prune_of_a_real_history(
    database_url: str, tmp_path: Path
) -> None:
    """Through the pipeline: alerts that opened incidents, were dropped or cleared, then a prune a
    year later; the SLA report and the noise report's alert counts per rule and reason agree."""
    empty_database(database_url)
    rules_dir = write_rules(tmp_path / "rules")
    harness = Harness(database_url, rules_dir)
    try:
        start = harness.clock.now()
        for day in range(12):
            for name, severity in (("HighCPU", "critical"), ("Chatter", "info"), ("DiskFull", "warning")):
                at = start + timedelta(days=day * 10, minutes=5)
                firing = am_alert(
                    name,
                    starts_at=at.isoformat(),
                    fingerprint=f"{name}{day}",
                    instance=f"h{day}:1",
                    severity=severity,
                )
                harness.deliver(
                    Source.ALERTMANAGER,
                    json.dumps(am_notification(firing)).encode(),
                    at + timedelta(seconds=5),
                )
                end = at + timedelta(minutes=20)
                resolved = dict(firing, status="resolved", endsAt=end.isoformat())
                harness.deliver(Source.ALERTMANAGER, json.dumps(am_notification(resolved)).encode(), end)
        later = start + timedelta(days=365)
        harness.finish(later)
        with harness.sessions() as session, session.begin():  # operators confirmed every resolution
            session.execute(
                text(
                    "UPDATE incidents SET status = 'closed', closed_at = resolved_at WHERE status = 'resolved'"
                )
            )
        rota = LiveRota(REPO_RULES, UTC, harness.clock)
        figures = reports(harness.sessions, rota)
        some_days = (retention.hour_of(start), retention.hour_of(start) + timedelta(days=45))
        narrower = reports(harness.sessions, rota, some_days)
        with harness.sessions() as session:
            alerts_before = session.scalar(select(func.count()).select_from(AlertRow))
        result = Pruner(harness.sessions, harness.clock, KEEP, batch=5).run()
        with harness.sessions() as session:
            assert session.scalar(select(func.count()).select_from(AlertRow)) == 0 < alerts_before
            assert session.scalar(select(func.count()).select_from(Intake)) == 0
        assert {t.table: t.rows for t in result.tables}["alerts"] == alerts_before
        assert reports(harness.sessions, rota) == figures
        assert reports(harness.sessions, rota, some_days) == narrower
        sla, counts, noise, proactive = figures
        assert sla and counts  # there was something to compare
        assert isinstance(noise, NoiseReport) and isinstance(proactive, ProactiveReport)
        assert noise.alerts == 36 and len(noise.noisiest_hosts) == 12 and noise.noisiest_names
        assert noise.in_incidents and proactive.total.monitoring
        assert isinstance(narrower[2], NoiseReport) and 0 < narrower[2].alerts < noise.alerts
        assert noise.sources[0].deliveries == 72 and noise.sources[0].events == 72
    finally:
        harness.close()


@pytest.mark.parametrize("every", [timedelta(0)])
def test_nothing_is_pruned_when_retention_is_off(database_url: str, every: timedelta) -> None:
    engine = create_db_engine(database_url)
    sessions = make_session_factory(engine)
    try:
        write(
            sessions,
            History(
                [(400, "done")], [], [(400, "resolved", None, False, False)], [(400, "sent")], [(400, "done")]
            ),
            engine.dialect.name == "postgresql",
        )
        result = Pruner(sessions, FakeClock(NOW), Retention(None, None, None)).run()
        assert result.tables == [] and snapshot(sessions)["intake"] == {"key-0"}
    finally:
        engine.dispose()
