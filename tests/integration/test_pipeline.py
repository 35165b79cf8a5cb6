"""The database pipeline: same results as the in-memory simulator, failures parked, concurrency safe."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from bridge.alert import Source
from bridge.clock import FakeClock
from bridge.db.engine import create_db_engine, make_session_factory
from bridge.db.intake import store_delivery
from bridge.db.models import (
    AlertGroup,
    AlertRow,
    Incident,
    IncidentAlert,
    Intake,
    IntakeStatus,
    TimelineEntry,
    Timer,
)
from bridge.dedup.engine import Engine
from bridge.dedup.loader import load_rules_dir
from bridge.dedup.simulator import Simulator
from bridge.services.dispatch import TimerDispatcher
from bridge.services.live import LiveRules
from bridge.services.pipeline import MAX_ATTEMPTS, Pipeline, take_deciding_turn
from bridge.services.state_store import StateStore
from bridge.sources import parse_delivery
from tests.conftest import _truncate
from tests.support.app import write_rules
from tests.support.db import empty_database
from tests.support.payloads import all_captured, am_alert, am_notification, captured

REPO_RULES = Path(__file__).resolve().parents[2] / "rules"


class Harness:
    """A pipeline on a real database, fed deliveries in arrival order with a fake clock."""

    def __init__(self, database_url: str, rules_dir: Path) -> None:
        self.engine = create_db_engine(database_url)
        self.sessions = make_session_factory(self.engine)
        self.clock = FakeClock(captured("alertmanager/01-firing-single.json").received_at)
        self.rules = LiveRules(rules_dir)
        self.pipeline = Pipeline(self.sessions, self.rules, self.clock)
        self.timers = TimerDispatcher(self.sessions, self.clock)
        self.timers.register_all(self.pipeline.timer_handlers())

    def deliver(self, source: Source, raw: bytes, received_at: object) -> None:
        """Store a delivery received at `received_at`; timers due strictly before it fire first."""
        self.clock.set(received_at - timedelta(microseconds=1))  # type: ignore[operator]
        self.timers.run_due()
        self.clock.set(received_at)  # type: ignore[arg-type]
        delivery = parse_delivery(source, raw, received_at)  # type: ignore[arg-type]
        store_delivery(self.sessions, delivery, raw, received_at)  # type: ignore[arg-type]
        self.pipeline.process_pending()

    def finish(self, until: object) -> None:
        self.clock.set(until)  # type: ignore[arg-type]
        self.timers.run_due()

    def incidents(self) -> list[tuple[object, ...]]:
        with self.sessions() as session:
            rows = session.scalars(select(Incident).order_by(Incident.number))
            return [
                (
                    i.number,
                    i.group_key,
                    i.status,
                    i.priority,
                    i.alert_count,
                    i.occurrence_count,
                    i.reopen_count,
                    i.opened_at,
                    i.resolved_at,
                )
                for i in rows
            ]

    def alerts(self) -> list[tuple[object, ...]]:
        with self.sessions() as session:
            rows = session.scalars(select(AlertRow).order_by(AlertRow.fingerprint))
            return [
                (a.fingerprint, a.status, a.starts_at, a.disposition, a.incident_number, a.occurrences)
                for a in rows
            ]

    def close(self) -> None:
        self.engine.dispose()


def simulated(rules_dir: Path, deliveries: list[tuple[Source, bytes, object]], until: object) -> Simulator:
    sim = Simulator(Engine(load_rules_dir(rules_dir)))
    for source, raw, received_at in deliveries:
        alerts = parse_delivery(source, raw, received_at).alerts  # type: ignore[arg-type]
        sim.tick(received_at)  # type: ignore[arg-type]
        with sim.delivering(alerts):
            for alert in alerts:
                sim.feed(alert)
    sim.advance(until)  # type: ignore[arg-type]
    return sim


def sim_incidents(sim: Simulator) -> list[tuple[object, ...]]:
    return [
        (
            i.number,
            i.group_key,
            i.status,
            i.priority.value,
            len(i.alerts),
            i.occurrences,
            i.reopen_count,
            i.opened_at,
            i.resolved_at,
        )
        for i in sim.incidents
    ]


def sim_alerts(sim: Simulator) -> list[tuple[object, ...]]:
    return sorted(
        (s.fingerprint, s.status.value, s.starts_at, s.disposition.value, s.incident, s.occurrences)
        for s in sim.alerts.values()
    )


def captured_deliveries() -> list[tuple[Source, bytes, object]]:
    paths = all_captured("alertmanager") + all_captured("zabbix")
    return sorted(
        ((captured(p).source, captured(p).body_raw, captured(p).received_at) for p in paths),
        key=lambda d: d[2],
    )  # type: ignore[arg-type,return-value]


@pytest.mark.parametrize("rules", ["repo", "test"])
def test_every_captured_payload_gives_the_simulators_result(
    database_url: str, tmp_path: Path, rules: str
) -> None:
    rules_dir = REPO_RULES if rules == "repo" else write_rules(tmp_path / "rules")
    deliveries = captured_deliveries()
    until = deliveries[-1][2] + timedelta(hours=2)  # type: ignore[operator]
    harness = Harness(database_url, rules_dir)
    try:
        for delivery in deliveries:
            harness.deliver(*delivery)
        harness.finish(until)
        sim = simulated(rules_dir, deliveries, until)
        assert harness.incidents() == sim_incidents(sim)
        assert harness.alerts() == sim_alerts(sim)
        assert harness.incidents(), "the captures open incidents"
    finally:
        harness.close()


@pytest.mark.parametrize(
    "path",
    [
        "alertmanager/05-resolved-single.json",
        "alertmanager/06-resolved-grouped.json",
        "zabbix/05-recovery.json",
        "zabbix/08-recovery-after-close.json",
    ],
)
def test_a_recovery_of_a_problem_never_seen_firing_is_recorded_and_opens_nothing(
    database_url: str, tmp_path: Path, path: str
) -> None:
    """What fired before bridge was installed (or whose firing never arrived) pages nobody."""
    empty_database(database_url)
    capture = captured(path)
    delivery = (capture.source, capture.body_raw, capture.received_at)
    until = capture.received_at + timedelta(hours=2)
    harness = Harness(database_url, REPO_RULES)
    try:
        harness.deliver(*delivery)
        harness.finish(until)
        sim = simulated(REPO_RULES, [delivery], until)
        assert harness.incidents() == [] == sim_incidents(sim)
        assert harness.alerts() == sim_alerts(sim)
        with harness.sessions() as session:
            rows = list(session.scalars(select(AlertRow)))
            assert rows and {(r.status, r.disposition, r.incident_number) for r in rows} == {
                ("resolved", "cleared", None)
            }
            assert all(r.reason.startswith("resolved before bridge saw it fire (began ") for r in rows)
            assert session.scalar(select(func.count()).select_from(TimelineEntry)) == 0
    finally:
        harness.close()


@st.composite
def notification_streams(draw: st.DrawFn) -> list[tuple[Source, bytes, object]]:
    base = captured("alertmanager/01-firing-single.json").received_at
    deliveries = []
    for name in draw(
        st.lists(st.sampled_from(["HighCPU", "DiskFull", "Chatter"]), min_size=1, max_size=3, unique=True)
    ):
        severity = "info" if name == "Chatter" else draw(st.sampled_from(["warning", "critical"]))
        for host in draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True)):
            minute = draw(st.integers(0, 20))
            for _ in range(draw(st.integers(1, 3))):
                start = base + timedelta(minutes=minute)
                firing = am_alert(
                    name,
                    starts_at=start.isoformat(),
                    fingerprint=f"{name}{host}",
                    instance=f"{host}:1",
                    severity=severity,
                )
                # Sometimes bridge hears of an occurrence only once it resolved, or never of its
                # end (then the next occurrence, fired or only seen resolved, ends it).
                heard = draw(st.sampled_from(["both", "both", "both", "firing", "resolved"]))
                if heard != "resolved":
                    deliveries.append((start + timedelta(seconds=5), firing))
                length = draw(st.integers(1, 30))
                end = start + timedelta(minutes=length)
                resolved = dict(firing, status="resolved", endsAt=end.isoformat())
                if heard != "firing":
                    deliveries.append((end + timedelta(seconds=5), resolved))
                minute += length + draw(st.integers(1, 90))
    deliveries.sort(key=lambda d: d[0])
    return [(Source.ALERTMANAGER, json.dumps(am_notification(a)).encode(), t) for t, a in deliveries]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=notification_streams())
def test_generated_streams_give_the_simulators_result(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, stream: list[tuple[Source, bytes, object]]
) -> None:
    rules_dir = write_rules(tmp_path_factory.mktemp("rules"))
    empty_database(database_url)  # hypothesis runs every example on the test function's one database
    until = stream[-1][2] + timedelta(hours=3)  # type: ignore[operator]
    harness = Harness(database_url, rules_dir)
    try:
        for delivery in stream:
            harness.deliver(*delivery)
        harness.finish(until)
        sim = simulated(rules_dir, stream, until)
        assert [i[1:] for i in harness.incidents()] == [i[1:] for i in sim_incidents(sim)]
        assert [a[:4] + a[5:] for a in harness.alerts()] == [a[:4] + a[5:] for a in sim_alerts(sim)]
    finally:
        harness.close()


@st.composite
def streams_decided_at_once_or_not(draw: st.DrawFn) -> list[tuple[Source, bytes, object, bool]]:
    """A generated stream, each delivery marked to be decided in its webhook's thread or not."""
    stream = draw(notification_streams())
    return [(*delivery, draw(st.booleans())) for delivery in stream]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=streams_decided_at_once_or_not())
