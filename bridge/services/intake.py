"""Taking deliveries in: a webhook's body is parsed (so that a malformed one is refused with what
is wrong), committed to the intake log, and only then handed to whoever processes it. Also the
deliveries bridge makes up itself when reconciling, and putting parked ones back to work.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from time import perf_counter
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bridge.alert import Alert, Source, Status
from bridge.clock import Clock
from bridge.db.intake import Stored, backlog, drop_failed, retry_failed, store_delivery
from bridge.db.models import AlertRow, Intake
from bridge.db.queries import Page, Paging, paged
from bridge.services.handoff import Handoff
from bridge.services.metrics import Metrics
from bridge.services.zabbix_instances import ZabbixInstances
from bridge.settings import Settings
from bridge.sources import Delivery, parse_delivery
from bridge.sources.zabbix import recovery_of_test

log = logging.getLogger(__name__)

STUCK_AFTER = timedelta(minutes=5)
"""A delivery pending for longer than this means processing is stuck (a worker down, a database
refusing writes): /readyz says `degraded`. Five minutes: a 10,000-alert storm on SQLite is
decided in well under a minute, and Alertmanager's own group_interval is 5 minutes."""


@dataclass(frozen=True, slots=True)
class Receipt:
    """What a webhook answers: how many alerts were accepted, whether it was a redelivery, and
    for Zabbix the event tags that lead to the alert's incident."""

    accepted: int
    duplicate: bool
    tags: dict[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Retried:
    """Parked deliveries put back to pending, and whether they were handed to a worker at once."""

    ids: list[int]
    handed_over: bool


@dataclass(frozen=True, slots=True)
class DeliveryHealth:
    """What /readyz tells about processing: deliveries waiting, parked, and for how long."""

    pending: int
    parked: int
    oldest_pending_seconds: float

    @property
    def problem(self) -> str | None:
        """Why processing is degraded, or None. Degraded, not down: webhooks are still stored
        durably, so the web tier must stay in its load balancer; alert on the metrics instead."""
        reasons = []
        if self.parked:
            reasons.append(f"{self.parked} parked as failed (GET /api/intake?status=failed)")
        if self.oldest_pending_seconds > STUCK_AFTER.total_seconds():
            reasons.append(f"oldest pending for {self.oldest_pending_seconds:.0f}s")
        return "degraded: " + "; ".join(reasons) if reasons else None


class IntakeService:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        settings: Settings,
        process_now: Callable[[int, Delivery], bool],
        handoff: Handoff,
        metrics: Metrics,
        instances: ZabbixInstances | None = None,
    ) -> None:
        """`process_now` decides a delivery just stored (its id, parsed) at once, to answer Zabbix
        with its incident; False when it did not (it would have had to wait, or deciding failed)
        and the delivery waits for the worker."""
        self.sessions = sessions
        self.clock = clock
        self.settings = settings
        self.process_now = process_now
        self.handoff = handoff
        self.metrics = metrics
        self.instances = instances

    def receive(self, source: Source, body: bytes, host_url: str) -> Receipt:
        """A webhook delivery: PayloadError when the body is wrong, StorageUnavailable when it
        cannot be stored; otherwise it is committed before this returns."""
        started = perf_counter()
        received_at = self.clock.now()
        delivery = parse_delivery(source, body, received_at)
        stored = store_delivery(self.sessions, delivery, body, received_at)
        answer_tags = source is Source.ZABBIX and self.settings.zabbix_answer_tags
        # Decided here when the answer needs its incident; otherwise (or if that failed) by the
        # worker. Handing over never fails the request: the row is committed either way.
        decided = (
            answer_tags and stored.intake_id is not None and self.process_now(stored.intake_id, delivery)
        )
        if stored.intake_id is not None and not decided:
            self.handoff.deliveries([stored.intake_id])
        if self.instances is not None and source is Source.ZABBIX and not delivery.test:
            self.instances.delivered(delivery.alerts[0].labels.get("zabbix_instance", ""))
        if delivery.test and not stored.duplicate:
            # The media type's Test button: what it opened resolves at once, nothing stays firing.
            for alert in delivery.alerts:
                if alert.status is Status.FIRING:
                    self.store(source, json.dumps(recovery_of_test(alert, received_at)).encode())
        self.metrics.alerts_received.labels(source.value).inc(len(delivery.alerts))
        self.metrics.webhook_seconds.labels(source.value).observe(perf_counter() - started)
        tags = None
        if answer_tags:  # a Zabbix delivery: exactly one alert
            # A problem's first delivery left to the worker has nothing decided of its event yet (its
            # identity is the event's): no incident to look up, a query less for every webhook of a storm.
            first = delivery.alerts[0]
            first_problem = first.status is Status.FIRING and first.update is None and not stored.duplicate
            tags = self._event_tags(first, host_url, look_up=decided or not first_problem)
        return Receipt(len(delivery.alerts), stored.duplicate, tags)

    def store(self, source: Source, body: bytes) -> Stored:
        """A delivery bridge made up itself (reconciliation), stored and handed over like a webhook's."""
        now = self.clock.now()
        stored = store_delivery(self.sessions, parse_delivery(source, body, now), body, now)
        if stored.intake_id is not None:
            self.handoff.deliveries([stored.intake_id])
        return stored

    def retry(self, ids: Sequence[int] | None, actor: str) -> Retried:
        """Put deliveries parked as failed (these `ids`, or all) back to pending with their
        attempts reset, and hand them over."""
        with self.sessions() as session, session.begin():
            retried = retry_failed(session, ids)
        if retried:
            log.info("%s put %d parked deliveries back to pending", actor, len(retried))
        return Retried(retried, bool(retried) and self.handoff.deliveries(retried))

    def drop_parked(self, ids: Sequence[int] | None, actor: str) -> list[int]:
        """Delete deliveries parked as failed (these `ids`, or all): the one way they leave the
        intake log, since retention keeps them until retried or dropped."""
        with self.sessions() as session, session.begin():
            dropped = drop_failed(session, ids)
        if dropped:
            log.warning("%s dropped %d parked deliveries: %s", actor, len(dropped), dropped)
        return dropped

    def health(self) -> DeliveryHealth:
        """Deliveries pending and parked, and the oldest pending one's age (for /readyz)."""
        with self.sessions() as session:
            waiting = backlog(session)
        return DeliveryHealth(
            waiting.pending, waiting.parked, waiting.oldest_pending_seconds(self.clock.now())
        )

    def list(self, statuses: Sequence[str], paging: Paging) -> Page[Intake]:
        """Deliveries, newest first (e.g. the `failed` ones parked after repeated failures)."""
        statement = select(Intake)
        if statuses:
            statement = statement.where(Intake.status.in_(statuses))
        with self.sessions() as session:
            return paged(session, statement, [Intake.id.desc()], paging)

    def _event_tags(self, alert: Alert, host_url: str, look_up: bool = True) -> dict[str, str]:
        """What Zabbix stores as event tags of the problem: `__zbx_bridge_url`, the event's page in
        bridge (true from the first answer on: it shows the alert's decision while it waits and
        leads to its incident once there is one), and `__zbx_bridge_incident` once there is one.

        A recovery's answer is stored on the OK event, not on the problem: it gets none. Without
        `look_up`, the alert is known to have no incident yet."""
        if alert.status is Status.RESOLVED and alert.update is None:
            return {}
        base = (self.settings.base_url or host_url).rstrip("/")
        instance = alert.labels.get("zabbix_instance", "")
        tags = {"__zbx_bridge_url": f"{base}{event_path(instance, alert.source_ref)}"}
        if not look_up:
            return tags
        with self.sessions() as session:
            number = session.scalar(
                select(AlertRow.incident_number).where(AlertRow.fingerprint == alert.fingerprint)
            )
        if number is not None:
            tags["__zbx_bridge_incident"] = f"INC-{number}"
        return tags


def event_path(instance: str, event_id: str) -> str:
    """The path of a Zabbix event's page in bridge (`bridge.web.zabbix_links`)."""
    return f"/zabbix/events/{quote(instance, safe='')}/{quote(event_id, safe='')}"
