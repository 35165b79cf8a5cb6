"""Prometheus metrics of bridge itself, on a registry injected per app (never the global one).

Counters are incremented where things happen; state that lives in the database (pending
deliveries, open incidents, the oldest unacknowledged one) is read by a collector at scrape time,
so it needs no multiprocess storage and is right whichever process answers. Every metric is
described in docs/metrics.md.

What happens inside a transaction (an incident opened, an escalation step, an SLA breach) is
counted when that transaction commits (`after_commit`): a batch rolled back and retried must
not count twice. Counting is a memory write (an mmap'd file under gunicorn's multiprocess mode),
never a database round trip.

Label values are bounded: priorities, statuses, channels and peers are closed sets, and rule
names are those of the loaded rules (`MANUAL` for an incident opened by hand or by mail).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from enum import StrEnum

from prometheus_client import CollectorRegistry
from prometheus_client import Counter as PromCounter
from prometheus_client.core import GaugeMetricFamily, Histogram, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db import per_transaction
from bridge.db.intake import backlog
from bridge.db.models import AlertRow, Incident, Intake, IntakeStatus, Notification, NotificationStatus
from bridge.dedup.state import Decision, Outcome
from bridge.integrations.channels import CHANNELS
from bridge.priority import Priority
from bridge.services.hooks import IncidentChange
from bridge.ticketing.lifecycle import IncidentStatus

MANUAL = "(manual)"
"""The `rule` label of an incident no rule opened (by hand in the API or UI, or by mail)."""


class Suppression(StrEnum):
    """Why an alert event did not open or join an incident: the `reason` label of
    bridge_alerts_suppressed_total (a closed set)."""

    DROPPED = "dropped"  # a rule's `action: drop`
    SILENCED = "silenced"  # a silence made in bridge
    MAINTENANCE = "maintenance"  # a maintenance window of the rules
    INHIBITED = "inhibited"  # another firing alert explains it (`inhibits:`)
    HELD = "held"  # waiting for `for:` or `threshold:` (it may still open one later)
    DUPLICATE = "duplicate"  # a repeat of what is known (Alertmanager's re-sends)
    STALE = "stale"  # older than what is known of that alert


class Peer(StrEnum):
    """Outside systems bridge talks to: the `peer` label of bridge_integration_errors_total."""

    ZABBIX = "zabbix"
    ALERTMANAGER = "alertmanager"
    SMTP = "smtp"
    TELEGRAM = "telegram"
    WEBHOOK = "webhook"
    IMAP = "imap"


PEER_OF_CHANNEL = {"email": Peer.SMTP, "telegram": Peer.TELEGRAM, "webhook": Peer.WEBHOOK}
PEER_OF_PERIODIC = {
    "reconcile:zabbix": Peer.ZABBIX,
    "reconcile:alertmanager": Peer.ALERTMANAGER,
    "mail:poll": Peer.IMAP,
}
"""Periodic jobs that are mostly talking to a peer: their failure counts as that peer's error."""

_SUPPRESSION_OF_OUTCOME = {
    Outcome.DROPPED: Suppression.DROPPED,
    Outcome.INHIBITED: Suppression.INHIBITED,
    Outcome.WAITING: Suppression.HELD,
    Outcome.DUPLICATE: Suppression.DUPLICATE,
    Outcome.STALE: Suppression.STALE,
}


def suppression_of(decision: Decision) -> Suppression | None:
    """Why this decision kept its alert out of an incident (None: it did not)."""
    if decision.outcome is Outcome.SUPPRESSED:
        held_by = decision.alert.suppressed_by if decision.alert is not None else None
        return Suppression.MAINTENANCE if (held_by or "").startswith("maintenance:") else Suppression.SILENCED
    return _SUPPRESSION_OF_OUTCOME.get(decision.outcome)


# -- counting when the transaction commits -----------------------------------------------------

_PENDING = per_transaction.key("bridge.metrics.pending")


def after_commit(session: Session, increment: Callable[[], None]) -> None:
    """Run `increment` when the session's transaction commits; forgotten if it does not."""
    session.info.setdefault(_PENDING, []).append(increment)


def _committed(session: Session) -> None:
    for increment in session.info.pop(_PENDING, ()):
        increment()


def count_on_commit(sessions: sessionmaker[Session]) -> None:
    """Make `after_commit` work on the sessions of `sessions` (once per session factory)."""
    if not event.contains(sessions, "after_commit", _committed):
        event.listen(sessions, "after_commit", _committed)


# -- the metrics ---------------------------------------------------------------------------------


