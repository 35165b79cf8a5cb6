"""A replay whose log is read and parsed by a second process (rules that let hosts meet keep the
deciding on one) gives exactly what one process gives: the same report, byte for byte, and the
same JSON, on SQLite and PostgreSQL, with the example rules' storms, deliveries about several
hosts, Zabbix updates and a stored body that no longer parses."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from bench.week import WEEK_START, week
from bridge.db.engine import create_db_engine
from bridge.db.models import Intake
from bridge.dedup.loader import load_rules_dir
from bridge.errors import ShareFailed
from bridge.replay import shares
from bridge.replay.shares import ReplaySpec, reads_aside, replay_stored, why_hosts_meet
from bridge.replay.text import render
from tests.integration.test_replay_shares import notification, store
from tests.support.paths import REPO_RULES
from tests.support.payloads import am_alert


def test_a_week_read_aside_is_the_week_replayed_on_one_process(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    deliveries = week(hosts=30, seed=3)
    for hour in range(0, 7 * 24, 3):  # a core switch's storm every few hours: many hosts at once
        at = WEEK_START + timedelta(hours=hour, minutes=11)
        deliveries.append(
            notification(
                at,
                *(
                    am_alert(
                        "InstanceDown",
                        starts_at=at.isoformat(),
                        fingerprint=f"down-{hour}-{n}",
                        instance=f"node-{n:03d}:9100",
                        severity="critical",
                    )
                    for n in range(hour % 7, 30, 3)
                ),
            )
        )
    deliveries.sort(key=lambda d: d.received_at)
    store(database_url, deliveries, unknown_every=11)
    writer = create_db_engine(database_url)
    with writer.begin() as connection:  # a body a later parser no longer reads
        connection.execute(
            update(Intake).where(Intake.id == 5).values(body=b'{"version": "3", "alerts": []}')
        )
    writer.dispose()
    rules = load_rules_dir(REPO_RULES)
    assert why_hosts_meet(rules) is not None  # the example rules correlate storms
    specs = [ReplaySpec(rules, "live rules"), ReplaySpec(rules, "again")]
    monkeypatch.setattr(shares, "READ_CHUNK", 7)  # many chunks, one ending short
    until = WEEK_START + timedelta(days=8)

    alone = replay_stored(database_url, specs, None, None, until, shares=1)
    aside = replay_stored(database_url, specs, None, None, until, shares=1, read_aside=True)

    expected = alone[0].as_json()
    assert expected["unreadable"] == 1 and expected["incidents_opened"] > 50
    assert [s.as_json() for s in aside] == [s.as_json() for s in alone]
    assert render(aside[0], aside[1], 10_000) == render(alone[0], alone[1], 10_000)
    assert json.dumps(expected)  # what --json prints


def test_a_reader_that_fails_says_why(tmp_path: Path) -> None:
    path = tmp_path / "bridge.db"
    path.write_bytes(b"not a database, though it is a file" * 100)
    specs = [ReplaySpec(load_rules_dir(REPO_RULES), "live rules")]

    with pytest.raises(ShareFailed, match=r"bridge-replay-reader failed: .*DatabaseError"):
        replay_stored(f"sqlite:///{path}", specs, None, None, None, shares=1, read_aside=True)


def test_a_long_history_under_rules_that_let_hosts_meet_is_read_aside(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(shares.os, "cpu_count", lambda: 2)
    assert reads_aside(1, 1_000_000)
    assert not reads_aside(1, 1_000_000, jobs=1)  # one process, as asked
    assert not reads_aside(2, 1_000_000)  # shares read their own
    assert not reads_aside(1, 100)  # not worth a second process