def test_deliveries_decided_at_once_give_what_the_worker_gives(
    database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    stream: list[tuple[Source, bytes, object, bool]],
) -> None:
    """`process_now` (a Zabbix webhook answering with its incident) decides as the worker would:
    whichever deliveries it decides, the incidents and alerts are the simulator's, and every
    delivery is decided once (the worker finds nothing left of one decided at once)."""
    rules_dir = write_rules(tmp_path_factory.mktemp("rules"))
    empty_database(database_url)
    until = stream[-1][2] + timedelta(hours=3)  # type: ignore[operator]
    harness = Harness(database_url, rules_dir)
    try:
        for source, raw, received_at, at_once in stream:
            harness.clock.set(received_at - timedelta(microseconds=1))  # type: ignore[operator]
            harness.timers.run_due()
            harness.clock.set(received_at)  # type: ignore[arg-type]
            delivery = parse_delivery(source, raw, received_at)  # type: ignore[arg-type]
            stored = store_delivery(harness.sessions, delivery, raw, received_at)  # type: ignore[arg-type]
            if at_once and stored.intake_id is not None:
                assert harness.pipeline.process_now(stored.intake_id, delivery)  # nothing pending ahead
                assert harness.pipeline.process_pending().deliveries == 0
            else:
                assert harness.pipeline.process_pending().deliveries == (stored.intake_id is not None)
        harness.finish(until)
        sim = simulated(rules_dir, [d[:3] for d in stream], until)
        assert [i[1:] for i in harness.incidents()] == [i[1:] for i in sim_incidents(sim)]
        assert [a[:4] + a[5:] for a in harness.alerts()] == [a[:4] + a[5:] for a in sim_alerts(sim)]
    finally:
        harness.close()


