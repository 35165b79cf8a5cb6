"""Order tolerance and concurrency on the production path (webhook -> Redis -> rq worker), on a
real database and a real Redis:

- every notification delivered 3 times (three Alertmanager peers, each sending in order, their
  deliveries interleaved at random) leaves exactly the incidents, alert counts and timelines of
  one ordered delivery;
- 8 processes delivering alerts of one group at once open exactly 1 incident;
- 4 timer dispatchers (threads) on 1,000 due timers of a kind registered from outside fire each
  exactly once.
"""

from __future__ import annotations

import json
import multiprocessing
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from bridge.clock import FakeClock
from bridge.db import timers
from bridge.db.models import Incident, Intake, TimelineEntry, Timer
from bridge.services.dispatch import TimerDispatcher
from bridge.web.app import create_app
from bridge.worker.runtime import Runtime
from tests.conftest import START, _truncate
from tests.support.app import AM_TOKEN, build_runtime, make_settings, write_rules
from tests.support.db import empty_database
from tests.support.payloads import am_alert, am_notification
from tests.support.production import run_queued_jobs, state

RULES = """
defaults:
  group_by: [source, host, name]
  resolve_after: 5m
  reopen_within: 1h
  priority: {critical: P1, high: P2, default: P3}
rules:
  - name: rack
    match: {name: RackDown}
    group_by: [name]
"""


def at(minutes: float) -> datetime:
    return START + timedelta(minutes=minutes)


def iso(minutes: float) -> str:
    return at(minutes).isoformat()


def fire(name: str, fp: str, start: float, **labels: str) -> dict[str, Any]:
    return am_alert(name, starts_at=iso(start), fingerprint=fp, **labels)


def resolve(name: str, fp: str, start: float, end: float, **labels: str) -> dict[str, Any]:
    return am_alert(name, status="resolved", starts_at=iso(start), ends_at=iso(end), fingerprint=fp, **labels)


# (minutes, alerts of one notification): a rack with two hosts down that recovers, resolves after
# resolve_after, and goes down again within reopen_within; a CPU alert on its own host meanwhile.
SCENARIO: list[tuple[float, list[dict[str, Any]]]] = [
    (0, [fire("RackDown", "r1", 0, instance="a:1")]),
    (1, [fire("RackDown", "r1", 0, instance="a:1"), fire("RackDown", "r2", 1, instance="b:1")]),
    (2, [fire("HighCPU", "c1", 2, instance="c:1", severity="high")]),
    (3, [resolve("RackDown", "r1", 0, 3, instance="a:1"), fire("RackDown", "r2", 1, instance="b:1")]),
    (4, [resolve("RackDown", "r1", 0, 3, instance="a:1"), resolve("RackDown", "r2", 1, 4, instance="b:1")]),
    (5, [resolve("HighCPU", "c1", 2, 5, instance="c:1", severity="high")]),
    (20, [fire("RackDown", "r1", 20, instance="a:1")]),
    (21, [fire("HighCPU", "c1", 21, instance="c:1", severity="high")]),
]


def body(alerts: list[dict[str, Any]], peer: int) -> bytes:
    notification = am_notification(*alerts)
    notification["externalURL"] = f"http://alertmanager-{peer}:9093"  # HA peers: same news, other bodies
    return json.dumps(notification).encode()


class Production:
    """bridge in production mode on a test database and Redis, fed at chosen instants."""

    def __init__(self, runtime: Runtime, clock: FakeClock) -> None:
        self.runtime = runtime
        self.clock = clock
        self.client = create_app(runtime=runtime).test_client()

    def deliver(self, when: datetime, raw: bytes) -> None:
        """A delivery at `when`; the timers due before it fire first, as a worker's tick would."""
        self.until(when - timedelta(microseconds=1))
        self.clock.set(when)
        response = self.client.post(
            "/webhooks/alertmanager",
            data=raw,
            headers={"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"},
        )
        assert response.status_code == 202, response.get_json()
        run_queued_jobs(self.runtime)

    def until(self, when: datetime) -> None:
        self.clock.set(when)
        self.runtime.timers.run_due()


