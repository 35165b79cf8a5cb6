"""Growth: a year of a desk on PostgreSQL at a compressed clock, pruned as configured.

Workload: `--days` simulated days (default 365) ending today, `--alerts-per-day` alert events a
day (default 200,000; every 14th day a storm of 5 times that) in Alertmanager notifications of
`--per-delivery` alerts. Each day's rows go in bulk, shaped as bridge stores them: the intake
deliveries with real JSON bodies and their keys by COPY (the bodies are made once, a day's worth,
and stamped with each day's number; a storm day repeats them every 20,000), one alert row per
new condition (2% of the events; 1 in 100 still firing), an incident for 1 in 10 of those with
6 timeline entries, its alerts, 3 sent notifications and an outbox job, closed the same day. At
the end of each day the prune runs as the periodic job does (clock at the day's end, the default
retention: intake 30d, alerts 90d, notifications and outbox 90d), creating weeks ahead and
detaching expired ones.

Then bridge takes 10-alert webhooks from 4 clients at `--rate` a second in all (default 20: 200
alerts a second, 17 times a storm day's average): with `--mode production` (the default, as
docs/deployment.md runs it) `bridge serve` stores and enqueues on a Redis of the bench's own and
`--workers` `bridge worker` processes decide; with `--mode embedded`, `bridge serve` decides in
its own process (its web threads then share one GIL with the deciding). First for `--seconds`
without a prune, then while a prune of `--prune-days` days' worth (the clock moved on; for at most
`--prune-budget` seconds, as the periodic job) runs in a
process of its own. Around the quiet phase: the CPU of the serve process and of the workers,
PostgreSQL's CPU (a throwaway durable cluster of its own, so nothing else counts), WAL bytes
(pg_current_wal_lsn) and database growth, per alert.

    python -m bench.growth [--days 365] [--alerts-per-day 200000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert, text

from bench.common import report, serve_env
from bridge.clock import FakeClock
from bridge.db.engine import create_db_engine, make_session_factory
from bridge.db.migrate import upgrade
from bridge.db.models import (
    AlertRow,
    Incident,
    IncidentAlert,
    Notification,
    OutboxJob,
    TimelineEntry,
)
from bridge.services.retention import Pruner, Retention
from bridge.settings import normalize_database_url
from tests.support.postgres import cluster, free_port
from tests.support.redis import throwaway_redis

TOKEN = "bench-growth-token"  # noqa: S105  (a throwaway token of a throwaway server)
KEEP = Retention(intake=timedelta(days=30), alerts=timedelta(days=90), delivered=timedelta(days=90))
TABLES = (
    "intake",
    "intake_keys",
    "alerts",
    "incidents",
    "timeline",
    "incident_alerts",
    "notifications",
    "outbox",
)
FOREVER = ("incidents", "timeline", "incident_alerts", "alert_tallies")
NAMES = [("NodeHighCPU", "warning"), ("NodeFilesystemAlmostOutOfSpace", "warning"), ("HostDown", "critical")]


def am_body(day: int, n: int, size: int, at: datetime) -> bytes:
    alerts = [
        {
            "status": "firing",
            "labels": {
                "alertname": NAMES[i % 3][0],
                "instance": f"node-{(n * size + i) % 5000:04d}.dc1.example.net:9100",
                "job": "node",
                "severity": NAMES[i % 3][1],
                "team": "infra",
                "client": f"client-{i % 12}",
            },
            "annotations": {
                "summary": f"{NAMES[i % 3][0]} on node-{(n * size + i) % 5000:04d}",
                "description": "Filesystem on /var at node is predicted to run out of space within 24 hours.",
            },
            "startsAt": at.isoformat(),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.dc1.example.net:9090/graph?g0.expr=up&g0.tab=1",
            "fingerprint": f"{day:04d}{n:08d}{i:04d}",
        }
        for i in range(size)
    ]
    body = {
        "version": "4",
        "groupKey": '{}:{alertname="NodeHighCPU"}',
        "status": "firing",
        "receiver": "bridge",
        "groupLabels": {"alertname": "NodeHighCPU"},
        "commonLabels": {"job": "node"},
        "externalURL": "http://alertmanager.dc1.example.net:9093",
        "alerts": alerts,
    }
    return json.dumps(body).encode()


TEMPLATE_DAY = 9999
TEMPLATES = 20_000
"""Bodies are made once (a day's worth of distinct ones, with a placeholder for the day) and
COPYed with each day's number and times put in; a storm day repeats them every 20,000."""
_templates: dict[int, list[bytes]] = {}


def body_template(n: int, per_delivery: int) -> bytes:
    bodies = _templates.setdefault(per_delivery, [])
    while len(bodies) <= n % TEMPLATES:
        bodies.append(am_body(TEMPLATE_DAY, len(bodies), per_delivery, datetime(2026, 1, 1, tzinfo=UTC)))
    return bodies[n % TEMPLATES]


INTAKE_COPY = (
    "COPY intake (source, dedup_key, received_at, body, alert_count, status, attempts, progress, "
    "processed_at) FROM STDIN"
)


def copy_intake(
    engine: Engine, day: int, start: datetime, step: timedelta, deliveries: int, per_delivery: int
) -> None:
    """A day's deliveries and their keys, by COPY (what `bridge serve` would have stored, in bulk)."""
    stamp = b"%04d" % day
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        assert connection is not None
        with connection.cursor() as cursor:
            with cursor.copy(INTAKE_COPY) as copy:
                for n in range(deliveries):
                    at = start + step * n
                    body = body_template(n, per_delivery).replace(b"%04d" % TEMPLATE_DAY, stamp)
                    copy.write_row(
                        (
                            "alertmanager",
                            f"am:{day}:{n}",
                            at,
                            body,
                            per_delivery,
                            "done",
                            1,
                            per_delivery,
                            at + timedelta(milliseconds=40),
                        )
                    )
            with cursor.copy("COPY intake_keys (dedup_key, received_at) FROM STDIN") as copy:
                for n in range(deliveries):
                    copy.write_row((f"am:{day}:{n}", start + step * n))
        raw.commit()
    finally:
        raw.close()


@dataclass
class Day:
    deliveries: int
    alert_rows: int
    incidents: int


def day_shape(day: int, per_day: int, per_delivery: int) -> Day:
    events = per_day * (5 if day % 14 == 13 else 1)
    new = max(1, events // 50)
    return Day(max(1, events // per_delivery), new, max(1, new // 10))


def insert_day(
    engine: Engine, day: int, start: datetime, shape: Day, per_delivery: int, next_number: int
) -> int:
    """One day's rows, in bulk, as bridge stores them; returns the next incident number."""
    step = timedelta(days=1) / shape.deliveries
    copy_intake(engine, day, start, step, shape.deliveries, per_delivery)
    with engine.begin() as connection:
        end = start + timedelta(hours=20)
        incidents, timeline, members, notes, jobs = [], [], [], [], []
        for k in range(shape.incidents):
            number = next_number + k
            opened = start + timedelta(minutes=7 * k % 1200)
            incidents.append(
                {
                    "number": number,
                    "title": f"NodeHighCPU on node-{k:04d}",
                    "status": "closed",
                    "priority": "P3",
                    "group_key": f"alertmanager|node-{k:04d}|NodeHighCPU|{day}",
                    "rule": "default",
                    "source": "alertmanager",
                    "host": f"node-{k:04d}",
                    "alert_count": 1,
                    "occurrence_count": 3,
                    "first_alert_at": opened,
                    "last_alert_at": opened,
                    "opened_at": opened,
                    "acknowledged_at": opened + timedelta(minutes=4),
                    "resolved_at": opened + timedelta(minutes=50),
                    "closed_at": end,
                    "updated_at": end,
                    "client": f"client-{k % 12}",
                    "assignee": "ivan",
                    "policy": "default",
                    "ack_due_at": opened + timedelta(minutes=15),
                    "resolve_due_at": opened + timedelta(hours=4),
                }
            )
            for j, kind in enumerate(("opened", "notified", "acknowledged", "comment", "resolved", "closed")):
                timeline.append(
                    {
                        "incident_number": number,
                        "at": opened + timedelta(minutes=j),
                        "actor": "ivan",
                        "kind": kind,
                        "text": f"{kind} by the duty engineer",
                        "fingerprint": None,
                    }
                )
            members.append(
                {
                    "incident_number": number,
                    "fingerprint": f"am:{day}:{k}",
                    "first_attached_at": opened,
                    "last_attached_at": opened,
                    "occurrences": 3,
                    "role": "member",
                }
            )
            for j in range(3):
                notes.append(
                    {
                        "incident_number": number,
                        "person": "ivan",
                        "channel": "email",
                        "address": "ivan@example.com",
                        "kind": "registration",
                        "subject": f"INC-{number} registered",
                        "body": "Incident registered, responsible: Ivan, deadline in 4h.\n" * 4,
                        "status": "sent",
                        "attempts": 1,
                        "next_attempt_at": opened,
                        "created_at": opened,
                        "sent_at": opened + timedelta(seconds=j),
                    }
                )
            jobs.append(
                {
                    "kind": "alertmanager.silence",
                    "incident_number": number,
                    "payload": {"fingerprint": f"am:{day}:{k}"},
                    "status": "done",
                    "attempts": 1,
                    "next_attempt_at": opened,
                    "created_at": opened,
                    "done_at": opened,
                }
            )
        connection.execute(insert(Incident), incidents)
        alerts = []
        for a in range(shape.alert_rows):
            seen = start + timedelta(minutes=a * 1440 // shape.alert_rows)
            incident = next_number + a if a < shape.incidents else None
            alerts.append(
                {
                    "fingerprint": f"am:{day}:{a}",
                    "source": "alertmanager",
                    "source_ref": f"{day:04d}{a:012d}",
                    "name": NAMES[a % 3][0],
                    "host": f"node-{a % 5000:04d}",
                    "severity": NAMES[a % 3][1],
                    "status": "firing" if a % 100 == 99 else "resolved",
                    "labels": {
                        "alertname": NAMES[a % 3][0],
                        "instance": f"node-{a % 5000:04d}:9100",
                        "job": "node",
                        "client": f"client-{a % 12}",
                    },
                    "annotations": {"summary": "High CPU", "description": "CPU above 90% for 10 minutes"},
                    "url": "http://prometheus.dc1.example.net:9090/graph",
                    "starts_at": seen,
                    "ends_at": seen + timedelta(minutes=30),
                    "first_seen_at": seen,
                    "last_event_at": seen + timedelta(minutes=30),
                    "rule": "default" if incident else ("drop-info" if a % 3 else "maintenance"),
                    "group_key": f"alertmanager|node-{a % 5000:04d}|{NAMES[a % 3][0]}",
                    "disposition": "incident" if incident else ("cleared" if a % 3 else "suppressed"),
                    "reason": "opened an incident" if incident else "resolved before it opened an incident",
                    "incident_number": incident,
                    "occurrences": 1 + a % 4,
                    "members": [],
                }
            )
        connection.execute(insert(AlertRow), alerts)
        connection.execute(insert(TimelineEntry), timeline)
        connection.execute(insert(IncidentAlert), members)
        connection.execute(insert(Notification), notes)
        connection.execute(insert(OutboxJob), jobs)
    return next_number + shape.incidents


def sizes(engine: Engine) -> dict[str, int]:
    with engine.connect() as connection:
        found = {
            table: int(connection.scalar(text(f"SELECT pg_total_relation_size('{table}')")) or 0)
            for table in (*TABLES, "alert_tallies")
            if table != "intake"
        }
        found["intake"] = int(
            connection.scalar(
                text(
                    "SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits "
                    "WHERE inhparent = 'intake'::regclass"
                )
            )
            or 0
        )
        found["database"] = int(connection.scalar(text("SELECT pg_database_size(current_database())")) or 0)
    return found


def wal(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")) or 0)


def cpu_seconds(pid: int, children: bool = False) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12]) + ((int(fields[13]) + int(fields[14])) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def postgres_cpu(data: Path) -> float:
    """The cluster's CPU: the postmaster, with its exited children, and the live children."""
    master = int((data / "postmaster.pid").read_text().split()[0])
    total = cpu_seconds(master, children=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(stat[1]) == master:
                    total += cpu_seconds(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue
    return total


@dataclass
class Latencies:
    seconds: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def p99_ms(self) -> float:
        ordered = sorted(self.seconds)
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000, 1) if ordered else 0.0


def post_until(
    port: int, stop: threading.Event, latencies: Latencies, client: int, per_delivery: int, every: float
) -> None:
    """Post a webhook every `every` seconds (on a schedule: a slow answer does not slow the
    senders down, as Alertmanager's flushes do not wait for each other) until `stop`."""
    n = 0
    next_at = time.monotonic() + every * client / CLIENTS
    while not stop.is_set():
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        next_at += every
        body = am_body(9000 + client, n, per_delivery, datetime.now(UTC))
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        started = time.perf_counter()
        try:
            connection.request(
                "POST",
                "/webhooks/alertmanager",
                body=body,
                headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
            )
            status = connection.getresponse().status
        except OSError:
            status = 0
        finally:
            connection.close()
        with latencies.lock:
            latencies.seconds.append(time.perf_counter() - started)
            latencies.statuses.append(status)
        n += 1


CLIENTS = 4


def load(
    port: int, seconds: float | None, per_delivery: int, rate: float, until: threading.Event | None = None
) -> Latencies:
    """4 clients posting `rate` webhooks a second in all, for `seconds` or until `until` is set."""
    latencies, stop = Latencies(), until or threading.Event()
    clients = [
        threading.Thread(target=post_until, args=(port, stop, latencies, c, per_delivery, CLIENTS / rate))
        for c in range(CLIENTS)
    ]
    for thread in clients:
        thread.start()
    if seconds is not None:
        time.sleep(seconds)
        stop.set()
    for thread in clients:
        thread.join()
    return latencies


def pending(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(text("SELECT count(*) FROM intake WHERE status = 'pending'")) or 0)


def prune_elsewhere(url: str, at: datetime, budget: float | None, answer: Any) -> None:
    """A prune as the periodic job runs it, with the clock at `at`; answers (rows, seconds)."""
    engine = create_db_engine(url)
    try:
        result = Pruner(make_session_factory(engine), FakeClock(at), KEEP, batch=500).run(
            None if budget is None else timedelta(seconds=budget)
        )
        answer.put((result.rows, round(result.seconds, 2)))
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--alerts-per-day", type=int, default=200_000)
    parser.add_argument("--per-delivery", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--prune-days", type=int, default=25)
    parser.add_argument(
        "--prune-budget",
        type=float,
        default=20.0,
        help="seconds the prune under load may run, as BRIDGE_PRUNE_BUDGET (default 20) lets the "
        "periodic job; 0: until it is done",
    )
    parser.add_argument("--rate", type=float, default=20.0, help="webhooks a second while measuring")
    parser.add_argument(
        "--mode",
        choices=["production", "embedded"],
        default="production",
        help="production: bridge serve + `--workers` bridge workers on Redis; embedded: bridge serve "
        "deciding deliveries in its own process",
    )
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    with ExitStack() as stack:
        pg = stack.enter_context(cluster(durable=True))
        url = normalize_database_url(pg.url)
        engine = create_db_engine(url)
        stack.callback(engine.dispose)
        upgrade(engine)
        sessions = make_session_factory(engine)
        today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        first_day = today - timedelta(days=args.days)
        clock = FakeClock(first_day)
        pruner = Pruner(sessions, clock, KEEP, batch=500)
        number, prune_seconds, at_window, daily_sizes = 1, [], {}, []
        load_started = time.monotonic()
        events = 0
        for day in range(args.days):
            start = first_day + timedelta(days=day)
            clock.set(start)
            pruner.create_partitions()
            shape = day_shape(day, args.alerts_per_day, args.per_delivery)
            events += shape.deliveries * args.per_delivery
            number = insert_day(engine, day, start, shape, args.per_delivery, number)
            if day == 29:  # the intake's retention window, nothing pruned yet
                at_window = sizes(engine)
            clock.set(start + timedelta(days=1))
            result = pruner.run()
            if day >= 90:  # every retention in force
                prune_seconds.append(result.seconds)
            daily_sizes.append(sizes(engine)["database"])
            if day % 30 == 0:
                print(f"day {day}: {daily_sizes[-1] >> 20} MiB, prune {result}", file=sys.stderr)
        with engine.begin() as connection:  # the numbers taken by the history, as bridge's own inserts would
            connection.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('incidents', 'number'), max(number)) FROM incidents"
                )
            )
        final = sizes(engine)
        load_seconds = time.monotonic() - load_started
        # The retention window's data: 30 days of intake, 90 of alerts and delivered work (from
        # the first 30 days, before any prune), and what is kept forever.
        window = (
            at_window["intake"]
            + at_window["intake_keys"]
            + 3 * sum(at_window[t] for t in ("alerts", "notifications", "outbox"))
            + sum(final[t] for t in FOREVER)
        )
        day_events = args.alerts_per_day
        events_first_30 = sum(
            day_shape(d, args.alerts_per_day, args.per_delivery).deliveries * args.per_delivery
            for d in range(30)
        )
        bytes_per_alert = sum(at_window[t] for t in TABLES) / events_first_30

        port = free_port()
        env = {**serve_env(url, TOKEN), "BRIDGE_PRUNE_EVERY": "0", "BRIDGE_LOG_LEVEL": "ERROR"}
        workers: list[subprocess.Popen[bytes]] = []
        if args.mode == "production":
            # As docs/deployment.md runs it: the web process stores and enqueues, a `bridge worker`
            # (rq, on a Redis of the bench's own) decides; so web and worker CPU are apart.
            redis_server = stack.enter_context(throwaway_redis(own=True))
            env["BRIDGE_REDIS_URL"] = redis_server.url
            for _ in range(args.workers):
                worker = subprocess.Popen(
                    [sys.executable, "-m", "bridge", "worker"], env=env, stdout=subprocess.DEVNULL
                )
                stack.callback(stop, worker)
                workers.append(worker)
        server = subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
        )
        stack.callback(stop, server)
        for _ in range(300):
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                probe.request("GET", "/readyz")
                if probe.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        load(port, 3, args.per_delivery, args.rate)  # warm up
        while pending(engine):
            time.sleep(0.2)
        cpu_workers = sum(cpu_seconds(w.pid) for w in workers)
        cpu_web, cpu_pg, wal_before, db_before = (
            cpu_seconds(server.pid),
            postgres_cpu(pg.data),
            wal(engine),
            sizes(engine)["database"],
        )
        quiet = load(port, args.seconds, args.per_delivery, args.rate)
        while pending(engine):
            time.sleep(0.2)
        posted = sum(1 for s in quiet.statuses if s == 202) * args.per_delivery
        cost = {
            "serve_cpu_ms_per_alert": round((cpu_seconds(server.pid) - cpu_web) * 1000 / posted, 3),
            "worker_cpu_ms_per_alert": round(
                (sum(cpu_seconds(w.pid) for w in workers) - cpu_workers) * 1000 / posted, 3
            ),
            "postgres_cpu_ms_per_alert": round((postgres_cpu(pg.data) - cpu_pg) * 1000 / posted, 3),
            "wal_bytes_per_alert": round((wal(engine) - wal_before) / posted),
            "db_growth_bytes_per_alert": round((sizes(engine)["database"] - db_before) / posted),
            "alerts_per_second_posted": round(posted / args.seconds),
        }

        # A prune of `--prune-days` days' worth, while webhooks arrive.
        clock.set(today + timedelta(days=args.prune_days))
        # The prune runs in a process of its own, as the worker's job does: in this one it would
        # share the GIL with the clients and delay their clocks, not the server's answers.
        done = threading.Event()
        measured: list[Latencies] = []
        loaded = threading.Thread(
            target=lambda: measured.append(load(port, None, args.per_delivery, args.rate, done))
        )
        loaded.start()
        time.sleep(1)
        context = multiprocessing.get_context("spawn")
        answer = context.Queue()
        pruning = context.Process(
            target=prune_elsewhere,
            args=(url, today + timedelta(days=args.prune_days), args.prune_budget or None, answer),
        )
        pruning.start()
        big_rows, prune_wall = answer.get(timeout=3600)
        pruning.join(60)
        done.set()
        loaded.join()
        (during,) = measured
        statuses = quiet.statuses + during.statuses
        steady = statistics.median(daily_sizes[-30:])
        figures = {
            "mode": args.mode,
            "load_seconds": round(load_seconds),
            "days": args.days,
            "alerts_per_day": day_events,
            "alert_events": events,
            "bytes_per_alert_stored": round(bytes_per_alert),
            "retention_window_bytes": window,
            "steady_state_db_bytes": int(steady),
            "steady_state_over_window": round(steady / window, 2),
            "final_db_bytes": final["database"],
            "prune_seconds_per_day_median": round(statistics.median(prune_seconds), 3)
            if prune_seconds
            else None,
            "prune_seconds_per_day_max": round(max(prune_seconds), 3) if prune_seconds else None,
            "webhook_p99_ms_quiet": quiet.p99_ms(),
            "webhook_p99_ms_during_prune": during.p99_ms(),
            "webhooks_during_prune": len(during.seconds),
            "prune_during_load_seconds": round(prune_wall, 2),
            "prune_during_load_rows": big_rows,
            "non_2xx": sum(1 for s in statuses if s != 202),
            **cost,
        }
    serving = (
        f"bridge serve + {args.workers} bridge worker(s) on Redis"
        if args.mode == "production"
        else "bridge serve with its in-process worker"
    )
    report(
        "growth",
        f"{args.days} days of {args.alerts_per_day} alert events/day (storm 5x every 14th day) in "
        f"{args.per_delivery}-alert deliveries, COPYed on PostgreSQL 15 (own durable cluster), pruned "
        f"daily (intake 30d, alerts 90d, delivered 90d); then {serving} taking {args.rate:g} "
        f"webhooks/s from 4 clients, {args.seconds:.0f}s quiet, and during a prune of {args.prune_days} days "
        f"(budget {args.prune_budget:g}s)",
        figures,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server or worker the bench started; one still busy after 60 s (a worker finishing
    its backlog) is killed, so the figures measured before are still printed."""
    process.terminate()
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        print(f"pid {process.pid} still running 60 s after SIGTERM: killed", file=sys.stderr)
        process.kill()
        process.wait()


if __name__ == "__main__":
    main()