def test_a_delivery_that_no_longer_parses_is_parked_with_its_error(database_url: str, tmp_path: Path) -> None:
    harness = Harness(database_url, write_rules(tmp_path / "rules"))
    try:
        with harness.sessions() as session, session.begin():
            session.add(
                Intake(
                    source="alertmanager",
                    dedup_key="x",
                    received_at=harness.clock.now(),
                    body=b'{"alerts": "nope"}',
                    alert_count=0,
                    status="pending",
                    attempts=0,
                )
            )
        good = captured("alertmanager/01-firing-single.json")
        harness.deliver(good.source, good.body_raw, good.received_at)
        with harness.sessions() as session:
            rows = {r.dedup_key[:12]: r for r in session.scalars(select(Intake))}
        assert rows["x"].status == IntakeStatus.FAILED.value
        assert rows["x"].error == "alerts: missing or not a list"
        assert rows["alertmanager"].status == IntakeStatus.DONE.value
        assert len(harness.incidents()) == 1
    finally:
        harness.close()


def test_a_delivery_that_keeps_failing_is_parked_and_does_not_block_others(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness = Harness(database_url, write_rules(tmp_path / "rules"))
    original = StateStore.apply

    def apply_with_a_bug(self: StateStore, decision: object, alert: object, now: object) -> None:
        if alert is not None and alert.name == "Poison":  # type: ignore[attr-defined]
            raise RuntimeError("a bug that only this alert triggers")
        original(self, decision, alert, now)  # type: ignore[arg-type]

    monkeypatch.setattr(StateStore, "apply", apply_with_a_bug)
    try:
        start = harness.clock.now()
        for name in ("Before", "Poison", "After"):
            raw = json.dumps(
                am_notification(am_alert(name, starts_at=start.isoformat(), instance="h:1"))
            ).encode()
            store_delivery(harness.sessions, parse_delivery(Source.ALERTMANAGER, raw, start), raw, start)
        for _ in range(MAX_ATTEMPTS):
            harness.pipeline.process_pending()
        with harness.sessions() as session:
            rows = list(session.scalars(select(Intake).order_by(Intake.id)))
        assert [(r.status, r.attempts) for r in rows] == [("done", 0), ("failed", MAX_ATTEMPTS), ("done", 0)]
        assert rows[1].error is not None and "a bug that only this alert triggers" in rows[1].error
        assert len(harness.incidents()) == 2
    finally:
        harness.close()


def test_timers_survive_a_restart(database_url: str, tmp_path: Path) -> None:
    rules_dir = write_rules(tmp_path / "rules")
    harness = Harness(database_url, rules_dir)
    start = harness.clock.now()
    raw = json.dumps(
        am_notification(am_alert("DiskFull", starts_at=start.isoformat(), instance="h:1"))
    ).encode()
    harness.deliver(Source.ALERTMANAGER, raw, start)
    harness.close()  # the process dies; only the database remains
    again = Harness(database_url, rules_dir)
    try:
        with again.sessions() as session:
            assert [(t.kind, t.due_at) for t in session.scalars(select(Timer))] == [
                ("hold", start + timedelta(minutes=10))
            ]
        again.finish(start + timedelta(minutes=9))
        assert again.incidents() == []
        again.finish(start + timedelta(minutes=10))
        assert len(again.incidents()) == 1
        with again.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Timer)) == 0
    finally:
        again.close()


