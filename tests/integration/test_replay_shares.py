"""A stored history replayed in host shares on several processes gives exactly what one process
gives: the same figures and the same incidents in the same order and numbers, on SQLite and
PostgreSQL, with deliveries about several hosts and rows stored before host shares were kept."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, text
from sqlalchemy.exc import OperationalError

from bench.replay import stored_row
from bench.week import WEEK_START, week
from bridge.alert import Source
from bridge.db.engine import create_db_engine, make_session_factory
from bridge.db.models import Intake
from bridge.dedup.loader import load_rules_dir, load_rules_texts
from bridge.dedup.rules import RuleSet
from bridge.replay.shares import ReplaySpec, replay_stored, share_count, why_hosts_meet
from bridge.replay.trace import Recorded, stored_share
from bridge.sources import host_shard
from tests.support.paths import REPO_RULES
from tests.support.payloads import am_alert, am_notification


def store(
    url: str, deliveries: list[Recorded], *, unknown_every: int = 0, engine: Engine | None = None
) -> None:
    """Store deliveries as the intake does; every `unknown_every`-th without its host share, as
    a row stored before bridge recorded it."""
    rows = [
        {
            **stored_row(recorded),
            "dedup_key": f"test:{recorded.received_at.isoformat()}:{number}",
            **({"host_shard": None} if unknown_every and number % unknown_every == 0 else {}),
        }
        for number, recorded in enumerate(deliveries)
    ]
    writer = engine or create_db_engine(url)
    with writer.begin() as connection:
        connection.execute(insert(Intake), rows)
    if engine is None:
        writer.dispose()


def notification(at: datetime, *alerts: dict[str, object]) -> Recorded:
    return Recorded(Source.ALERTMANAGER, at, json.dumps(am_notification(*alerts)).encode())


def hosts_in_shares(count: int) -> list[str]:
    """One host name in each share of `count`, in the order of their shares."""
    found: dict[int, str] = {}
    for n in range(1000):
        found.setdefault(host_shard(f"node-{n:03d}") % count, f"node-{n:03d}")
    return [found[i] for i in range(count)]


def test_a_week_replayed_in_shares_is_the_week_replayed_on_one_process(database_url: str) -> None:
    deliveries = week(hosts=30, seed=7)
    # Notifications about several hosts at once (Alertmanager grouping by alertname) reach every share.
    for hour in range(0, 7 * 24, 5):
        at = WEEK_START + timedelta(hours=hour, minutes=7)
        firing = [
            am_alert(
                "ProbeFailed",
                starts_at=at.isoformat(),
                fingerprint=f"probe-{n}",
                instance=f"web-{n:04d}:9100",
                severity="high",
            )
            for n in (hour % 30, (hour + 7) % 30, (hour + 13) % 30)
        ]
        deliveries.append(notification(at, *firing))
        resolved = [
            dict(alert, status="resolved", endsAt=(at + timedelta(minutes=40)).isoformat())
            for alert in firing
        ]
        deliveries.append(notification(at + timedelta(minutes=40, seconds=5), *resolved))
    deliveries.sort(key=lambda d: d.received_at)
    store(database_url, deliveries, unknown_every=9)
    specs = [ReplaySpec(without_storms(load_rules_dir(REPO_RULES)), "live rules")]

    (one,) = replay_stored(database_url, specs, None, None, None, shares=1)
    (two,) = replay_stored(database_url, specs, None, None, None, shares=2)
    (three,) = replay_stored(database_url, specs, None, None, None, shares=3)

    expected = one.as_json()
    assert expected["incidents_opened"] > 50
    assert expected["deliveries"] == len(deliveries)
    assert {"host-down", "cpu-load", "watchdog", "default"} <= set(expected["rules"])
    assert expected["suppressed"]["inhibited"] > 0 and expected["suppressed"]["maintenance"] > 0
    assert two.as_json() == expected
    assert three.as_json() == expected


def test_alerts_released_in_the_same_instant_in_different_shares_keep_one_replays_order(
    database_url: str,
) -> None:
    rules = load_rules_texts(
        {
            "r.yaml": """
maintenance:
  - name: move
    match: {name: Down}
    from: 2026-11-23 01:00
    until: 2026-11-23 02:00
    timezone: UTC
