"""How the metrics count, apart from the services that drive them: every engine outcome has a
deliberate suppression reason (or none), label values stay in closed sets, and what a transaction
does counts when it commits, never when it rolls back."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from sqlalchemy import create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from bridge.alert import Severity, Status
from bridge.dedup.state import AlertState, Decision, Disposition, Outcome
from bridge.priority import Priority
from bridge.services.metrics import MANUAL, Metrics, Peer, Suppression, count_on_commit, suppression_of

KEPT_OUT = {
    Outcome.DROPPED: Suppression.DROPPED,
    Outcome.INHIBITED: Suppression.INHIBITED,
    Outcome.WAITING: Suppression.HELD,
    Outcome.DUPLICATE: Suppression.DUPLICATE,
    Outcome.STALE: Suppression.STALE,
}
T0 = datetime(2026, 11, 22, 6, 0, tzinfo=UTC)


def held(suppressed_by: str | None) -> AlertState:
    return AlertState(
        "fp",
        Status.FIRING,
        T0,
        None,
        Severity.WARNING,
        "r",
        "g",
        Disposition.SUPPRESSED,
        "why",
        None,
        1,
        suppressed_by,
    )


@pytest.mark.parametrize("outcome", list(Outcome))
def test_every_outcome_has_a_deliberate_reason_or_none(outcome: Outcome) -> None:
    if outcome is Outcome.SUPPRESSED:
        return  # depends on what held it: below
    assert suppression_of(Decision(outcome, "")) == KEPT_OUT.get(outcome)


@pytest.mark.parametrize(
    ("suppressed_by", "reason"),
    [
        ("maintenance:backups", Suppression.MAINTENANCE),
        ("silence:12", Suppression.SILENCED),
        (None, Suppression.SILENCED),
    ],
)
def test_a_suppressed_alert_is_in_maintenance_or_silenced(
    suppressed_by: str | None, reason: Suppression
) -> None:
    assert suppression_of(Decision(Outcome.SUPPRESSED, "", alert=held(suppressed_by))) is reason


@given(st.text(max_size=30))
def test_whatever_holds_an_alert_the_reason_stays_in_the_closed_set(suppressed_by: str) -> None:
    assert suppression_of(Decision(Outcome.SUPPRESSED, "", alert=held(suppressed_by))) in set(Suppression)


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def sessions() -> sessionmaker[Session]:
    factory = sessionmaker(create_engine("sqlite://"))
    count_on_commit(factory)
    count_on_commit(factory)  # once per factory, however often it is asked
    return factory


def test_what_a_transaction_counts_shows_when_it_commits(sessions: sessionmaker[Session]) -> None:
    metrics = Metrics(CollectorRegistry())
    with sessions() as session, session.begin():
        session.execute(text("SELECT 1"))
        metrics.incident_opened(session, Priority.P1, "host-down")
        metrics.escalated(session, 1)
        metrics.sla_breached(session, Priority.P1)
        assert sample(metrics, "bridge_incidents_opened_total", priority="P1", rule="host-down") == 0
    assert sample(metrics, "bridge_incidents_opened_total", priority="P1", rule="host-down") == 1
    assert sample(metrics, "bridge_escalations_total", step="1") == 1
    assert sample(metrics, "bridge_sla_breaches_total", priority="P1") == 1


def test_what_a_rolled_back_transaction_counted_is_forgotten(sessions: sessionmaker[Session]) -> None:
    metrics = Metrics(CollectorRegistry())
    with pytest.raises(RuntimeError), sessions() as session, session.begin():
        session.execute(text("SELECT 1"))
        metrics.incident_opened(session, Priority.P2, None)
        raise RuntimeError("a conflict: the batch is retried")
    with sessions() as session, session.begin():  # the retry
        session.execute(text("SELECT 1"))
        metrics.incident_opened(session, Priority.P2, None)
    assert sample(metrics, "bridge_incidents_opened_total", priority="P2", rule=MANUAL) == 1


def test_peers_channels_and_reload_results_start_at_zero() -> None:
    metrics = Metrics(CollectorRegistry())
    for peer in Peer:
        assert metrics.registry.get_sample_value("bridge_integration_errors_total", {"peer": peer.value}) == 0
    for result in ("ok", "error"):
        assert metrics.registry.get_sample_value("bridge_rules_reload_total", {"result": result}) == 0


def test_failures_of_peers_count_once_each_and_an_unknown_kind_names_no_peer() -> None:
    metrics = Metrics(CollectorRegistry())
    metrics.count_outbox("zabbix.acknowledge", "error")
    metrics.count_outbox("zabbix.acknowledge", "done")
    metrics.count_outbox("alertmanager.silence", "failed")
    metrics.count_outbox("surprise.kind", "error")
    metrics.count_periodic("mail:poll", ok=False)
    metrics.count_periodic("prune", ok=False)
    metrics.count_notification("email", sent=False)
    metrics.count_notification("webhook", sent=True)
    errors = {p.value: sample(metrics, "bridge_integration_errors_total", peer=p.value) for p in Peer}
    assert errors == {"zabbix": 1, "alertmanager": 1, "smtp": 1, "telegram": 0, "webhook": 0, "imap": 1}
    assert metrics.registry.get_sample_value("bridge_integration_errors_total", {"peer": "surprise"}) is None
