"""Prometheus metrics of bridge itself, on a registry injected per app (never the global one).

Counters are incremented where things happen; state that lives in the database (pending
deliveries, incidents by status) is read by a collector at scrape time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter
from prometheus_client.core import GaugeMetricFamily, Histogram
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db.intake import backlog
from bridge.db.models import Incident, Notification, NotificationStatus
from bridge.dedup.state import Outcome


class Metrics:
    database: Collector | None = None  # the gauges read from the database (set by the runtime)

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.deliveries = PromCounter(
            "bridge_webhook_deliveries",
            "Webhook deliveries by source and answer.",
            ["source", "answer"],
            registry=registry,
        )
        self.alerts_received = PromCounter(
            "bridge_alerts_received", "Alerts in accepted deliveries.", ["source"], registry=registry
        )
        self.decisions = PromCounter(
            "bridge_decisions",
            "Engine decisions on alert events and timers, by outcome.",
            ["outcome"],
            registry=registry,
        )
        self.webhook_seconds = Histogram(
            "bridge_webhook_seconds",
            "Time to validate and durably store a delivery.",
            ["source"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=registry,
        )

        self.outbox_jobs = PromCounter(
            "bridge_outbox_jobs",
            "Write-back jobs run, by kind and result.",
            ["kind", "result"],
            registry=registry,
        )
        self.periodic_runs = PromCounter(
            "bridge_periodic_runs",
            "Periodic jobs (reconciliation) run, by job and result.",
            ["job", "result"],
            registry=registry,
        )

    def count_periodic(self, job: str, ok: bool) -> None:
        self.periodic_runs.labels(job, "ok" if ok else "error").inc()

    def count_outcomes(self, outcomes: Counter[Outcome]) -> None:
        for outcome, count in outcomes.items():
            self.decisions.labels(outcome.value).inc(count)


class DatabaseCollector(Collector):
    """Gauges read from the database at scrape time."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        intake = GaugeMetricFamily(
            "bridge_intake",
            "Deliveries waiting in the intake log (pending) or parked after failing (failed).",
            labels=["status"],
        )
        oldest = GaugeMetricFamily(
            "bridge_intake_oldest_pending_seconds",
            "How long the oldest pending delivery has waited (0 when none waits): "
            "growing past a few minutes means processing is stuck.",
        )
        incidents = GaugeMetricFamily("bridge_incidents", "Incidents by status.", labels=["status"])
        notifications = GaugeMetricFamily(
            "bridge_notifications",
            "Notifications waiting to be sent (pending) or given up on (failed).",
            labels=["status"],
        )
        with self.sessions() as session:
            waiting = backlog(session)
            intake.add_metric(["pending"], waiting.pending)
            intake.add_metric(["failed"], waiting.parked)
            oldest.add_metric([], waiting.oldest_pending_seconds(self.clock.now()))
            for status, count in session.execute(
                select(Incident.status, func.count()).group_by(Incident.status)
            ):
                incidents.add_metric([status], count)
            for state in (NotificationStatus.PENDING, NotificationStatus.FAILED):
                waiting_notifications = session.scalar(
                    select(func.count()).select_from(Notification).where(Notification.status == state)
                )
                notifications.add_metric([state.value], waiting_notifications or 0)
        yield intake
        yield oldest
        yield incidents
        yield notifications
