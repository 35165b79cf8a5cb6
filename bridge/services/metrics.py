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

from bridge.db.models import Incident, Intake, IntakeStatus, Notification, NotificationStatus
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

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        intake = GaugeMetricFamily(
            "bridge_intake",
            "Deliveries waiting in the intake log (pending) or parked (failed).",
            labels=["status"],
        )
        incidents = GaugeMetricFamily("bridge_incidents", "Incidents by status.", labels=["status"])
        notifications = GaugeMetricFamily(
            "bridge_notifications",
            "Notifications waiting to be sent (pending) or given up on (failed).",
            labels=["status"],
        )
        with self.sessions() as session:
            # Only the small states: counting every processed delivery would scan the whole log.
            for state in (IntakeStatus.PENDING, IntakeStatus.FAILED):
                count = session.scalar(select(func.count()).select_from(Intake).where(Intake.status == state))
                intake.add_metric([state.value], count or 0)
            for status, count in session.execute(
                select(Incident.status, func.count()).group_by(Incident.status)
            ):
                incidents.add_metric([status], count)
            for waiting in (NotificationStatus.PENDING, NotificationStatus.FAILED):
                count = session.scalar(
                    select(func.count()).select_from(Notification).where(Notification.status == waiting)
                )
                notifications.add_metric([waiting.value], count or 0)
        yield intake
        yield incidents
        yield notifications