"""
        }
    )
    first, second = hosts_in_shares(2)
    start = datetime(2026, 11, 23, 1, 10, tzinfo=UTC)
    # The later share's host has the earlier fingerprint: one replay releases it first.
    deliveries = [
        notification(
            start + timedelta(minutes=n),
            am_alert("Down", starts_at=start.isoformat(), fingerprint=fp, instance=f"{host}:9100"),
        )
        for n, (host, fp) in enumerate([(first, "b-later"), (second, "a-earlier")])
    ]
    store(database_url, deliveries)
    specs = [ReplaySpec(rules, "r")]
    until = datetime(2026, 11, 23, 3, tzinfo=UTC)

    (one,) = replay_stored(database_url, specs, None, None, until, shares=1)
    (two,) = replay_stored(database_url, specs, None, None, until, shares=2)

    opened = [(i["number"], i["group_key"], i["opened_at"]) for i in one.as_json()["incidents"]]
    assert [key.split("host=")[1].split(",")[0] for _, key, _ in opened] == [second, first]
    assert {at for _, _, at in opened} == {"2026-11-23T02:00:00+00:00"}
    assert two.as_json() == one.as_json()


@pytest.mark.parametrize(
    ("rules_text", "why"),
    [
        ("defaults: {group_by: [name]}", "rule default groups by name, not by host"),
        (
            "rules: [{name: merged, match: {name: X}, dedup_by: [name]}]",
            "rule merged merges alerts (dedup_by) across hosts",
        ),
        (
            "rules: [{name: down, match: {name: Down}, inhibits: {match: {severity: warning}, equal: [dc]}}]",
            "rule down inhibits alerts of other hosts (its equal: lacks host)",
        ),
    ],
)
def test_rules_that_let_hosts_meet_are_replayed_on_one_process(rules_text: str, why: str) -> None:
    specs = [ReplaySpec(load_rules_texts({"r.yaml": rules_text}), "r")]
    assert why_hosts_meet(specs[0].rules) == why
    assert share_count(specs, 10_000_000, jobs=4) == 1


def without_storms(rules: RuleSet) -> RuleSet:
    """The rules as they are but for storm correlation (which counts hosts together)."""
    return RuleSet(list(rules.rules), rules.defaults, rules.files, rules.maintenance)


def test_the_example_rules_meet_hosts_only_to_correlate_storms() -> None:
    rules = load_rules_dir(REPO_RULES)
    assert why_hosts_meet(rules) == "storm correlation counts the hosts alerting together"
    assert share_count([ReplaySpec(rules, "live rules")], 10_000_000, jobs=4) == 1


def test_the_example_rules_without_storms_keep_hosts_apart_and_short_histories_stay_on_one_process() -> None:
    specs = [ReplaySpec(without_storms(load_rules_dir(REPO_RULES)), "live rules")]
    assert why_hosts_meet(specs[0].rules) is None
    assert share_count(specs, 5_000) == 1
    assert share_count(specs, 5_000, jobs=2) == 2


def test_a_replay_reading_sqlite_leaves_the_intake_free_to_write(
    sqlite_template: Path, tmp_path: Path
) -> None:
    path = tmp_path / "bridge.db"
    shutil.copy(sqlite_template, path)
    url = f"sqlite:///{path}"
    deliveries = week(hosts=3, seed=1)
    store(url, deliveries[:-1])
    reader = create_db_engine(url, timeout=1, read_only=True)
    writer = create_db_engine(url, timeout=1)
    try:
        with make_session_factory(reader)() as session:
            history = stored_share(session, None, None, None, batch=10)
            first = next(history)  # the read transaction is open now
            store(url, deliveries[-1:], engine=writer)  # the intake writes meanwhile
            assert isinstance(first, Recorded) and first.received_at == deliveries[0].received_at
            assert sum(1 for _ in history) == len(deliveries) - 2  # its snapshot, not the new row
            with pytest.raises(OperationalError, match="readonly"):
                session.execute(text("DELETE FROM intake"))
    finally:
        reader.dispose()
        writer.dispose()
    engine = create_db_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM intake")).scalar() == len(deliveries)
    engine.dispose()
