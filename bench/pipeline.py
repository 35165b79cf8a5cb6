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
        [--workload ha|storm|unique] [--events N] [--batch-alerts 500] [--profile FILE]

`--workload storm|unique` drains bench.stormscale's deliveries instead (its rules, with
bench/rules/stormscale): `storm`, `--events` alert events of its dedup-heavy storm (5,000
alerts in 100 groups of 50 re-sent round after round, the last resolving); `unique`, `--events`
alerts each opening its own incident. The line also has the CPU seconds of this process
(`cpu_s`: the pipeline's Python side; PostgreSQL's is not counted); `--profile FILE` writes a
cProfile of the last round's draining.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from bench.common import NAMES, REPO, database_argument, fresh_database, report
from bench.stormscale import bench_rules, storm_bodies, unique_bodies
from bridge.alert import Source
from bridge.clock import FakeClock
from bridge.db.engine import create_db_engine, make_session_factory
from bridge.db.intake import store_delivery
from bridge.integrations.channels import WebhookChannel
from bridge.services.duty import Duty
from bridge.services.live import LiveRota, LiveRules
from bridge.services.notifications import Notifier, Templates
from bridge.services.pipeline import BATCH_ALERTS, Pipeline
from bridge.sources import parse_delivery

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


def stormscale_notifications(workload: str, events: int) -> list[tuple[datetime, bytes]]:
    """bench.stormscale's bodies, received one a second apart."""
    bodies = storm_bodies(events) if workload == "storm" else unique_bodies(events)
    return [(T0 + timedelta(seconds=i), body) for i, body in enumerate(bodies)]


@contextlib.contextmanager
def rules_for(workload: str) -> Iterator[Path]:
    if workload == "ha":
        yield REPO / "rules"
        return
    with bench_rules() as rules:
        yield rules


WORKLOADS = {
    "ha": "400 stored notifications x 50 alerts (5,000 new, 10,000 repeats from two HA peers, 5,000 "
    "resolutions; HostDown inhibits 3 of each host's 5), example rules",
    "storm": "{events:,} alert events of bench.stormscale's dedup-heavy storm (5,000 alerts in 100 groups "
    "of 50 re-sent round after round, the last resolving), its rules",
    "unique": "{events:,} alerts each opening its own incident (bench.stormscale's BenchPage), its rules",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    database_argument(parser)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-duty", action="store_true", help="without the rota's hooks")
    parser.add_argument("--workload", choices=sorted(WORKLOADS), default="ha")
    parser.add_argument("--events", type=int, default=20_000, help="alert events (storm, unique)")
    parser.add_argument("--profile", help="write a cProfile of the last round's draining here")
    parser.add_argument(
        "--batch-alerts",
        type=int,
        help="alerts per transaction at most (default: the pipeline's, BATCH_ALERTS of the database's kind)",
    )
    args = parser.parse_args()
    if args.batch_alerts is None:
        args.batch_alerts = BATCH_ALERTS["sqlite" if args.db == "sqlite" else "postgresql"]
    deliveries = (
        notifications() if args.workload == "ha" else stormscale_notifications(args.workload, args.events)
    )
    rates = []
    cpu = []
    incidents = 0
    for round_ in range(args.rounds):
        with fresh_database(args.db) as url, rules_for(args.workload) as rules_dir:
            engine = create_db_engine(url)
            sessions = make_session_factory(engine)
            for received, raw in deliveries:
                store_delivery(sessions, parse_delivery(Source.ALERTMANAGER, raw, received), raw, received)
            clock = FakeClock(T0)
            hooks = None if args.no_duty else duty_hooks(sessions, clock)
            pipeline = Pipeline(sessions, LiveRules(rules_dir), clock, hooks=hooks)
            profile = cProfile.Profile() if args.profile and round_ == args.rounds - 1 else None
            started, cpu_started = time.perf_counter(), time.process_time()
            if profile is not None:
                profile.enable()
            alerts = 0
            limit = max(20, args.batch_alerts // 50)  # notifications per batch (50 alerts each)
            while (result := pipeline.process_pending(limit, args.batch_alerts)).progressed:  # a slice counts
                alerts += result.alerts
            if profile is not None:
                profile.disable()
                profile.dump_stats(args.profile)
            elapsed = time.perf_counter() - started
            cpu.append(time.process_time() - cpu_started)
            rates.append(alerts / elapsed)
            with engine.connect() as connection:
                incidents = connection.exec_driver_sql("SELECT count(*) FROM incidents").scalar_one()
            engine.dispose()
    report(
        "pipeline",
        f"{args.db.split('@')[-1]}: {WORKLOADS[args.workload].format(events=args.events)}, "
        f"{'no rota' if args.no_duty else 'example rota'}, batches of {args.batch_alerts} alerts at most, "
        f"median of {args.rounds}",
        {
            "alert_events": alerts,
            "alerts_per_s": round(statistics.median(rates)),
            "cpu_s": round(statistics.median(cpu), 2),
            "incidents": incidents,
        },
    )


if __name__ == "__main__":
    main()