CLIENT_RULES = """
defaults: {group_by: [source, host, name], resolve_after: 5m, reopen_within: 1h}
rules:
  - name: disk
    match: {name: DiskFull}
    client: {label: customer}
    for: 10m
"""


def test_a_held_alert_opens_its_incident_with_its_client_even_after_a_restart(
    database_url: str, tmp_path: Path
) -> None:
    rules_dir = write_rules(tmp_path / "rules", CLIENT_RULES)
    harness = Harness(database_url, rules_dir)
    start = harness.clock.now()
    raw = json.dumps(
        am_notification(
            am_alert("DiskFull", starts_at=start.isoformat(), instance="h:1", customer="logistics")
        )
    ).encode()
    harness.deliver(Source.ALERTMANAGER, raw, start)
    harness.close()  # the hold outlives the process: the group's client must be in the database
    again = Harness(database_url, rules_dir)
    try:
        with again.sessions() as session:
            assert [g.client for g in session.scalars(select(AlertGroup))] == ["logistics"]
        again.finish(start + timedelta(minutes=10))
        with again.sessions() as session:
            opened = [(i.client, i.source, i.opened_at) for i in session.scalars(select(Incident))]
        assert opened == [("logistics", Source.ALERTMANAGER, start + timedelta(minutes=10))]
    finally:
        again.close()


@pytest.mark.postgres
def test_concurrent_workers_on_one_group_open_exactly_one_incident(
    postgres_database: str, tmp_path: Path
) -> None:
    """Eight workers, each with its own deliveries of alerts of one group, all at once (PostgreSQL)."""

    _truncate(postgres_database)
    rules_dir = write_rules(tmp_path / "rules", "defaults: {group_by: [name]}\nrules: []\n")
    harness = Harness(postgres_database, rules_dir)
    start = harness.clock.now()
    try:
        for n in range(80):
            raw = json.dumps(
                am_notification(
                    am_alert(
                        "RackDown", starts_at=start.isoformat(), instance=f"h{n}:1", fingerprint=f"{n:016x}"
                    )
                )
            ).encode()
            store_delivery(harness.sessions, parse_delivery(Source.ALERTMANAGER, raw, start), raw, start)
        with harness.sessions() as session:
            ids = list(session.scalars(select(Intake.id).order_by(Intake.id)))
        barrier = threading.Barrier(8)
        errors: list[BaseException] = []

        def worker(mine: list[int]) -> None:
            pipeline = Pipeline(harness.sessions, harness.rules, harness.clock)
            barrier.wait()
            try:
                for intake_id in mine:
                    pipeline.process_through(intake_id)  # what each worker's queued job does
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(ids[i::8],)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        incidents = harness.incidents()
        assert len(incidents) == 1
        assert incidents[0][4] == 80  # every alert attached, none lost to a race
        with harness.sessions() as session:
            assert (
                session.scalar(select(func.count()).select_from(Intake).where(Intake.status != "done")) == 0
            )
            attached = session.scalar(
                select(func.count()).select_from(TimelineEntry).where(TimelineEntry.kind == "alert_attached")
            )
        assert attached == 80
    finally:
        harness.close()