def interleave(peers: list[int]) -> list[tuple[datetime, bytes]]:
    """Peer p sends the scenario in order; `peers` says whose next delivery arrives next. A
    notification's first arrival keeps its scenario time, later copies come a second after the
    previous arrival."""
    sent = Counter[int]()
    arrivals: list[tuple[datetime, bytes]] = []
    first_arrival = 0
    for peer in peers:
        index = sent[peer]
        sent[peer] += 1
        minutes, alerts = SCENARIO[index]
        if index == first_arrival:
            when = at(minutes)
            first_arrival += 1
        else:
            when = arrivals[-1][0] + timedelta(seconds=1)
        arrivals.append((when, body(alerts, peer)))
    return arrivals


@pytest.fixture
def production(database_url: str, redis_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Production]:
    runtime = build_runtime(
        make_settings(database_url, write_rules(tmp_path / "rules", RULES), redis_url=redis_url), clock
    )
    yield Production(runtime, clock)
    runtime.close()


def restart(runtime: Runtime, database_url: str) -> None:
    """An empty database whose incident numbers start at 1 again, so two runs compare by number."""
    empty_database(database_url)
    with runtime.services.db.begin() as connection:
        if runtime.services.db.dialect.name == "postgresql":
            connection.execute(text("ALTER SEQUENCE incidents_number_seq RESTART WITH 1"))
        else:
            connection.execute(text("DELETE FROM sqlite_sequence WHERE name = 'incidents'"))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(peers=st.permutations([p for p in range(3) for _ in SCENARIO]))
@example(peers=[p for p in range(3) for _ in SCENARIO])  # each peer's copies in a row: found by hypothesis
def test_every_notification_three_times_shuffled_equals_one_ordered_delivery(
    production: Production, database_url: str, peers: list[int]
) -> None:
    end = at(60)
    restart(production.runtime, database_url)
    for minutes, alerts in SCENARIO:
        production.deliver(at(minutes), body(alerts, 0))
    production.until(end)
    ordered = state(production.runtime.services.sessions)

    restart(production.runtime, database_url)
    arrivals = interleave(peers)
    for when, raw in arrivals:
        production.deliver(when, raw)
    production.until(end)
    shuffled = state(production.runtime.services.sessions)

    # The rack's incident and the CPU's, each resolved after resolve_after and then reopened.
    assert [(i[3], i[5], i[7]) for i in ordered["incidents"]] == [("open", 2, 1), ("open", 1, 1)]
    assert shuffled == ordered
    with production.runtime.services.sessions() as session:  # every copy was stored and went through
        assert session.scalar(select(func.count()).select_from(Intake).where(Intake.status == "done")) == len(
            arrivals
        )


# -- 8 processes, one group -------------------------------------------------------------------

PROCESSES = 8
PER_PROCESS = 10


def _deliver_from_a_process(
    database_url: str, rules_dir: str, worker: int, barrier: Any, groups: str, errors: Any
) -> None:
    """One web+worker process: its own engine, app and pipeline; post, then process what is pending."""
    try:
        clock = FakeClock(START)
        runtime = build_runtime(make_settings(database_url, Path(rules_dir)), clock)
        client = create_app(runtime=runtime).test_client()
        bodies = []
        for n in range(PER_PROCESS):
            instance = f"h{worker}-{n}:1"
            name = "RackDown" if groups == "one" else f"Own{worker}-{n}"
            fingerprint = ("r" if groups == "one" else "o") + f"{worker:02d}{n:013d}"
            bodies.append(body([fire(name, fingerprint, 0, instance=instance)], 0))
        barrier.wait(30)
        for raw in bodies:
            response = client.post(
                "/webhooks/alertmanager",
                data=raw,
                headers={"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"},
            )
            assert response.status_code == 202
            runtime.runner.drain()  # every process processes whatever is pending, everyone's
        runtime.close()
    except BaseException as exc:
        errors.put(f"process {worker}: {exc!r}")
        raise


