"""Webhooks over real HTTP while the intake log's partitions rotate (PostgreSQL): the current week
has no partition yet (created on demand by the first webhook, or ahead by the prune, whichever
comes first) while a prune detaches and drops the expired weeks. Every webhook is answered 2xx
and every delivery is stored and decided; the old weeks are gone."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, insert, select, text

from bridge.clock import FakeClock
from bridge.db import retention
from bridge.db.models import Intake, IntakeKey, IntakeStatus
from bridge.services.retention import PruneResult
from bridge.web.app import create_app
from tests.support.app import AM_TOKEN, build_runtime, make_settings, serving, write_rules
from tests.support.payloads import am_alert, am_notification
from tests.support.postgres import free_port

LATER = datetime(2027, 3, 3, 10, tzinfo=UTC)  # past the weeks the test database has
OLD_WEEKS = 6
PER_WEEK = 200
SENDERS = 4
PER_SENDER = 30


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_webhooks_while_weeks_are_created_and_detached_are_all_answered_and_stored(
    database_url: str, tmp_path: Path
) -> None:
    clock = FakeClock(LATER)
    settings = make_settings(
        database_url, write_rules(tmp_path / "rules"), prune_batch=50, prune_every=timedelta(0)
    )
    runtime = build_runtime(settings, clock)
    try:
        sessions = runtime.services.sessions
        first_old = retention.week_start(LATER - timedelta(days=100))
        with sessions() as session, session.begin():
            assert retention.partition_name(retention.week_start(LATER)) not in {
                p.name for p in retention.partitions(session)
            }
            for week in range(OLD_WEEKS):
                start = first_old + week * retention.WEEK
                keys = [
                    {"dedup_key": f"old-{week}-{i}", "received_at": start + timedelta(minutes=i)}
                    for i in range(PER_WEEK)
                ]
                session.execute(
                    insert(Intake),
                    [
                        dict(k, source="alertmanager", body=b"{}", alert_count=1, status="done", attempts=1)
                        for k in keys
                    ],
                )
                session.execute(insert(IntakeKey), keys)
        pruned: list[PruneResult] = []
        answers: list[int] = []
        lock = threading.Lock()
        first_answered = threading.Event()

        def sender(n: int, url: str) -> None:
            with requests.Session() as http:
                for i in range(PER_SENDER):
                    start = (clock.now() - timedelta(minutes=1)).isoformat()
                    alert = am_alert(
                        f"Live{n}x{i}", starts_at=start, fingerprint=f"live-{n}-{i}", instance=f"h{n}:{i}"
                    )
                    response = http.post(
                        f"{url}/webhooks/alertmanager",
                        data=json.dumps(am_notification(alert)),
                        headers={"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"},
                        timeout=30,
                    )
                    with lock:
                        answers.append(response.status_code)
                    first_answered.set()

        with serving(create_app(runtime=runtime), free_port(), threads=4) as url:
            senders = [threading.Thread(target=sender, args=(n, url)) for n in range(SENDERS)]
            for thread in senders:
                thread.start()
            first_answered.wait(30)
            prune = threading.Thread(target=lambda: pruned.append(runtime.services.pruner.run()))
            prune.start()
            for thread in senders:
                thread.join(120)
            prune.join(120)
        assert not prune.is_alive()
        assert answers == [202] * (SENDERS * PER_SENDER)
        runtime.runner.drain()
        with sessions() as session:
            live = session.scalars(select(Intake.status).where(Intake.dedup_key.not_like("old-%"))).all()
            assert len(live) == SENDERS * PER_SENDER and set(live) == {IntakeStatus.DONE}
            assert session.scalar(select(func.count()).where(Intake.dedup_key.like("old-%"))) == 0
            assert retention.detach_pending(session) == [] and retention.detached(session) == []
            assert retention.partition_name(retention.week_start(LATER)) in {
                p.name for p in retention.partitions(session)
            }
            left = set(session.scalars(text("SELECT relname FROM pg_class WHERE relname LIKE 'intake_w%'")))
            assert (
                not {retention.partition_name(first_old + w * retention.WEEK) for w in range(OLD_WEEKS)}
                & left
            )
        (result,) = pruned
        assert result.finished
        assert {t.table: t.rows for t in result.tables}["intake"] >= OLD_WEEKS * PER_WEEK
    finally:
        runtime.close()