def test_a_worker_with_a_later_delivery_waits_for_the_older_one_so_a_recovery_never_comes_first(
    database_url: str, tmp_path: Path
) -> None:
    """Two workers: one holds the problem's delivery, the other gets the job of its recovery.
    Decided in that wrong order the recovery would be of an alert never seen firing (recorded,
    opening nothing) and the problem a stale repeat of an ended occurrence: nobody paged."""
    rules_dir = write_rules(tmp_path / "rules", "defaults: {group_by: [name, instance]}\nrules: []\n")
    harness = Harness(database_url, rules_dir)
    start = harness.clock.now()
    try:
        firing = am_alert("HostDown", starts_at=start.isoformat(), instance="db-1:9100", fingerprint="f" * 16)
        resolved = am_alert(
            "HostDown",
            status="resolved",
            starts_at=start.isoformat(),
            ends_at=(start + timedelta(minutes=3)).isoformat(),
            instance="db-1:9100",
            fingerprint="f" * 16,
        )
        for offset, alert in ((0, firing), (4, resolved)):
            raw = json.dumps(am_notification(alert)).encode()
            at = start + timedelta(minutes=offset)
            store_delivery(harness.sessions, parse_delivery(Source.ALERTMANAGER, raw, at), raw, at)
        with harness.sessions() as session:
            _problem, recovery = session.scalars(select(Intake.id).order_by(Intake.id))
        recovery_delivery = parse_delivery(Source.ALERTMANAGER, raw, at)

        early = harness.pipeline.process([recovery])  # the recovery's worker asks first
        assert early.behind and early.deliveries == 0
        assert harness.incidents() == []
        assert not harness.pipeline.process_now(
            recovery, recovery_delivery
        )  # a webhook's thread hands it to the worker

        harness.pipeline.process_through(recovery)  # its job goes on from the oldest
        harness.finish(start + timedelta(hours=1))  # the resolve timer the recovery set
        [incident] = harness.incidents()
        assert incident[2] == "resolved"  # opened by the problem, resolved by the recovery
        assert incident[7] == start
    finally:
        harness.close()


@pytest.mark.postgres
def test_deciding_transactions_of_workers_take_turns(postgres_database: str, tmp_path: Path) -> None:
    """While one worker decides (holds the turn), another's transaction waits for the commit."""
    _truncate(postgres_database)
    harness = Harness(postgres_database, write_rules(tmp_path / "rules", "rules: []\n"))
    try:
        at = harness.clock.now()
        raw = json.dumps(
            am_notification(am_alert("HostDown", starts_at=at.isoformat(), instance="db-1"))
        ).encode()
        store_delivery(harness.sessions, parse_delivery(Source.ALERTMANAGER, raw, at), raw, at)
        other = Pipeline(harness.sessions, harness.rules, harness.clock)
        done = threading.Event()
        with harness.sessions() as holder, holder.begin():
            take_deciding_turn(holder)
            thread = threading.Thread(target=lambda: (other.process_pending(), done.set()))
            thread.start()
            assert not done.wait(1.0)  # it waits for the turn, whatever the time it is given
        assert done.wait(30)
        thread.join()
        assert [i[2] for i in harness.incidents()] == ["open"]
    finally:
        harness.close()


LANGUAGE_RULES = """
defaults:
  resolve_after: 5m
  reopen_within: 1h
  priority: {critical: P1, default: P3}
rules:
  - name: host-down
    match: {name: HostDown}
    group_by: [host]
    inhibits: {match: {name: "!=HostDown"}, equal: [host]}
  - name: ping
    match: {name: Ping}
    threshold: {count: 2, within: 30m}
    flapping: {changes: 4, within: 30m}
  - name: pods
    match: {name: PodCrash}
    dedup_by: [name]
  - name: watchdog
    kind: heartbeat
    match: {name: Watchdog}
    every: 10m
maintenance:
  - name: c-window
    match: {host: c}
    every: "daily 07:00-08:00"
"""


