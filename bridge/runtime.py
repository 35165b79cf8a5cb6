"""Everything a running bridge process holds, built once from settings: database engine and
sessions, live rules, token verifier, metrics, pipeline and its runner."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock, SystemClock
from bridge.credentials import TokenVerifier
from bridge.db import create_db_engine, make_session_factory
from bridge.live_rules import LiveRules
from bridge.metrics import DatabaseCollector, Metrics
from bridge.pipeline import Pipeline
from bridge.settings import Settings
from bridge.worker import InProcessRunner


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

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None, rules: LiveRules | None = None) -> Runtime:
        """Wire a runtime; raises RulesError when the rules cannot be loaded."""
        clock = clock or SystemClock()
        db = create_db_engine(settings.database_url, timeout=settings.db_timeout)
        sessions = make_session_factory(db)
        rules = rules or LiveRules(settings.rules_dir, settings.zone)
        registry = CollectorRegistry()
        metrics = Metrics(registry)
        registry.register(DatabaseCollector(sessions))
        pipeline = Pipeline(sessions, rules, clock, on_outcomes=metrics.count_outcomes)
        return cls(
            settings=settings,
            clock=clock,
            db=db,
            sessions=sessions,
            rules=rules,
            tokens=TokenVerifier(sessions, settings, clock),
            metrics=metrics,
            pipeline=pipeline,
            runner=InProcessRunner(pipeline, settings.tick_seconds),
        )

    def notify(self, intake_id: int) -> None:
        """A delivery was stored: hand it to whoever processes deliveries."""
        self.runner.notify(intake_id)

    def close(self) -> None:
        self.runner.stop()
        self.db.dispose()
