"""Everything a running bridge process holds, built once from settings: database engine and
sessions, live rules and rota, token verifier, metrics, pipeline, the timer tick (the engine's
timers and the incident timers: escalation, SLA, stale), notifications, the outbox, periodic
jobs, and how deliveries reach a worker: the in-process runner of the embedded default, or with
BRIDGE_REDIS_URL the rq queue (plus the sweeper that re-enqueues what the queue lost)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock, SystemClock
from bridge.db.engine import create_db_engine, make_session_factory
from bridge.integrations.alertmanager import AlertmanagerClient
from bridge.integrations.queue import IntakeQueue
from bridge.integrations.zabbix import ZabbixClient
from bridge.services.duty import Duty
from bridge.services.escalation import DutyTimers
from bridge.services.hooks import HookChain, IncidentHooks
from bridge.services.live_rota import LiveRota
from bridge.services.live_rules import LiveRules
from bridge.services.metrics import DatabaseCollector, Metrics
from bridge.services.notifications import Notifier, Templates, channels_from
from bridge.services.outbox import Outbox
from bridge.services.pipeline import Pipeline
from bridge.services.reconcile import AlertmanagerReconciler, ZabbixReconciler
from bridge.services.tokens import TokenVerifier
from bridge.services.writeback import Writeback
from bridge.settings import Settings
from bridge.worker.periodic import Periodic, PeriodicJob
from bridge.worker.runner import TIMER_ROUNDS, InProcessRunner
from bridge.worker.sweeper import Sweeper, Swept
from bridge.worker.timers import TimerDispatcher

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Ticked:
    """What one tick did."""

    timers: int = 0
    requeued: int = 0
    processed_here: int = 0
    outbox: int = 0
    periodic: int = 0

    def __bool__(self) -> bool:
        return any((self.timers, self.requeued, self.processed_here, self.outbox, self.periodic))


@dataclass
class Runtime:
    settings: Settings
    clock: Clock
    db: Engine
    sessions: sessionmaker[Session]
    rules: LiveRules
    tokens: TokenVerifier
    metrics: Metrics
    pipeline: Pipeline
    runner: InProcessRunner
    hooks: IncidentHooks
    rota: LiveRota
    duty: Duty
    notifier: Notifier
    outbox: Outbox
    periodic: Periodic
    queue: IntakeQueue | None = None  # production mode: deliveries go to rq workers
    sweeper: Sweeper | None = None

    @property
    def timers(self) -> TimerDispatcher:
        """The timer tick: register a handler here for every kind of timer a feature schedules."""
        return self.pipeline.timers

    @classmethod
    def build(
        cls,
        settings: Settings,
        clock: Clock | None = None,
        rules: LiveRules | None = None,
        rota: LiveRota | None = None,
    ) -> Runtime:
        """Wire a runtime; raises RulesError when the rules or the rota cannot be loaded."""
        clock = clock or SystemClock()
        db = create_db_engine(settings.database_url, timeout=settings.db_timeout)
        sessions = make_session_factory(db)
        rules = rules or LiveRules(settings.rules_dir, settings.zone)
        registry = CollectorRegistry()
        metrics = Metrics(registry)
        metrics.database = DatabaseCollector(sessions)
        registry.register(metrics.database)
        writeback = (
            Writeback(settings, rules, clock)
            if settings.zabbix_enabled or settings.alertmanager_url
            else None
        )
        rota = rota or LiveRota(settings.rules_dir, settings.zone)
        notifier = Notifier(sessions, clock, channels_from(settings), Templates(settings.templates_dir))
        duty = Duty(rota, notifier, settings.base_url)
        hooks: IncidentHooks = HookChain(writeback, duty) if writeback else duty
        pipeline = Pipeline(
            sessions,
            rules,
            clock,
            on_outcomes=metrics.count_outcomes,
            hooks=hooks,
            ack_from_source=settings.zabbix_ack_acknowledges,
        )
        outbox = Outbox(
            sessions,
            clock,
            writeback.handlers() if writeback else {},
            on_result=lambda kind, result: metrics.outbox_jobs.labels(kind, result).inc(),
        )
        queue = None
        if settings.redis_url:
            queue = IntakeQueue.from_url(settings.redis_url, settings.redis_timeout)
        DutyTimers(sessions, clock, duty).register(pipeline.timers)
        # every tick, after the timers: a changed rota.yaml takes effect, queued messages go out
        runner = InProcessRunner(
            pipeline, settings.tick_seconds, outbox=outbox, jobs=[rota.refresh, notifier.run_due]
        )

        def notify(intake_id: int) -> None:  # what reconciliation stores goes the way of any delivery
            if queue is not None:
                queue.enqueue([intake_id])
            else:
                runner.notify(intake_id)

        jobs = _periodic_jobs(settings, sessions, clock, notify)
        periodic = Periodic(sessions, clock, jobs, on_result=metrics.count_periodic)
        runner.periodic = periodic
        return cls(
            settings=settings,
            clock=clock,
            db=db,
            sessions=sessions,
            rules=rules,
            tokens=TokenVerifier(sessions, settings, clock),
            metrics=metrics,
            pipeline=pipeline,
            runner=runner,
            hooks=hooks,
            rota=rota,
            duty=duty,
            notifier=notifier,
            outbox=outbox,
            periodic=periodic,
            queue=queue,
            sweeper=Sweeper(sessions, clock, queue, pipeline, settings.sweep_grace) if queue else None,
        )

    def notify(self, intake_id: int) -> None:
        """A delivery was stored: hand it to whoever processes deliveries. Never raises: on the
        queue's failure the row waits in the database for the sweeper."""
        if self.queue is not None:
            self.queue.enqueue([intake_id])
        else:
            self.runner.notify(intake_id)

    def notify_many(self, intake_ids: list[int]) -> None:
        """Several deliveries are pending again (a retry): hand them over in one go."""
        if self.queue is not None:
            self.queue.enqueue(intake_ids)
        elif intake_ids:
            self.runner.notify(intake_ids[-1])

    def process_now(self, intake_id: int) -> bool:
        """Process a delivery in the caller's thread (to answer a Zabbix delivery with its incident);
        False if that failed: it is still pending, for the worker."""
        try:
            self.pipeline.process([intake_id])
        except Exception:
            log.exception("processing delivery %d at once failed; the worker will retry it", intake_id)
            return False
        return True

    def tick(self) -> Ticked:
        """One round of what runs every tick besides deliveries (`bridge worker` calls it; the
        in-process runner does the same in its drain): due timers, the sweeper, due outbox jobs
        (write-back), the rota reload check and notifications, and due periodic jobs
        (reconciliation). Each is safe with many workers."""
        timers = 0
        for _ in range(TIMER_ROUNDS):  # catch up on steps that came due meanwhile, as `drain` does
            fired = self.timers.run_due()
            timers += fired
            if not fired:
                break
        swept = self.sweeper.run() if self.sweeper is not None else Swept()
        outbox = self.outbox.run_due()
        for job in self.runner.jobs:
            job()
        periodic = self.periodic.run_due()
        return Ticked(timers, swept.requeued, swept.processed_here, outbox, periodic)

    def watch_files(self) -> None:
        """Reload the rules and the rota when their files change, in this process: every web and
        worker process checks for itself (BRIDGE_RULES_WATCH)."""
        self.rules.watch(self.settings.rules_watch, also=[self.rota.refresh])

    def base_url(self, fallback: str = "http://127.0.0.1:8080") -> str:
        return self.settings.base_url or fallback

    def close(self) -> None:
        self.runner.stop()
        self.rules.stop_watching()
        if self.queue is not None:
            self.queue.close()
        self.db.dispose()


def _periodic_jobs(
    settings: Settings, sessions: sessionmaker[Session], clock: Clock, notify: Callable[[int], None]
) -> list[PeriodicJob]:
    jobs = []
    if settings.zabbix_enabled and settings.zabbix_reconcile > timedelta(0):
        zabbix = ZabbixReconciler(settings, sessions, clock, ZabbixClient(settings), notify)
        jobs.append(PeriodicJob("reconcile:zabbix", settings.zabbix_reconcile, zabbix.run))
    if settings.alertmanager_url and settings.alertmanager_reconcile > timedelta(0):
        alertmanager = AlertmanagerReconciler(
            settings, sessions, clock, AlertmanagerClient(settings.alertmanager_url), notify
        )
        jobs.append(PeriodicJob("reconcile:alertmanager", settings.alertmanager_reconcile, alertmanager.run))
    return jobs
