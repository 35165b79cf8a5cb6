"""The timer tick as a dispatcher by kind: features register handlers next to the engine's group
timers; a failing handler leaves its timer due for a later tick and stops nobody else's."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from bridge.clock import FakeClock
from bridge.db import timers
from bridge.db.models import Timer
from bridge.errors import ConfigError
from bridge.services.dispatch import Fired, TimerDispatcher
from bridge.settings import Settings
from tests.conftest import START
from tests.support.app import build_runtime, make_settings, write_rules


def test_a_registered_kind_fires_beside_the_group_timers_and_a_failure_stays_due(
    database_url: str, tmp_path: Path
) -> None:
    clock = FakeClock(START)
    runtime = build_runtime(make_settings(database_url, write_rules(tmp_path / "rules")), clock)
    fired: list[tuple[str, datetime]] = []

    def escalate(session: Session, subject: str, due: datetime) -> None:
        if subject == "broken":
            raise RuntimeError("a bug in this feature")
        fired.append((subject, due))

    try:
        runtime.timers.register_simple("feature-step", escalate)
        with pytest.raises(ValueError, match="already registered"):
            runtime.timers.register_simple("feature-step", escalate)
        assert {"hold", "resolve", "release", "escalation", "feature-step"} <= runtime.timers.kinds
        with runtime.services.sessions() as session, session.begin():
            timers.schedule_many(
                session,
                {
                    ("feature-step", "17:step-2"): START + timedelta(minutes=5),
                    ("feature-step", "broken"): START + timedelta(minutes=1),
                    ("feature-step", "later"): START + timedelta(hours=1),
                    ("not-registered", "x"): START,
                },
            )
        assert runtime.timers.run_due() == 0  # nothing due yet but the unknown kind, which is left alone
        clock.advance(timedelta(minutes=10))
        assert runtime.timers.run_due() == 1
        assert fired == [("17:step-2", START + timedelta(minutes=5))]
        with runtime.services.sessions() as session:
            left = sorted((t.kind, t.subject) for t in session.scalars(select(Timer)))
        assert left == [("feature-step", "broken"), ("feature-step", "later"), ("not-registered", "x")]
        assert runtime.timers.run_due() == 0  # already fired: never twice
    finally:
        runtime.close()


def test_a_timer_set_already_due_by_another_fires_in_the_same_tick(database_url: str, tmp_path: Path) -> None:
    """As a flapping group checked at its due time sets its next check, also past: the tick that
    reached both fires both, in due order, and the pipeline matches the simulator's advance."""
    clock = FakeClock(START)
    runtime = build_runtime(make_settings(database_url, write_rules(tmp_path / "rules")), clock)
    fired: list[tuple[str, datetime]] = []

    def check(session: Session, subject: str, due: datetime) -> None:
        fired.append((subject, due))
        if subject == "first":
            timers.schedule(session, "feature-check", "second", due + timedelta(minutes=1))

    try:
        runtime.timers.register_simple("feature-check", check)
        with runtime.services.sessions() as session, session.begin():
            timers.schedule(session, "feature-check", "first", START + timedelta(minutes=1))
        clock.advance(timedelta(hours=1))
        assert runtime.timers.run_due() == 2
        assert fired == [("first", START + timedelta(minutes=1)), ("second", START + timedelta(minutes=2))]
        assert runtime.timers.run_due() == 0
    finally:
        runtime.close()


def test_the_dispatcher_ignores_kinds_nobody_registered(database_url: str, tmp_path: Path) -> None:
    clock = FakeClock(START)
    runtime = build_runtime(make_settings(database_url, write_rules(tmp_path / "rules")), clock)
    try:
        empty = TimerDispatcher(runtime.services.sessions, clock)
        assert empty.run_due() == 0
        with runtime.services.sessions() as session, session.begin():
            timers.schedule(session, "other", "s", START)
        result: list[Fired] = []
        empty.register("other", lambda subject, now: result.append(Fired.GONE) or Fired.GONE)
        assert empty.run_due() == 0 and result == [Fired.GONE]
    finally:
        runtime.close()


def test_production_settings_are_checked() -> None:
    defaults = Settings.from_env({})
    assert (defaults.redis_url, defaults.redis_timeout, defaults.sweep_grace) == (
        None,
        1.0,
        timedelta(seconds=30),
    )
    with pytest.raises(ConfigError, match="BRIDGE_SWEEP_GRACE='0': must be longer than 0"):
        Settings.from_env({"BRIDGE_SWEEP_GRACE": "0"})
    with pytest.raises(ConfigError, match="BRIDGE_REDIS_TIMEOUT='soon': must be a number"):
        Settings.from_env({"BRIDGE_REDIS_TIMEOUT": "soon"})
    with pytest.raises(ConfigError, match="must be a redis://"):
        Settings.from_env({"BRIDGE_REDIS_URL": "http://redis"})


def test_a_timer_whose_data_the_database_refuses_stops_nobody_else(database_url: str, tmp_path: Path) -> None:
    clock = FakeClock(START)
    runtime = build_runtime(make_settings(database_url, write_rules(tmp_path / "rules")), clock)
    fired: list[str] = []

    def step(session: Session, subject: str, due: datetime) -> None:
        if subject == "refused":  # the database refuses what the handler writes (NOT NULL)
            session.execute(
                text("INSERT INTO timers (kind, subject, due_at) VALUES (NULL, 'x', :due)"), {"due": due}
            )
        fired.append(subject)

    try:
        runtime.timers.register_simple("feature-step", step)
        with runtime.services.sessions() as session, session.begin():
            timers.schedule_many(
                session,
                {("feature-step", "refused"): START, ("feature-step", "fine"): START + timedelta(seconds=1)},
            )
        clock.advance(timedelta(minutes=1))
        assert runtime.timers.run_due() == 1  # it used to raise: "database unavailable", every tick
        assert fired == ["fine"]
        with runtime.services.sessions() as session:
            assert [t.subject for t in session.scalars(select(Timer))] == ["refused"]  # due still, visible
    finally:
        runtime.close()
