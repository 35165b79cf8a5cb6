"""The load generator's bodies are what bridge takes (every scenario parses, and means what its
name says), and it posts to loopback addresses only."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from bench.loadgen import (
    DUPLICATE_POOL,
    FLAP_ALERTS,
    STORM_SIZE,
    Scenario,
    SourceKind,
    body_factory,
    require_loopback,
    summarize,
)
from bridge.alert import Source, Status
from bridge.sources import parse_delivery

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
SOURCES = {SourceKind.ALERTMANAGER: Source.ALERTMANAGER, SourceKind.ZABBIX: Source.ZABBIX}


def cases() -> list[tuple[SourceKind, Scenario]]:
    return [
        (source, scenario)
        for source in SourceKind
        for scenario in Scenario
        if not (source is SourceKind.ZABBIX and scenario is Scenario.STORM)
    ]


@pytest.mark.parametrize(("source", "scenario"), cases())
def test_every_body_of_every_scenario_is_one_bridge_accepts(source: SourceKind, scenario: Scenario) -> None:
    make, per_body = body_factory(source, scenario, run_id=7)
    for n in range(0, 3 * FLAP_ALERTS, 37):
        delivery = parse_delivery(SOURCES[source], make(n), NOW)
        assert len(delivery.alerts) == per_body


def test_unique_and_storm_alerts_are_all_new() -> None:
    for scenario, size in ((Scenario.UNIQUE, 1), (Scenario.STORM, STORM_SIZE)):
        make, _ = body_factory(SourceKind.ALERTMANAGER, scenario, run_id=1)
        seen = [
            a.fingerprint for n in range(40) for a in parse_delivery(Source.ALERTMANAGER, make(n), NOW).alerts
        ]
        assert len(seen) == len(set(seen)) == 40 * size


def test_runs_with_other_ids_share_no_alert() -> None:
    first, _ = body_factory(SourceKind.ALERTMANAGER, Scenario.UNIQUE, run_id=1)
    second, _ = body_factory(SourceKind.ALERTMANAGER, Scenario.UNIQUE, run_id=2)
    fingerprints = {
        parse_delivery(Source.ALERTMANAGER, f(n), NOW).alerts[0].fingerprint
        for f in (first, second)
        for n in range(50)
    }
    assert len(fingerprints) == 100


def test_duplicates_cycle_through_a_pool_of_byte_identical_bodies() -> None:
    make, _ = body_factory(SourceKind.ALERTMANAGER, Scenario.DUPLICATES, run_id=1)
    assert len({make(n) for n in range(DUPLICATE_POOL * 3)}) == DUPLICATE_POOL
    assert make(5) == make(5 + DUPLICATE_POOL)


def test_alertmanager_flap_alternates_firing_and_resolved_on_the_same_alerts() -> None:
    make, _ = body_factory(SourceKind.ALERTMANAGER, Scenario.FLAP, run_id=1)
    states: dict[str, list[Status]] = {}
    for n in range(4 * FLAP_ALERTS):
        alert = parse_delivery(Source.ALERTMANAGER, make(n), NOW).alerts[0]
        states.setdefault(alert.fingerprint, []).append(alert.status)
    assert len(states) == FLAP_ALERTS
    for history in states.values():
        assert history == [Status.FIRING, Status.RESOLVED, Status.FIRING, Status.RESOLVED]


def test_zabbix_flap_is_problems_and_recoveries_on_the_same_hosts() -> None:
    """In Zabbix each firing is a new problem event (a new identity), recovered by its own event."""
    make, _ = body_factory(SourceKind.ZABBIX, Scenario.FLAP, run_id=1)
    states: dict[str, list[Status]] = {}
    hosts: dict[str, list[Status]] = {}
    for n in range(4 * FLAP_ALERTS):
        alert = parse_delivery(Source.ZABBIX, make(n), NOW).alerts[0]
        states.setdefault(alert.fingerprint, []).append(alert.status)
        hosts.setdefault(alert.host, []).append(alert.status)
    assert len(states) == 2 * FLAP_ALERTS
    assert all(history == [Status.FIRING, Status.RESOLVED] for history in states.values())
    assert len(hosts) == FLAP_ALERTS
    assert all(history == [Status.FIRING, Status.RESOLVED] * 2 for history in hosts.values())


def test_zabbix_has_no_storm_body() -> None:
    with pytest.raises(ValueError, match="one event per operation"):
        body_factory(SourceKind.ZABBIX, Scenario.STORM, run_id=1)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://127.0.0.1:8080", "127.0.0.1"),
        ("http://localhost:1", "localhost"),
        ("http://[::1]:8080/x", "::1"),
    ],
)
def test_loopback_addresses_are_loaded(url: str, host: str) -> None:
    assert require_loopback(url) == host


@pytest.mark.parametrize("url", ["http://10.0.0.1:8080", "https://example.com", "http://0.0.0.0:80"])
def test_any_other_address_is_refused(url: str) -> None:
    with pytest.raises(SystemExit, match="loopback"):
        require_loopback(url)


def test_the_summary_counts_alerts_per_notification_and_takes_percentiles_of_the_2xx() -> None:
    latencies = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    result = summarize(SourceKind.ALERTMANAGER, Scenario.STORM, 16, 10.0, STORM_SIZE, latencies, 3, 1)
    assert result.notifications == 100 and result.notifications_per_s == 10.0
    assert result.alerts_per_s == 10.0 * STORM_SIZE
    assert result.p50_ms == pytest.approx(50.5, abs=0.1) and result.max_ms == 100.0
    assert result.p99_ms >= result.p95_ms >= result.p50_ms
    assert (result.non_2xx, result.errors) == (3, 1)
    assert json.loads(json.dumps(result.figures("x_")))["x_p99_ms"] == result.p99_ms
