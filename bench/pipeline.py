"""Rules and ticketing throughput: alerts per second from stored deliveries to incidents.

Workload: the example rules; 400 Alertmanager notifications of 50 alerts each (20,000 alert
events) posted: 100 notifications bring 5,000 new alerts on 1,000 hosts, 20 minutes later the
second peer of an HA pair re-sends them (different bodies), 20 minutes after that the first peer
repeats its own byte-identical bodies (a repeat, not a redelivery: outside the intake's
one-minute window, so stored and decided again, as a repeat is news for heartbeats), and 100
notifications resolve them: 400 stored deliveries, 20,000 alert events, the repeats decided as
duplicates by the engine. Timed: the pipeline
draining the log, in batches as the worker does, committing each batch; with the example rota
as in production (each new incident gets an owner, deadlines, timers and its registration
rows), or without it (`--no-duty`).

    python -m bench.pipeline --db sqlite|postgres|postgresql://... [--rounds 3] [--no-duty]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from bench.common import REPO, database_argument, fresh_database, report
from bridge.alert import Source
from bridge.clock import FakeClock
from bridge.db.engine import create_db_engine, make_session_factory
from bridge.db.intake import store_delivery
from bridge.integrations.channels import WebhookChannel
from bridge.services.duty import Duty
from bridge.services.live import LiveRota, LiveRules
from bridge.services.notifications import Notifier, Templates
from bridge.services.pipeline import Pipeline
from bridge.sources import parse_delivery

NAMES = [
    ("HostDown", "critical"),
    ("NodeFilesystemAlmostOutOfSpace", "warning"),
    ("NodeHighCPU", "high"),
    ("NodeMemoryHigh", "warning"),
    ("Chatter", "info"),
]
T0 = datetime(2026, 11, 22, tzinfo=UTC)


def notifications() -> list[tuple[datetime, bytes]]:
    alerts = []
    for h in range(1000):
        for n, (name, severity) in enumerate(NAMES):
            alerts.append(
                {
                    "status": "firing",
                    "fingerprint": f"{h:04d}{n:012d}",
                    "labels": {
                        "alertname": name,
                        "instance": f"host-{h:04d}:9100",
                        "severity": severity,
                        "job": "node",
                    },
                    "annotations": {"summary": f"{name} on host-{h:04d}"},
                    "startsAt": (T0 + timedelta(seconds=h)).isoformat(),
                    "endsAt": "0001-01-01T00:00:00Z",
                    "generatorURL": "http://prometheus/graph",
                }
            )
    batches = [alerts[i : i + 50] for i in range(0, len(alerts), 50)]
    result = []
    for round_, status in ((0, "firing"), (1, "firing"), (2, "firing"), (3, "resolved")):
        for i, batch in enumerate(batches):
            body = [
                dict(a, status=status, endsAt=(T0 + timedelta(hours=1)).isoformat())
                if status == "resolved"
                else a
                for a in batch
            ]
            received = T0 + timedelta(minutes=20 * round_, seconds=i)
            peer = f"http://alertmanager-{round_ % 2}:9093"  # HA peers: same alerts, different bodies
            result.append(
                (
                    received,
                    json.dumps(
                        {
                            "version": "4",
                            "status": status,
                            "alerts": body,
                            "receiver": "bridge",
                            "groupKey": str(i),
                            "externalURL": peer,
                        }
                    ).encode(),
                )
            )
    return result


def duty_hooks(sessions: sessionmaker[Session], clock: FakeClock) -> Duty:
    """The rota's hooks as `bridge serve` wires them (no mail or Telegram configured)."""
    notifier = Notifier(sessions, clock, [WebhookChannel()], Templates())
    return Duty(LiveRota(REPO / "rules", ZoneInfo("UTC")), notifier, None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    database_argument(parser)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-duty", action="store_true", help="without the rota's hooks")
    args = parser.parse_args()
    deliveries = notifications()
    rates = []
    incidents = 0
    for _ in range(args.rounds):
        with fresh_database(args.db) as url:
            engine = create_db_engine(url)
            sessions = make_session_factory(engine)
            for received, raw in deliveries:
                store_delivery(sessions, parse_delivery(Source.ALERTMANAGER, raw, received), raw, received)
            clock = FakeClock(T0)
            hooks = None if args.no_duty else duty_hooks(sessions, clock)
            pipeline = Pipeline(sessions, LiveRules(REPO / "rules"), clock, hooks=hooks)
            started = time.perf_counter()
            alerts = 0
            while (result := pipeline.process_pending(limit=20)).progressed:  # a slice counts too
                alerts += result.alerts
            elapsed = time.perf_counter() - started
            rates.append(alerts / elapsed)
            with engine.connect() as connection:
                incidents = connection.exec_driver_sql("SELECT count(*) FROM incidents").scalar_one()
            engine.dispose()
    report(
        "pipeline",
        f"{args.db.split('@')[-1]}: 400 stored notifications x 50 alerts (5,000 new, 10,000 "
        f"repeats from two HA peers, 5,000 resolutions; HostDown inhibits 3 of each host's 5), "
        f"example rules, "
        f"{'no rota' if args.no_duty else 'example rota'}, batches of 20 notifications, "
        f"median of {args.rounds}",
        {"alert_events": alerts, "alerts_per_s": round(statistics.median(rates)), "incidents": incidents},
    )


if __name__ == "__main__":
    main()
