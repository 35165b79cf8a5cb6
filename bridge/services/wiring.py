"""`Services`: every service of a bridge process, built once from the settings with the clock,
the hooks, the notifier and the hand-off bound. The runtime of `bridge serve` and `bridge
worker`, the web app and each CLI command use the same wiring.

Parts are built when first used: a command that only lists incidents reads neither the rules nor
the rota (and so still works when an edit broke them), while `load` makes a starting server
refuse to start on rules or a rota that do not load.
"""

from __future__ import annotations

from datetime import timedelta
from functools import cached_property

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db.engine import create_db_engine, make_session_factory
from bridge.integrations.alertmanager import AlertmanagerClient
from bridge.integrations.channels import channels_from
from bridge.integrations.telegram import TelegramBot
from bridge.integrations.zabbix import ZabbixClient
from bridge.services.alerts import AlertService
from bridge.services.console import ConsoleService
from bridge.services.dispatch import TimerHandler
from bridge.services.duty import Duty
from bridge.services.escalation import DutyTimers
from bridge.services.handoff import Handoff
from bridge.services.hooks import HookChain, IncidentHooks
from bridge.services.incidents import IncidentService
from bridge.services.intake import IntakeService
from bridge.services.live import LiveRota, LiveRules
from bridge.services.mail_intake import MailHooks, MailIntake
from bridge.services.mail_links import MailLinks
from bridge.services.metrics import DatabaseCollector, Metrics, MetricsHooks, count_on_commit
from bridge.services.notifications import Notifier, Templates
from bridge.services.oncall import OncallService
from bridge.services.outbox import Outbox
from bridge.services.people import PeopleService
from bridge.services.periodic import PeriodicJob
from bridge.services.pipeline import Pipeline
from bridge.services.reconcile import AlertmanagerReconciler, ZabbixReconciler
from bridge.services.report_mail import EVERY as SLA_MAIL_EVERY
from bridge.services.report_mail import SlaMailer
from bridge.services.reports import ReportService
from bridge.services.retention import Pruner, Retention
from bridge.services.silences import SilenceService
from bridge.services.telegram import PRUNE_EVERY as TELEGRAM_PRUNE_EVERY
from bridge.services.telegram import TelegramDesk
from bridge.services.tokens import TokenService
from bridge.services.writeback import Writeback
from bridge.services.zabbix_instances import ZabbixInstances
from bridge.services.zabbix_links import ZabbixEvents
from bridge.settings import Settings
from bridge.sources import Delivery