@st.composite
def language_streams(draw: st.DrawFn) -> list[tuple[Source, bytes, object]]:
    """Alerts that exercise inhibition, thresholds with flapping, dedup_by, heartbeats, maintenance."""
    base = captured("alertmanager/01-firing-single.json").received_at  # 06:51 UTC: c's window is 07-08
    deliveries = []
    for name in draw(
        st.lists(
            st.sampled_from(["HostDown", "HighCPU", "Ping", "PodCrash"]), min_size=1, max_size=4, unique=True
        )
    ):
        for host in draw(st.lists(st.sampled_from(["a", "b", "c"]), min_size=1, max_size=3, unique=True)):
            minute = draw(st.integers(0, 40))
            for _ in range(draw(st.integers(1, 4))):
                start = base + timedelta(minutes=minute)
                firing = am_alert(
                    name, starts_at=start.isoformat(), fingerprint=f"{name}{host}", instance=f"{host}:1"
                )
                if draw(st.integers(0, 4)):  # else bridge only hears of it once it resolved
                    deliveries.append((start + timedelta(seconds=5), firing))
                length = draw(st.integers(1, 40))
                end = start + timedelta(minutes=length)
                deliveries.append(
                    (end + timedelta(seconds=5), dict(firing, status="resolved", endsAt=end.isoformat()))
                )
                minute += length + draw(st.integers(1, 40))
    watchdog = am_alert("Watchdog", starts_at=base.isoformat(), fingerprint="watchdog", instance="am:9093")
    for minute in sorted(draw(st.lists(st.integers(0, 180), max_size=12, unique=True))):
        deliveries.append((base + timedelta(minutes=minute, seconds=7), watchdog))
    deliveries.sort(key=lambda d: d[0])
    return [(Source.ALERTMANAGER, json.dumps(am_notification(a)).encode(), t) for t, a in deliveries]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream=language_streams())
def test_the_rules_language_gives_the_simulators_result_on_the_database(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, stream: list[tuple[Source, bytes, object]]
) -> None:
    rules_dir = write_rules(tmp_path_factory.mktemp("rules"), LANGUAGE_RULES)
    empty_database(database_url)
    until = stream[-1][2] + timedelta(hours=3)  # type: ignore[operator]
    harness = Harness(database_url, rules_dir)
    try:
        for delivery in stream:
            harness.deliver(*delivery)
        harness.finish(until)
        sim = simulated(rules_dir, stream, until)
        assert [i[1:] for i in harness.incidents()] == [i[1:] for i in sim_incidents(sim)]
        assert [a[:4] + a[5:] for a in harness.alerts()] == [a[:4] + a[5:] for a in sim_alerts(sim)]
        with harness.sessions() as session:
            rows = list(session.scalars(select(Incident).order_by(Incident.number)))
            stored = [(i.group_key, i.flapping, i.title) for i in rows]
            rank = {row.number: n for n, row in enumerate(rows, 1)}  # numbers run on across examples
            kinds = sorted(
                (rank[e.incident_number], e.kind)
                for e in session.scalars(select(TimelineEntry))
                if e.kind in ("flapping_started", "flapping_ended", "related", "reopened", "resolved")
            )
        assert stored == [(i.group_key, i.flapping, i.title) for i in sim.incidents]
        assert kinds == sorted(
            (i.number, kind)
            for i in sim.incidents
            for _, kind, _ in i.timeline
            if kind in ("flapping_started", "flapping_ended", "related", "reopened", "resolved")
        )
    finally:
        harness.close()


INHIBITING_RULES = """
rules:
  - name: host-down
    match: {name: HostDown}
    group_by: [host]
    inhibits: {match: {severity: "!=critical"}, equal: [host]}
"""