def _race(database_url: str, rules_dir: Path, groups: str) -> None:
    # fork: a spawned child would import everything again (seconds each on two cores); the parent
    # holds no connection at this point, and each child builds its own engine and app.
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(PROCESSES)
    errors = context.Queue()
    processes = [
        context.Process(
            target=_deliver_from_a_process, args=(database_url, str(rules_dir), w, barrier, groups, errors)
        )
        for w in range(PROCESSES)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(90)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == []
    assert [p.exitcode for p in processes] == [0] * PROCESSES


@pytest.mark.postgres
def test_eight_processes_delivering_one_group_at_once_open_exactly_one_incident(
    postgres_database: str, tmp_path: Path
) -> None:

    _truncate(postgres_database)
    rules_dir = write_rules(tmp_path / "rules", RULES)
    _race(postgres_database, rules_dir, "one")
    runtime = build_runtime(make_settings(postgres_database, rules_dir), FakeClock(START))
    try:
        with runtime.services.sessions() as session:
            incidents = list(session.scalars(select(Incident)))
            assert len(incidents) == 1
            assert incidents[0].alert_count == PROCESSES * PER_PROCESS  # none lost to a race
            attached = session.scalar(
                select(func.count()).select_from(TimelineEntry).where(TimelineEntry.kind == "alert_attached")
            )
            assert attached == PROCESSES * PER_PROCESS
            pending = session.scalar(select(func.count()).select_from(Intake).where(Intake.status != "done"))
            assert pending == 0
        first = incidents[0].number

        # Now each process opens incidents of its own groups at once: numbers never repeat, and
        # those a losing transaction took are not handed out again.
        _race(postgres_database, rules_dir, "own")
        with runtime.services.sessions() as session:
            numbers = list(session.scalars(select(Incident.number).where(Incident.number != first)))
            last = session.scalar(text("SELECT last_value FROM incidents_number_seq"))
        assert len(numbers) == len(set(numbers)) == PROCESSES * PER_PROCESS
        assert min(numbers) > first and max(numbers) <= int(last)
    finally:
        runtime.close()


# -- 4 dispatchers, 1,000 timers ----------------------------------------------------------------


@pytest.mark.postgres
def test_four_dispatchers_fire_each_of_1000_timers_of_a_registered_kind_exactly_once(
    postgres_database: str, tmp_path: Path
) -> None:
    """The tick is generic: a kind registered by another feature (here "test-step") fires once per
    timer however many workers tick. (Group timers with 4 real worker processes: e2e.)"""

    _truncate(postgres_database)
    clock = FakeClock(START)
    runtime = build_runtime(make_settings(postgres_database, write_rules(tmp_path / "rules", RULES)), clock)
    try:
        with runtime.services.sessions() as session, session.begin():
            timers.schedule_many(
                session, {("test-step", f"s{n}"): START - timedelta(seconds=n) for n in range(1000)}
            )
        fired: list[tuple[str, datetime]] = []
        lock = threading.Lock()

        def record(session: Session, subject: str, due: datetime) -> None:
            with lock:
                fired.append((subject, due))

        barrier = threading.Barrier(4)
        counts: list[int] = []

        def tick() -> None:
            dispatcher = TimerDispatcher(runtime.services.sessions, clock)
            dispatcher.register_simple("test-step", record)
            barrier.wait()
            total = 0
            while ran := dispatcher.run_due(limit=100):
                total += ran
            counts.append(total)

        threads = [threading.Thread(target=tick) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert sorted(s for s, _ in fired) == sorted(f"s{n}" for n in range(1000))
        assert sum(counts) == 1000
        assert {s: d for s, d in fired} == {f"s{n}": START - timedelta(seconds=n) for n in range(1000)}
        with runtime.services.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Timer)) == 0
    finally:
        runtime.close()