class Services:
    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        handoff: Handoff,
        *,
        rules: LiveRules | None = None,
        rota: LiveRota | None = None,
    ) -> None:
        """`rules` and `rota` let a caller (a test) hand in ones it already loaded."""
        self.settings = settings
        self.clock = clock
        self.handoff = handoff
        self.db: Engine = create_db_engine(settings.database_url, timeout=settings.db_timeout)
        self.sessions: sessionmaker[Session] = make_session_factory(self.db)
        self._rules = rules
        self._rota = rota

    def load(self) -> None:
        """Read the rules and the rota now; RulesError when either does not load."""
        _ = self.rules, self.rota

    def close(self) -> None:
        self.db.dispose()

    # -- what the files say ---------------------------------------------------------------------

    @cached_property
    def rules(self) -> LiveRules:
        rules = self._rules or LiveRules(self.settings.rules_dir, self.settings.zone, self.clock)
        rules.on_reload = self.metrics.count_rules_reload
        return rules

    @cached_property
    def rota(self) -> LiveRota:
        return self._rota or LiveRota(self.settings.rules_dir, self.settings.zone, self.clock)

    # -- what changes incidents -----------------------------------------------------------------

    @cached_property
    def notifier(self) -> Notifier:
        templates = Templates(self.settings.templates_dir, self.settings.locale)
        return Notifier(
            self.sessions,
            self.clock,
            channels_from(self.settings),
            templates,
            self.mail_links,
            on_attempt=self.metrics.count_notification,
        )

    @cached_property
    def mail_links(self) -> MailLinks:
        """The Acknowledge/Escalate links of notification mails (off without BRIDGE_BASE_URL or
        BRIDGE_SECRET_KEY: then they issue nothing and take nothing)."""
        return MailLinks(self.settings, self.sessions, self.clock, self.rota, self._hooks, self.handoff)

    @cached_property
    def duty(self) -> Duty:
        return Duty(self.rota, self.notifier, self.settings.base_url, self.metrics)

    @cached_property
    def writeback(self) -> Writeback | None:
        """Write-back to Zabbix and Alertmanager, when either is configured."""
        if not (self.settings.zabbix_enabled or self.settings.alertmanager_url):
            return None
        return Writeback(self.settings, self.rules, self.clock)

    @cached_property
    def hooks(self) -> IncidentHooks:
        """What every change to an incident sets off: write-back first, then the duty (and, with
        the mail intake, asking a client who wrote to confirm a resolution), and the metrics."""
        hooks: list[IncidentHooks] = [self.writeback] if self.writeback is not None else []
        hooks.append(self.duty)
        if self.settings.imap_url:
            hooks.append(MailHooks(self.notifier, self.settings.base_url))
        hooks.append(MetricsHooks(self.metrics))
        return HookChain(*hooks)

    @cached_property
    def pipeline(self) -> Pipeline:
        return Pipeline(
            self.sessions,
            self.rules,
            self.clock,
            on_outcomes=self.metrics.count_outcomes,
            on_batch=self.metrics.count_batch,
            hooks=self.hooks,
            ack_from_source=self.settings.zabbix_ack_acknowledges,
        )

    @cached_property
    def escalation(self) -> DutyTimers:
        return DutyTimers(self.sessions, self.clock, self.duty)

    @cached_property
    def outbox(self) -> Outbox:
        handlers = self.writeback.handlers() if self.writeback is not None else {}
        return Outbox(self.sessions, self.clock, handlers, on_result=self.metrics.count_outbox)

    # -- the use cases --------------------------------------------------------------------------

    @cached_property
    def tokens(self) -> TokenService:
        return TokenService(self.sessions, self.settings, self.clock)

    @cached_property
    def people(self) -> PeopleService:
        return PeopleService(self.sessions, self.clock, self.settings)

    @cached_property
    def intake(self) -> IntakeService:
        return IntakeService(
            self.sessions,
            self.clock,
            self.settings,
            self._process_now,
            self.handoff,
            self.metrics,
            self.zabbix_instances,
        )

    @cached_property
    def incidents(self) -> IncidentService:
        return IncidentService(self.sessions, self.clock, self._hooks, self.handoff, self._clients)

    @cached_property
    def mail_intake(self) -> MailIntake | None:
        """Requests by mail, when BRIDGE_IMAP_URL names the desk's mailbox."""
        if not self.settings.imap_url:
            return None
        return MailIntake(
            self.settings, self.sessions, self.clock, self.rota, self.notifier, self._hooks, self.handoff
        )

    @cached_property
    def telegram(self) -> TelegramDesk | None:
        """Acting from Telegram (button presses, replies, linking), when there is a bot token."""
        settings = self.settings
        if not settings.telegram_token:
            return None
        return TelegramDesk(
            self.sessions,
            self.clock,
            TelegramBot(settings.telegram_token, settings.telegram_api_url),
            self.rota,
            self._hooks,
            self.handoff,
            postgres=not settings.is_sqlite,
            base_url=settings.base_url,
            presses_per_minute=settings.telegram_presses_per_minute,
            link_ttl=settings.telegram_link_ttl,
            poll_seconds=settings.telegram_poll_seconds,
        )

    @cached_property
    def alerts(self) -> AlertService:
        return AlertService(self.sessions)

    @cached_property
    def zabbix_events(self) -> ZabbixEvents:
        return ZabbixEvents(self.sessions)

    @cached_property
    def zabbix_instances(self) -> ZabbixInstances:
        """The Zabbix instances seen that are not BRIDGE_ZABBIX_INSTANCE (warned, in /readyz)."""
        return ZabbixInstances(self.settings, self.sessions)

    @cached_property
    def silences(self) -> SilenceService:
        return SilenceService(self.sessions, self.clock, self.handoff)

    @cached_property
    def oncall(self) -> OncallService:
        return OncallService(self.sessions, self.clock, self.rota)

    @cached_property
    def console(self) -> ConsoleService:
        """What the operator console's pages read."""
        return ConsoleService(
            self.sessions, self.clock, self.rules, self.oncall, self.reports, self.settings.zone
        )

    @cached_property
    def reports(self) -> ReportService:
        return ReportService(self.sessions, self.clock, self.rota)

    @cached_property
    def sla_mailer(self) -> SlaMailer:
        return SlaMailer(self.sessions, self.clock, self.rota, self.notifier)

    # -- what runs in the background ------------------------------------------------------------

    @cached_property
    def metrics(self) -> Metrics:
        metrics = Metrics(CollectorRegistry())
        count_on_commit(self.sessions)
        metrics.database = DatabaseCollector(self.sessions, self.clock)
        metrics.registry.register(metrics.database)
        return metrics

    def timer_handlers(self) -> dict[str, TimerHandler]:
        """Every kind of durable timer and what fires it: the engine's and the incidents'."""
        return {**self.pipeline.timer_handlers(), **self.escalation.handlers()}

    @cached_property
    def pruner(self) -> Pruner:
        return Pruner(
            self.sessions, self.clock, Retention.from_settings(self.settings), self.settings.prune_batch
        )

    def periodic_jobs(self) -> list[PeriodicJob]:
        """Reconciliation with Zabbix and Alertmanager and the mail intake's poll, as configured;
        the prune (and the Telegram bot's, of updates taken long ago); the SLA report by e-mail
        when there is a mail server (rota.yaml's `reports.sla_mail` says whether and when)."""
        settings, jobs = self.settings, []
        if settings.prune_every > timedelta(0):
            budget = settings.prune_budget
            jobs.append(PeriodicJob("prune", settings.prune_every, lambda: self.pruner.run(budget)))
        if settings.zabbix_enabled and settings.zabbix_reconcile > timedelta(0):
            zabbix = ZabbixReconciler(
                settings,
                self.sessions,
                self.clock,
                ZabbixClient(settings),
                self.intake,
                self.zabbix_instances,
            )
            jobs.append(PeriodicJob("reconcile:zabbix", settings.zabbix_reconcile, zabbix.run))
        if settings.alertmanager_url and settings.alertmanager_reconcile > timedelta(0):
            am_client = AlertmanagerClient(settings.alertmanager_url)
            alertmanager = AlertmanagerReconciler(settings, self.sessions, self.clock, am_client, self.intake)
            jobs.append(
                PeriodicJob("reconcile:alertmanager", settings.alertmanager_reconcile, alertmanager.run)
            )
        if settings.smtp_url:
            jobs.append(PeriodicJob("reports:sla-mail", SLA_MAIL_EVERY, self.sla_mailer.run))
        if self.mail_intake is not None:
            jobs.append(PeriodicJob("mail:poll", settings.imap_poll, self.mail_intake.poll))
        if self.telegram is not None:
            jobs.append(PeriodicJob("telegram:prune", TELEGRAM_PRUNE_EVERY, self.telegram.prune))
        return jobs

    def _process_now(self, intake_id: int, delivery: Delivery) -> bool:
        return self.pipeline.process_now(intake_id, delivery)  # the pipeline is built on the first delivery

    def _clients(self) -> list[str]:
        return list(self.rota.rota.clients)  # read when an incident is opened by hand

    def _hooks(self) -> IncidentHooks:
        return self.hooks  # built on the first change: reading incidents never loads the rota

    def database_problem(self) -> str | None:
        """None when the database answers, else what is wrong (for /readyz)."""
        try:
            with self.sessions() as session:  # a read: on SQLite it never waits for the writer
                session.execute(text("SELECT 1"))
        except SQLAlchemyError as exc:
            return f"down: {exc.__class__.__name__}"
        return None
