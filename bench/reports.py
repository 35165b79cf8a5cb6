"""Report speed: the noise report and the proactive share of a month on a large database.

Workload: a month of a big estate written straight into the tables (setup, not timed): ALERTS
distinct alerts (fingerprints) over 2,000 hosts and 300 alert names, in every disposition, their
deliveries in the intake log (3 per alert: fired, re-sent, resolved), INCIDENTS incidents (a
tenth opened by hand) with an acknowledgement each on the timeline, and 3 pages per incident
(registration, escalation, by e-mail and Telegram: 6 notification rows). Then the month's noise
report and proactive share are computed as the API computes them, ROUNDS times each; the median
is reported.

    python -m bench.reports [--db sqlite|postgres|URL] [--alerts 200000] [--incidents 20000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from bench.common import database_argument, fresh_database, report
from bridge.db.engine import create_db_engine, make_session_factory
from bridge.db.models import AlertRow, Incident, Intake, Notification, TimelineEntry
from bridge.dedup.state import Disposition
from bridge.services.noise import noise_report
from bridge.services.proactive import proactive_report
from bridge.ticketing.report_settings import DEFAULT_NIGHT

START = datetime(2026, 11, 1, tzinfo=UTC)
MONTH = timedelta(days=30)
DISPOSITIONS = [
    (Disposition.INCIDENT, "", None),
    (Disposition.DROPPED, "dropped by rule drop-info", None),
    (Disposition.CLEARED, "resolved before opening an incident (for 5m: firing since x, opens at y)", None),
    (Disposition.CLEARED, "resolved before opening an incident (threshold 1 of 3 within 15m)", None),
    (Disposition.SUPPRESSED, "in maintenance db-nightly until x", "maintenance:db-nightly"),
    (Disposition.SUPPRESSED, "silenced by admin until x", "silence:3"),
    (Disposition.INHIBITED, "inhibited by HostDown on x", "inhibit:abc"),
    (Disposition.WAITING, "waiting: for 10m: firing since x", None),
]


def _chunks(rows: list[dict[str, Any]], size: int = 10000) -> list[list[dict[str, Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]


def populate(url: str, alerts: int, incidents: int) -> None:
    rng = random.Random(7)
    engine = create_db_engine(url)
    incident_rows, timeline, notifications = [], [], []
    for number in range(1, incidents + 1):
        opened = START + timedelta(seconds=rng.randrange(int(MONTH.total_seconds())))
        manual = number % 10 == 0
        resolved = opened + timedelta(minutes=rng.randrange(5, 600)) if rng.random() < 0.9 else None
        incident_rows.append(
            {
                "number": number,
                "title": f"incident {number}",
                "priority": rng.choice(["P1", "P2", "P3", "P3", "P4"]),
                "rule": None if manual else f"rule-{number % 40}",
                "client": rng.choice(["retail", "bank", "logistics", None]),
                "first_alert_at": None if manual else opened - timedelta(minutes=5),
                "opened_at": opened,
                "resolved_at": resolved,
                "updated_at": opened,
                "status": "resolved" if resolved else "open",
            }
        )
        person = f"person-{number % 12}"
        timeline.append(
            {
                "incident_number": number,
                "at": opened + timedelta(minutes=rng.randrange(1, 60)),
                "actor": person,
                "kind": "acknowledged",
                "text": "acknowledged",
            }
        )
        for minutes, kind in ((0, "registration"), (15, "escalation"), (30, "escalation")):
            for channel in ("email", "telegram"):
                notifications.append(
                    {
                        "incident_number": number,
                        "person": person,
                        "channel": channel,
                        "address": "x",
                        "kind": kind,
                        "subject": "s",
                        "body": "b",
                        "next_attempt_at": opened,
                        "created_at": opened + timedelta(minutes=minutes),
                    }
                )
    alert_rows, intake_rows = [], []
    for n in range(alerts):
        disposition, reason, suppressed_by = DISPOSITIONS[n % len(DISPOSITIONS)]
        seen = START + timedelta(seconds=rng.randrange(int(MONTH.total_seconds()) - 3600))
        alert_rows.append(
            {
                "fingerprint": f"alertmanager:{n:016x}",
                "source": "alertmanager" if n % 3 else "zabbix",
                "source_ref": str(n),
                "name": f"Alert{n % 300}",
                "host": f"host-{n % 2000}",
                "severity": "warning",
                "status": "resolved",
                "labels": {},
                "annotations": {},
                "starts_at": seen,
                "first_seen_at": seen,
                "last_event_at": seen + timedelta(minutes=10),
                "rule": f"rule-{n % 40}",
                "disposition": disposition.value,
                "reason": reason,
                "suppressed_by": suppressed_by,
                "incident_number": (n % incidents) + 1 if disposition is Disposition.INCIDENT else None,
                "occurrences": 1 + n % 4,
            }
        )
        for k in range(3):
            intake_rows.append(
                {
                    "source": "alertmanager" if n % 3 else "zabbix",
                    "dedup_key": f"bench:{n}:{k}",
                    "received_at": seen + timedelta(minutes=5 * k),
                    "body": b"{}",
                    "alert_count": 1,
                    "status": "done",
                }
            )
    with engine.begin() as connection:
        for model, rows in (
            (Incident, incident_rows),
            (TimelineEntry, timeline),
            (Notification, notifications),
            (AlertRow, alert_rows),
            (Intake, intake_rows),
        ):
            for chunk in _chunks(rows):
                connection.execute(insert(model), chunk)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    database_argument(parser)
    parser.add_argument("--alerts", type=int, default=200_000)
    parser.add_argument("--incidents", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with fresh_database(args.db) as url:
        populate(url, args.alerts, args.incidents)
        engine = create_db_engine(url)
        sessions = make_session_factory(engine)
        timings: dict[str, list[float]] = {"noise": [], "proactive": []}
        for _ in range(args.rounds):
            with sessions() as session:
                began = time.perf_counter()
                noise = noise_report(
                    session, START, START + MONTH, None, ZoneInfo("Europe/Moscow"), DEFAULT_NIGHT
                )
                timings["noise"].append(time.perf_counter() - began)
                began = time.perf_counter()
                proactive = proactive_report(session, START, START + MONTH, None)
                timings["proactive"].append(time.perf_counter() - began)
        engine.dispose()
    assert (
        noise.alerts == args.alerts
        and proactive.total.monitoring + proactive.total.reported_by_people == args.incidents
    )
    report(
        "reports",
        f"a month: {args.alerts} alerts, {3 * args.alerts} deliveries, {args.incidents} incidents, "
        f"{6 * args.incidents} notifications, on {args.db.split('://')[0]}",
        {
            "noise_seconds": round(statistics.median(timings["noise"]), 3),
            "proactive_seconds": round(statistics.median(timings["proactive"]), 3),
        },
    )


if __name__ == "__main__":
    main()