def down_and_disk(t0: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """A HostDown alert on db-01 and a warning of that host it holds back (INHIBITING_RULES)."""
    down = am_alert(
        "HostDown", starts_at=t0.isoformat(), fingerprint="down", instance="db-01:9100", severity="critical"
    )
    child = am_alert(
        "DiskFull", starts_at=t0.isoformat(), fingerprint="disk", instance="db-01:9100", severity="warning"
    )
    return down, child


def decided_in_one_batch_as_simulated(
    harness: Harness, rules_dir: Path, stream: list[tuple[Source, bytes, Any]], t0: datetime
) -> Simulator:
    """Store `stream`, decide it in one batch, run the clock an hour on: the alerts and incidents
    are the simulator's (returned)."""
    for source, raw, at in stream:  # stored first, then decided in one batch
        store_delivery(harness.sessions, parse_delivery(source, raw, at), raw, at)
    harness.clock.set(t0 + timedelta(seconds=5))
    assert harness.pipeline.process_pending().deliveries == len(stream)
    until = t0 + timedelta(hours=1)
    harness.finish(until)
    sim = simulated(rules_dir, stream, until)
    assert harness.alerts() == sim_alerts(sim)
    assert [i[1:] for i in harness.incidents()] == [i[1:] for i in sim_incidents(sim)]
    return sim


def test_an_inhibitor_that_resolves_in_the_batch_that_held_alerts_back_releases_them(
    database_url: str, tmp_path: Path
) -> None:
    """Held back and released within one transaction (nothing flushed in between): the release
    finds the alerts the batch itself held, as the simulator does."""
    rules_dir = write_rules(tmp_path / "rules", INHIBITING_RULES)
    empty_database(database_url)
    t0 = captured("alertmanager/01-firing-single.json").received_at
    down, child = down_and_disk(t0)
    back = dict(down, status="resolved", endsAt=(t0 + timedelta(seconds=30)).isoformat())
    stream = [
        (Source.ALERTMANAGER, json.dumps(am_notification(body)).encode(), t0 + timedelta(seconds=n))
        for n, body in enumerate((down, child, back), start=1)
    ]
    harness = Harness(database_url, rules_dir)
    try:
        decided_in_one_batch_as_simulated(harness, rules_dir, stream, t0)
        with harness.sessions() as session:
            disk = session.scalars(select(AlertRow).where(AlertRow.fingerprint == "alertmanager:disk")).one()
            assert (disk.disposition, disk.suppressed_by, disk.incident_number) == ("incident", None, 2)
    finally:
        harness.close()


@pytest.mark.parametrize("together", [True, False])
def test_an_alert_resolved_with_its_inhibitor_in_one_notification_is_never_released(
    database_url: str, tmp_path: Path, together: bool
) -> None:
    """Alertmanager resolving a host's group at once: the HostDown alert first, then the alert
    it held back. One notification is one moment: the held alert is recorded resolved while
    held, and joins no incident (released, it would join one and leave it in the same instant).
    Resolved in a later notification, it is released first, as before. Either way the
    simulator (and so replay) decides as the pipeline does."""
    rules_dir = write_rules(tmp_path / "rules", INHIBITING_RULES)
    empty_database(database_url)
    t0 = captured("alertmanager/01-firing-single.json").received_at
    down, child = down_and_disk(t0)
    ended = (t0 + timedelta(seconds=30)).isoformat()
    down_back, child_back = (dict(a, status="resolved", endsAt=ended) for a in (down, child))
    bodies = (
        [[down, child], [down_back, child_back]] if together else [[down, child], [down_back], [child_back]]
    )
    stream = [
        (Source.ALERTMANAGER, json.dumps(am_notification(*alerts)).encode(), t0 + timedelta(seconds=n))
        for n, alerts in enumerate(bodies, start=1)
    ]
    harness = Harness(database_url, rules_dir)
    try:
        sim = decided_in_one_batch_as_simulated(harness, rules_dir, stream, t0)
        with harness.sessions() as session:
            disk = session.scalars(select(AlertRow).where(AlertRow.fingerprint == "alertmanager:disk")).one()
            links = session.scalars(
                select(IncidentAlert.incident_number).where(IncidentAlert.fingerprint == "alertmanager:disk")
            ).all()
        assert disk.status == "resolved"
        if together:
            assert (disk.disposition, disk.suppressed_by) == ("inhibited", "inhibit:alertmanager:down")
            assert (len(sim.incidents), list(links)) == (1, [1])  # related to HostDown's, never a member
        else:
            assert disk.disposition == "incident" and len(sim.incidents) == 2 and 2 in links
    finally:
        harness.close()


def large_deliveries(start: datetime) -> list[tuple[Source, bytes, datetime]]:
    """A 250-alert group (100 disk alerts of one incident held by `for:`, 150 services on their own
    hosts), then a notification resolving 30 of the services."""
    services = [
        am_alert(f"Svc{i}", starts_at=start.isoformat(), instance=f"svc-{i}:9100") for i in range(150)
    ]
    disks = [am_alert("HostDisk", starts_at=start.isoformat(), instance=f"disk-{i}:9100") for i in range(100)]
    big = [a for pair in zip(services[:100], disks, strict=True) for a in pair] + services[100:]
    resolved = [
        {**a, "status": "resolved", "endsAt": (start + timedelta(seconds=30)).isoformat()}
        for a in services[:30]
    ]
    later = start + timedelta(seconds=40)
    return [
        (Source.ALERTMANAGER, json.dumps(am_notification(*big)).encode(), start),
        (Source.ALERTMANAGER, json.dumps(am_notification(*resolved)).encode(), later),
    ]


def test_a_large_delivery_is_decided_in_slices_with_the_simulators_result(
    database_url: str, tmp_path: Path
) -> None:
    rules_dir = write_rules(tmp_path / "rules")
    harness = Harness(database_url, rules_dir)
    harness.pipeline.slice_seconds = 60.0  # slices by count here: 100 alerts each
    try:
        deliveries = large_deliveries(harness.clock.now())
        for source, raw, received_at in deliveries:
            store_delivery(harness.sessions, parse_delivery(source, raw, received_at), raw, received_at)
        steps = []
        while (result := harness.pipeline.process_pending(max_alerts=100)).progressed:
            with harness.sessions() as session:
                rows = session.scalars(select(Intake).order_by(Intake.id))
                steps.append(
                    (result.alerts, result.sliced, result.deliveries, [(r.status, r.progress) for r in rows])
                )
        assert steps == [
            (100, 1, 0, [("pending", 100), ("pending", 0)]),
            (100, 1, 0, [("pending", 200), ("pending", 0)]),
            (80, 0, 2, [("done", 250), ("done", 30)]),  # the rest of it and the next one: 80 alerts
        ]
        until = deliveries[-1][2] + timedelta(hours=1)
        harness.finish(until)
        sim = simulated(rules_dir, deliveries, until)  # type: ignore[arg-type]
        assert harness.incidents() == sim_incidents(sim)
        assert harness.alerts() == sim_alerts(sim)
    finally:
        harness.close()


def test_a_slice_ends_when_its_time_is_up_after_one_alert_at_least(database_url: str, tmp_path: Path) -> None:
    harness = Harness(database_url, write_rules(tmp_path / "rules"))
    harness.pipeline.slice_seconds = 0.0  # every alert overruns it
    try:
        start = harness.clock.now()
        raw = json.dumps(
            am_notification(
                *(am_alert(f"Svc{i}", starts_at=start.isoformat(), instance=f"s{i}:1") for i in range(5))
            )
        ).encode()
        store_delivery(harness.sessions, parse_delivery(Source.ALERTMANAGER, raw, start), raw, start)
        progress = []
        while harness.pipeline.process_pending().progressed:
            with harness.sessions() as session:
                progress.append(session.scalars(select(Intake.progress)).one())
        assert progress == [1, 2, 3, 4, 5]
        assert len(harness.incidents()) == 5
    finally:
        harness.close()


def test_a_queued_job_decides_a_large_delivery_slice_after_slice_and_what_follows_it(
    database_url: str, tmp_path: Path
) -> None:
    harness = Harness(database_url, write_rules(tmp_path / "rules"))
    harness.pipeline.slice_seconds = 0.0  # one alert per transaction: the job must go on regardless
    try:
        deliveries = large_deliveries(harness.clock.now())
        for source, raw, received_at in deliveries:
            stored = store_delivery(
                harness.sessions, parse_delivery(source, raw, received_at), raw, received_at
            )
        assert stored.intake_id is not None
        result = harness.pipeline.process_through(stored.intake_id)  # the job of the last one
        assert (result.deliveries, result.alerts, result.sliced) == (2, 280, 278)
        with harness.sessions() as session:
            assert [(r.status, r.progress) for r in session.scalars(select(Intake).order_by(Intake.id))] == [
                ("done", 250),
                ("done", 30),
            ]
    finally:
        harness.close()


def test_a_worker_keeps_no_parsed_delivery_that_another_worker_decided(
    database_url: str, tmp_path: Path
) -> None:
    """Two workers read the same pending deliveries and parse them; the one that finds them decided
    when its turn comes forgets them (kept, they piled up in every worker till PARSED_KEPT alerts
    pushed them out: tens of MB that a long run added to each worker's RSS)."""
    harness = Harness(database_url, write_rules(tmp_path / "rules"))
    try:
        at = harness.clock.now()
        ids = []
        for n in range(3):
            alert = am_alert("HostDown", starts_at=at.isoformat(), instance=f"db-{n}:9100")
            raw = json.dumps(am_notification(alert)).encode()
            stored = store_delivery(harness.sessions, parse_delivery(Source.ALERTMANAGER, raw, at), raw, at)
            assert stored.intake_id is not None
            ids.append(stored.intake_id)
        other = Pipeline(harness.sessions, harness.rules, harness.clock)
        other._parse(ids)  # it read them before this worker took its turn
        assert sorted(other._parsed) == ids
        assert harness.pipeline.process(ids).deliveries == 3
        assert other.process(ids).deliveries == 0  # decided already: nothing left to it
        assert other._parsed == {}
    finally:
        harness.close()