class Metrics:
    database: Collector | None = None  # the gauges read from the database (set by the runtime)

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self._children: dict[tuple[int, tuple[str, ...]], PromCounter] = {}
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
        self.incidents_opened = PromCounter(
            "bridge_incidents_opened",
            "Incidents opened, by priority and by the rule that opened them ((manual): by hand or mail).",
            ["priority", "rule"],
            registry=registry,
        )
        self.processing_seconds = Histogram(
            "bridge_processing_seconds",
            "Time a worker takes to decide one batch of deliveries (one transaction), parsing included.",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.alerts_suppressed = PromCounter(
            "bridge_alerts_suppressed",
            "Alert events kept out of incidents, by reason and rule.",
            ["reason", "rule"],
            registry=registry,
        )
        self.escalations = PromCounter(
            "bridge_escalations",
            "Escalation steps reached, by step number (1 = the policy's first step).",
            ["step"],
            registry=registry,
        )
        self.notifications = PromCounter(
            "bridge_notifications",
            "Notification attempts, by channel and result (sent, failed).",
            ["channel", "result"],
            registry=registry,
        )
        self.rules_reloads = PromCounter(
            "bridge_rules_reload",
            "Rules reloads tried, by result (ok; error: the last good rules stay live).",
            ["result"],
            registry=registry,
        )
        self.sla_breaches = PromCounter(
            "bridge_sla_breaches",
            "SLA targets breached (acknowledge or resolve), by priority.",
            ["priority"],
            registry=registry,
        )
        self.integration_errors = PromCounter(
            "bridge_integration_errors",
            "Failed calls to outside systems, by peer.",
            ["peer"],
            registry=registry,
        )
        # Known label values start at 0: a rate() over a series that appears with its first
        # error would miss that error.
        for peer in Peer:
            self.integration_errors.labels(peer.value)
        for result in ("ok", "error"):
            self.rules_reloads.labels(result)
        for channel in CHANNELS:
            for result in ("sent", "failed"):
                self.notifications.labels(channel, result)

    def counted(self) -> list[PromCounter | Histogram]:
        """Every counter and histogram, as incremented in the processes."""
        return [
            self.deliveries,
            self.alerts_received,
            self.decisions,
            self.webhook_seconds,
            self.outbox_jobs,
            self.periodic_runs,
            self.incidents_opened,
            self.processing_seconds,
            self.alerts_suppressed,
            self.escalations,
            self.notifications,
            self.rules_reloads,
            self.sla_breaches,
            self.integration_errors,
        ]

    def count_periodic(self, job: str, ok: bool) -> None:
        self.periodic_runs.labels(job, "ok" if ok else "error").inc()
        peer = PEER_OF_PERIODIC.get(job)
        if not ok and peer is not None:
            self.integration_errors.labels(peer.value).inc()

    def count_outbox(self, kind: str, result: str) -> None:
        """A write-back job ran (done, error: retried, failed: given up); kinds are "<peer>.<what>"."""
        self.outbox_jobs.labels(kind, result).inc()
        peer = kind.partition(".")[0]
        if result != "done" and peer in Peer.__members__.values():
            self.integration_errors.labels(peer).inc()

    def count_outcomes(self, outcomes: Counter[Outcome]) -> None:
        for outcome, count in outcomes.items():
            self.decisions.labels(outcome.value).inc(count)

    def count_batch(self, suppressed: Counter[tuple[Suppression, str]], seconds: float) -> None:
        """A worker's batch committed: how long it took and what it kept out of incidents."""
        self.processing_seconds.observe(seconds)
        for (reason, rule), count in suppressed.items():
            self.alerts_suppressed.labels(reason.value, rule).inc(count)

    def count_notification(self, channel: str, sent: bool) -> None:
        self.notifications.labels(channel, "sent" if sent else "failed").inc()
        peer = PEER_OF_CHANNEL.get(channel)
        if not sent and peer is not None:
            self.integration_errors.labels(peer.value).inc()

    def count_rules_reload(self, ok: bool) -> None:
        self.rules_reloads.labels("ok" if ok else "error").inc()

    # -- inside a transaction: counted when it commits ------------------------------------------

    def incident_opened(self, session: Session, priority: Priority, rule: str | None) -> None:
        counter = self._labelled(self.incidents_opened, priority.value, rule or MANUAL)
        after_commit(session, counter.inc)

    def escalated(self, session: Session, step: int) -> None:
        """`step` counts from 1."""
        after_commit(session, self._labelled(self.escalations, str(step)).inc)

    def _labelled(self, metric: PromCounter, *values: str) -> PromCounter:
        """`metric.labels(*values)`, looked up once: a batch opening 2,000 incidents counts each
        twice, and `labels` validates its values and takes a lock every time."""
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def sla_breached(self, session: Session, priority: Priority) -> None:
        after_commit(session, self.sla_breaches.labels(priority.value).inc)


class MetricsHooks:
    """An `IncidentHooks` that counts incidents opened (by the rules, by hand, by mail)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def incident_opened(self, session: Session, incident: Incident, now: datetime) -> None:
        self.metrics.incident_opened(session, incident.priority, incident.rule)

    def incident_changed(self, session: Session, change: IncidentChange) -> None:
        return None

    def alert_attached(
        self, session: Session, incident: Incident, alert: AlertRow, now: datetime, late: bool
    ) -> None:
        return None


# -- read at scrape time ---------------------------------------------------------------------------

NOT_CLOSED = (
    IncidentStatus.OPEN,
    IncidentStatus.ACKNOWLEDGED,
    IncidentStatus.STALE,
    IncidentStatus.RESOLVED,
)
"""The statuses bridge_incidents_open counts: everything not closed or cancelled (a resolved
incident waits for someone to confirm it)."""


class DatabaseCollector(Collector):
    """Gauges read from the database at scrape time."""

    def __init__(self, sessions: sessionmaker[Session], clock: Clock) -> None:
        self.sessions = sessions
        self.clock = clock

    def describe(self) -> list[GaugeMetricFamily]:
        """The gauges' names without reading the database (the registry asks when registering)."""
        return list(self._families())

    def collect(self) -> Iterator[GaugeMetricFamily]:
        intake, oldest, lag, incidents, open_incidents, unacknowledged, notifications = self._families()
        now = self.clock.now()
        with self.sessions() as session:
            waiting = backlog(session)
            intake.add_metric(["pending"], waiting.pending)
            intake.add_metric(["failed"], waiting.parked)
            oldest.add_metric([], waiting.oldest_pending_seconds(now))
            lag.add_metric([], _seconds_since(session.scalar(_OLDEST_UNTRIED), now))
            for status, count in session.execute(
                select(Incident.status, func.count()).group_by(Incident.status)
            ):
                incidents.add_metric([status], count)
            oldest_unacked: dict[Priority, datetime] = {}
            for priority, status, count, unacked_since in session.execute(_OPEN_BY_PRIORITY):
                open_incidents.add_metric([priority, status], count)
                if unacked_since is not None and (
                    priority not in oldest_unacked or unacked_since < oldest_unacked[priority]
                ):
                    oldest_unacked[priority] = unacked_since
            for priority in Priority:
                unacknowledged.add_metric([priority.value], _seconds_since(oldest_unacked.get(priority), now))
            for state in (NotificationStatus.PENDING, NotificationStatus.FAILED):
                waiting_notifications = session.scalar(
                    select(func.count()).select_from(Notification).where(Notification.status == state)
                )
                notifications.add_metric([state.value], waiting_notifications or 0)
        yield intake
        yield oldest
        yield lag
        yield incidents
        yield open_incidents
        yield unacknowledged
        yield notifications

    def _families(self) -> tuple[GaugeMetricFamily, ...]:
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
        lag = GaugeMetricFamily(
            "bridge_queue_lag_seconds",
            "Age of the oldest stored delivery no worker has tried yet (0 when none): "
            "how far processing is behind intake.",
        )
        incidents = GaugeMetricFamily("bridge_incidents", "Incidents by status.", labels=["status"])
        open_incidents = GaugeMetricFamily(
            "bridge_incidents_open",
            "Incidents not closed or cancelled, by priority and status.",
            labels=["priority", "status"],
        )
        unacknowledged = GaugeMetricFamily(
            "bridge_oldest_unacknowledged_seconds",
            "Age of the oldest active incident nobody has acknowledged, by priority (0 when none).",
            labels=["priority"],
        )
        notifications = GaugeMetricFamily(
            "bridge_notifications_queued",
            "Notifications waiting to be sent (pending) or given up on (failed).",
            labels=["status"],
        )
        return intake, oldest, lag, incidents, open_incidents, unacknowledged, notifications


_OLDEST_UNTRIED = (
    select(Intake.received_at)
    .where(Intake.status == IntakeStatus.PENDING, Intake.attempts == 0)
    .order_by(Intake.id)
    .limit(1)
)
_ACTIVE = (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED, IncidentStatus.STALE)
_OPEN_BY_PRIORITY = (
    select(
        Incident.priority,
        Incident.status,
        func.count(),
        func.min(Incident.opened_at).filter(Incident.acknowledged_at.is_(None), Incident.status.in_(_ACTIVE)),
    )
    .where(Incident.status.in_(NOT_CLOSED))
    .group_by(Incident.priority, Incident.status)
)


def _seconds_since(then: datetime | None, now: datetime) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None:  # SQLite gives naive UTC
        then = then.replace(tzinfo=now.tzinfo)
    return max(0.0, (now - then).total_seconds())


class AllProcesses(Collector):
    """What /metrics shows under gunicorn and `bridge worker` sharing PROMETHEUS_MULTIPROC_DIR:
    every process's counters and histograms added up (prometheus_client's multiprocess mode),
    with their help text, and the ones no process has counted yet shown empty rather than
    missing (a dashboard or alert rule then finds every name)."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self.summed = MultiProcessCollector(None)  # type: ignore[no-untyped-call]

    def collect(self) -> Iterator[Metric]:
        declared = {
            family.name: family for collector in self.metrics.counted() for family in collector.describe()
        }
        for family in self.summed.collect():  # type: ignore[no-untyped-call]
            own = declared.pop(family.name, None)
            if own is not None:
                family.documentation = own.documentation
            yield family
        yield from declared.values()
