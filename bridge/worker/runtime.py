"""Everything a running bridge process holds, built once from the settings: the services, the
timer dispatch, periodic jobs, the tick, the file watcher, and how deliveries reach a worker: the
in-process runner of the embedded default, or with BRIDGE_REDIS_URL the rq queue (plus the
sweeper that re-enqueues what the queue lost)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from bridge.clock import Clock, SystemClock
from bridge.integrations.queue import IntakeQueue, QueueHandoff
from bridge.services.dispatch import TimerDispatcher
from bridge.services.intake import DeliveryHealth
from bridge.services.live import FileWatcher, LiveRota, LiveRules
from bridge.services.periodic import Periodic
from bridge.services.sweeper import Sweeper
from bridge.services.wiring import Services
from bridge.settings import Settings
from bridge.worker.runner import InProcessRunner, Wakeup
from bridge.worker.telegram import TelegramPoller
from bridge.worker.tick import Tick


@dataclass(frozen=True)
class Readiness:
    """What /readyz answers: each check "ok", "degraded: ..." (working, but look) or what is
    wrong (not ready), and the deliveries' figures when the database could tell them."""

    checks: dict[str, str] = field(default_factory=dict)
    deliveries: DeliveryHealth | None = None

    @property
    def down(self) -> list[str]:
        return [name for name, value in self.checks.items() if value != "ok" and not _degraded(value)]

    @property
    def degraded(self) -> list[str]:
        return [name for name, value in self.checks.items() if _degraded(value)]


def _telegram_poller(services: Services) -> TelegramPoller | None:
    """The bot's thread, when there is a bot and it hears updates."""
    desk, settings = services.telegram, services.settings
    if desk is None or settings.telegram_updates == "off":
        return None
    webhook = None
    if settings.telegram_updates == "webhook" and settings.base_url and settings.telegram_webhook_secret:
        webhook = f"{settings.base_url.rstrip('/')}/webhooks/telegram/{settings.telegram_webhook_secret}"
    return TelegramPoller(desk, settings.telegram_updates, webhook, settings.telegram_webhook_secret)


def _degraded(value: str) -> bool:
    return value.startswith("degraded")


@dataclass
class Runtime:
    services: Services
    timers: TimerDispatcher
    """The timer dispatch: a handler per kind of durable timer (features may register more)."""
    tick: Tick
    runner: InProcessRunner
    watcher: FileWatcher
    queue: IntakeQueue | None = None  # production mode: deliveries go to rq workers
    handoff: QueueHandoff | None = None  # production mode: how the services wake the rq workers
    sweeper: Sweeper | None = None
    telegram: TelegramPoller | None = None  # the bot's poll (or webhook registration)

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
        queue = (
            IntakeQueue.from_url(settings.redis_url, settings.redis_timeout) if settings.redis_url else None
        )
        wakeup = Wakeup()
        handoff = QueueHandoff(queue) if queue else None
        services = Services(settings, clock, handoff or wakeup, rules=rules, rota=rota)
        services.load()
        services.zabbix_instances.check_stored()  # warns of an instance bridge does not expect
        sessions = services.sessions
        timers = TimerDispatcher(sessions, clock)
        timers.register_all(services.timer_handlers())
        periodic = Periodic(
            sessions, clock, services.periodic_jobs(), on_result=services.metrics.count_periodic
        )
        sweeper = Sweeper(sessions, clock, queue, services.pipeline, settings.sweep_grace) if queue else None
        tick = Tick(services, timers, periodic, sweeper, deliveries=queue is None)
        return cls(
            services=services,
            timers=timers,
            tick=tick,
            runner=InProcessRunner(tick, wakeup, settings.tick_seconds),
            watcher=FileWatcher([services.rules, services.rota], settings.rules_watch),
            queue=queue,
            handoff=handoff,
            sweeper=sweeper,
            telegram=_telegram_poller(services),
        )

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def start(self, *, worker: bool = True) -> None:
        """Start the background work of a serving process: the in-process worker (unless
        deliveries go to rq workers, or `worker` is False: a worker process of its own runs it,
        `bridge.worker.child`) and the file watcher (every process watches for itself)."""
        if self.queue is None and worker:
            self.runner.start()
            self.runner.wakeup.work()  # pick up whatever was left pending by the last run
            if self.telegram is not None:  # in production the `bridge worker` processes poll
                self.telegram.start()
        self.watcher.start()

    def take_over_worker(self) -> None:
        """Run the in-process worker after all (the worker process is gone): what `start` would
        have started."""
        self.runner.wakeup.forward_to(None)
        self.start(worker=True)

    def readiness(self) -> Readiness:
        """What /readyz checks: the database, in production mode Redis ("ok" or what is wrong),
        and whether deliveries are processed (degraded when some are parked or stuck)."""
        checks = {"database": self.services.database_problem() or "ok"}
        deliveries = None
        if checks["database"] == "ok":
            try:
                deliveries = self.services.intake.health()
            except SQLAlchemyError as exc:
                checks["database"] = f"down: {exc.__class__.__name__}"
            else:
                checks["deliveries"] = deliveries.problem or "ok"
        if instances := self.services.zabbix_instances.problem:
            checks["zabbix_instance"] = instances
        if self.queue is not None:
            problem = self.queue.ping()
            checks["redis"] = "ok" if problem is None else f"down: {problem}"
        return Readiness(checks, deliveries)

    def close(self) -> None:
        if self.telegram is not None:
            self.telegram.stop()
        self.runner.stop()
        self.watcher.stop()
        if self.handoff is not None:
            self.handoff.close()  # wakes the workers for what this process stored last
        if self.queue is not None:
            self.queue.close()
        self.services.close()
