"""Everything a running bridge process holds, built once from settings: database engine and
sessions, live rules, token verifier, metrics, pipeline and its runner."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock, SystemClock
from bridge.credentials import TokenVerifier
from bridge.db import create_db_engine, make_session_factory
from bridge.live_rota import LiveRota
from bridge.live_rules import LiveRules
from bridge.metrics import DatabaseCollector, Metrics
from bridge.outbox import Outbox
from bridge.periodic import Periodic, PeriodicJob
from bridge.pipeline import Pipeline
from bridge.settings import Settings
from bridge.sources.alertmanager_api import AlertmanagerClient
from bridge.sources.reconcile import AlertmanagerReconciler, ZabbixReconciler
from bridge.sources.writeback import Writeback
from bridge.sources.zabbix_api import ZabbixClient
from bridge.ticketing.duty import Duty
from bridge.ticketing.escalation import DutyTimers
from bridge.ticketing.hooks import HookChain, IncidentHooks
from bridge.ticketing.notify import Notifier, Templates, channels_from
from bridge.worker import InProcessRunner

log = logging.getLogger(__name__)


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
        registry.register(DatabaseCollector(sessions))
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
        runner = InProcessRunner(
            pipeline,
            settings.tick_seconds,
            outbox=outbox,
            jobs=[DutyTimers(sessions, clock, duty).run_due, notifier.run_due],
        )
        runner.periodic = Periodic(
            sessions,
            clock,
            _periodic_jobs(settings, sessions, clock, runner.notify),
            on_result=metrics.count_periodic,
        )
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
        )

    def notify(self, intake_id: int) -> None:
        """A delivery was stored: hand it to whoever processes deliveries."""
        self.runner.notify(intake_id)

    def process_now(self, intake_id: int) -> None:
        """Process a delivery in the caller's thread (to answer a Zabbix delivery with its incident);
        if that fails it stays pending for the worker."""
        try:
            self.pipeline.process([intake_id])
        except Exception:
            log.exception("processing delivery %d at once failed; the worker will retry it", intake_id)

    def base_url(self, fallback: str = "http://127.0.0.1:8080") -> str:
        return self.settings.base_url or fallback

    def close(self) -> None:
        self.runner.stop()
        self.rules.stop_watching()
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
