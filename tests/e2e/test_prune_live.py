"""A prune running while webhooks arrive over real HTTP: every webhook is answered 2xx, no delivery
is lost, and the old history still goes (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from pathlib import Path

import requests
from sqlalchemy import func, insert, select

from bridge.clock import FakeClock
from bridge.db.models import AlertRow, Intake, IntakeKey, IntakeStatus
from bridge.services.retention import PruneResult
from bridge.web.app import create_app
from tests.support.app import AM_TOKEN, build_runtime, make_settings, serving, write_rules
from tests.support.payloads import am_alert, am_notification
from tests.support.postgres import free_port

OLD_DELIVERIES = 3000
OLD_ALERTS = 1500
WEBHOOKS = 120


def test_a_prune_while_webhooks_arrive_loses_nothing_and_answers_every_one(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    settings = make_settings(
        database_url, write_rules(tmp_path / "rules"), prune_batch=50, prune_every=timedelta(0)
    )
    runtime = build_runtime(settings, clock)
    try:
        sessions = runtime.services.sessions
        postgres = runtime.services.db.dialect.name == "postgresql"
        old = clock.now() - timedelta(days=100)
        with sessions() as session, session.begin():
            keys = [
                {"dedup_key": f"old-{i}", "received_at": old + timedelta(seconds=i)}
                for i in range(OLD_DELIVERIES)
            ]
            session.execute(
                insert(Intake),
                [
                    dict(
                        key, source="alertmanager", body=b"{}" * 500, alert_count=1, status="done", attempts=1
                    )
                    for key in keys
                ],
            )
            if postgres:
                session.execute(insert(IntakeKey), keys)
            session.execute(
                insert(AlertRow),
                [
                    {
                        "fingerprint": f"old-{i}",
                        "source": "alertmanager",
                        "source_ref": str(i),
                        "name": "Old",
                        "host": "h",
                        "severity": "warning",
                        "status": "resolved",
                        "labels": {},
                        "annotations": {},
                        "starts_at": old,
                        "first_seen_at": old,
                        "last_event_at": old,
                        "rule": "default",
                        "disposition": "cleared",
                    }
                    for i in range(OLD_ALERTS)
                ],
            )
        pruned: list[PruneResult] = []
        answers: list[int] = []
        with serving(create_app(runtime=runtime), free_port(), threads=4) as url:
            prune = threading.Thread(target=lambda: pruned.append(runtime.services.pruner.run()))
            prune.start()
            with requests.Session() as http:
                for i in range(WEBHOOKS):
                    start = (clock.now() - timedelta(minutes=1)).isoformat()
                    body = am_notification(
                        am_alert(f"Live{i}", starts_at=start, fingerprint=f"live-{i}", instance=f"h{i}:1")
                    )
                    response = http.post(
                        f"{url}/webhooks/alertmanager",
                        data=json.dumps(body),
                        headers={"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"},
                        timeout=30,
                    )
                    answers.append(response.status_code)
            prune.join(120)
        assert not prune.is_alive()
        assert answers == [202] * WEBHOOKS
        runtime.runner.drain()
        with sessions() as session:
            live = session.scalars(select(Intake.status).where(~Intake.dedup_key.like("old-%"))).all()
            assert len(live) == WEBHOOKS and set(live) == {IntakeStatus.DONE}
            assert (
                session.scalar(select(func.count()).select_from(Intake).where(Intake.dedup_key.like("old-%")))
                == 0
            )
            names = set(session.scalars(select(AlertRow.name)))
            assert names == {f"Live{i}" for i in range(WEBHOOKS)}  # every live alert decided, no old one left
        (result,) = pruned
        assert {t.table: t.rows for t in result.tables}["intake"] == OLD_DELIVERIES
        assert {t.table: t.rows for t in result.tables}["alerts"] == OLD_ALERTS
    finally:
        runtime.close()
