"""Alertmanager webhook v4 parsing, golden over every captured payload, plus every refusal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from bridge.alert import Severity, Source, Status
from bridge.errors import PayloadError
from bridge.sources import parse_delivery
from bridge.sources.alertmanager import host_from_labels, severity_from_label, strip_port
from tests.support.payloads import all_captured, body, captured

NOW = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)


def t(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# fixture -> [(fingerprint, status, name, host, severity, starts_at, ends_at)], read off the captures by hand
GOLDEN = {
    "alertmanager/01-firing-single.json": [
        ("dc4962fcf0356e7f", "firing", "AccHighCPU", "web-01", "critical", t("2026-11-22T06:51:09.973"), None)
    ],
    "alertmanager/02-repeat-single.json": [
        ("dc4962fcf0356e7f", "firing", "AccHighCPU", "web-01", "critical", t("2026-11-22T06:51:09.973"), None)
    ],
    "alertmanager/03-firing-grouped.json": [
        ("3a98b05b9705776c", "firing", "AccDiskFull", "db-01", "warning", t("2026-11-22T06:51:22.997"), None),
        ("c4a294edeb850eff", "firing", "AccDiskFull", "db-02", "warning", t("2026-11-22T06:51:22.997"), None),
        ("7b52b13aa946bbe2", "firing", "AccDiskFull", "db-03", "warning", t("2026-11-22T06:51:22.997"), None),
    ],
    "alertmanager/04-grouped-partial.json": [
        ("3a98b05b9705776c", "firing", "AccDiskFull", "db-01", "warning", t("2026-11-22T06:51:22.997"), None),
        ("c4a294edeb850eff", "firing", "AccDiskFull", "db-02", "warning", t("2026-11-22T06:51:22.997"), None),
        (
            "7b52b13aa946bbe2",
            "resolved",
            "AccDiskFull",
            "db-03",
            "warning",
            t("2026-11-22T06:51:22.997"),
            t("2026-11-22T06:51:23.700"),
        ),
    ],
    "alertmanager/05-resolved-single.json": [
        (
            "dc4962fcf0356e7f",
            "resolved",
            "AccHighCPU",
            "web-01",
            "critical",
            t("2026-11-22T06:51:09.973"),
            t("2026-11-22T06:51:25.105"),
        )
    ],
    "alertmanager/06-resolved-grouped.json": [
        (
            "3a98b05b9705776c",
            "resolved",
            "AccDiskFull",
            "db-01",
            "warning",
            t("2026-11-22T06:51:22.997"),
            t("2026-11-22T06:51:26.108"),
        ),
        (
            "c4a294edeb850eff",
            "resolved",
            "AccDiskFull",
            "db-02",
            "warning",
            t("2026-11-22T06:51:22.997"),
            t("2026-11-22T06:51:26.108"),
        ),
    ],
    "alertmanager/07-firing-single-bearer-auth.json": [
        (
            "dc4962fcf0356e7f",
            "firing",
            "AccHighCPU",
            "web-01",
            "critical",
            t("2026-11-22T06:51:30.734253"),
            None,
        )
    ],
    "alertmanager/08-firing-single-basic-auth.json": [
        (
            "dc4962fcf0356e7f",
            "firing",
            "AccHighCPU",
            "web-01",
            "critical",
            t("2026-11-22T06:51:33.882367"),
            None,
        )
    ],
    "alertmanager/09-prometheus-up-firing.json": [
        (
            "c418bc451315abc3",
            "firing",
            "AccPrometheusUp",
            "127.0.0.1",
            "info",
            t("2026-11-22T06:51:45.131"),
            None,
        )
    ],
    "alertmanager/10-prometheus-flapping-firing.json": [
        (
            "537db3f6e4a5fc75",
            "firing",
            "AccFlapping",
            "127.0.0.1",
            "warning",
            t("2026-11-22T06:52:01.131"),
            None,
        )
    ],
    "alertmanager/11-prometheus-flapping-resolved.json": [
        (
            "537db3f6e4a5fc75",
            "resolved",
            "AccFlapping",
            "127.0.0.1",
            "warning",
            t("2026-11-22T06:52:01.131"),
            t("2026-11-22T06:52:21.131"),
        )
    ],
}


def test_golden_covers_every_captured_alertmanager_payload() -> None:
    assert sorted(GOLDEN) == all_captured("alertmanager")


@pytest.mark.parametrize("path", sorted(GOLDEN))
def test_parses_captured_payload(path: str) -> None:
    capture = captured(path)
    delivery = parse_delivery(Source.ALERTMANAGER, capture.body_raw, NOW)
    got = [
        (a.source_ref, a.status.value, a.name, a.host, a.severity.value, a.starts_at, a.ends_at)
        for a in delivery.alerts
    ]
    assert got == GOLDEN[path]
    for alert, raw in zip(delivery.alerts, capture.body["alerts"], strict=True):
        assert alert.source is Source.ALERTMANAGER
        assert alert.fingerprint == f"alertmanager:{raw['fingerprint']}"
        assert alert.labels == raw["labels"]
        assert alert.annotations == raw["annotations"]
        assert alert.url == raw["generatorURL"]
        assert alert.received_at == NOW
        assert alert.recurring


def test_a_resolved_alert_inside_a_firing_notification_keeps_its_own_status() -> None:
    alerts = captured("alertmanager/04-grouped-partial.json").alerts()
    assert captured("alertmanager/04-grouped-partial.json").body["status"] == "firing"
    assert [a.status for a in alerts] == [Status.FIRING, Status.FIRING, Status.RESOLVED]


def test_byte_identical_repeat_has_the_same_idempotency_key() -> None:
    first = parse_delivery(Source.ALERTMANAGER, captured("alertmanager/01-firing-single.json").body_raw, NOW)
    repeat = parse_delivery(Source.ALERTMANAGER, captured("alertmanager/02-repeat-single.json").body_raw, NOW)
    other = parse_delivery(
        Source.ALERTMANAGER, captured("alertmanager/05-resolved-single.json").body_raw, NOW
    )
    assert first.dedup_key == repeat.dedup_key
    assert first.dedup_key != other.dedup_key


def test_firing_alert_endsat_in_the_future_still_means_firing() -> None:
    payload = body("alertmanager/01-firing-single.json")
    payload["alerts"][0]["endsAt"] = "2026-11-22T07:30:00Z"  # Alertmanager's resolve_timeout guess
    (alert,) = parse_delivery(Source.ALERTMANAGER, json.dumps(payload).encode(), NOW).alerts
    assert alert.status is Status.FIRING
    assert alert.ends_at is None


def test_missing_fingerprint_is_derived_from_the_labels_stably() -> None:
    payload = body("alertmanager/01-firing-single.json")
    del payload["alerts"][0]["fingerprint"]
    first = parse_delivery(Source.ALERTMANAGER, json.dumps(payload).encode(), NOW).alerts[0]
    payload["alerts"][0]["labels"] = dict(reversed(list(payload["alerts"][0]["labels"].items())))
    second = parse_delivery(Source.ALERTMANAGER, json.dumps(payload).encode(), NOW).alerts[0]
    assert first.fingerprint == second.fingerprint
    assert len(first.source_ref) == 16


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p.pop("alerts"), "alerts"),
        (lambda p: p.update(alerts={"a": 1}), "alerts"),
        (lambda p: p.update(version="3"), "version"),
        (lambda p: p["alerts"][0].update(status="pending"), "alerts[0].status"),
        (lambda p: p["alerts"][0].pop("labels"), "alerts[0].labels"),
        (lambda p: p["alerts"][0]["labels"].update(severity=5), "alerts[0].labels.severity"),
        (lambda p: p["alerts"][0].update(annotations=["x"]), "alerts[0].annotations"),
        (lambda p: p["alerts"][0].pop("startsAt"), "alerts[0].startsAt"),
        (lambda p: p["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
        (lambda p: p["alerts"][0].update(startsAt="2026-11-22T06:51:09"), "alerts[0].startsAt"),
        (lambda p: p["alerts"][0].update(endsAt=12), "alerts[0].endsAt"),
        (lambda p: p["alerts"][0].update(fingerprint=42), "alerts[0].fingerprint"),
        (lambda p: p["alerts"].append("x"), "alerts[1]"),
    ],
)
def test_malformed_payload_names_the_field(mutate: object, field: str) -> None:
    payload = body("alertmanager/01-firing-single.json")
    mutate(payload)  # type: ignore[operator]
    with pytest.raises(PayloadError) as raised:
        parse_delivery(Source.ALERTMANAGER, json.dumps(payload).encode(), NOW)
    assert raised.value.field == field
    assert str(raised.value).startswith(field)


@pytest.mark.parametrize(
    ("raw", "message"),
    [(b"{not json", "not valid JSON"), (b"[1, 2]", "must be a JSON object"), (b"\xff\xfe", "not UTF-8")],
)
def test_undecodable_body_is_refused(raw: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        parse_delivery(Source.ALERTMANAGER, raw, NOW)


@pytest.mark.parametrize(
    ("label", "severity"),
    [
        ("critical", Severity.CRITICAL),
        ("page", Severity.CRITICAL),
        ("error", Severity.HIGH),
        ("HIGH", Severity.HIGH),
        ("average", Severity.AVERAGE),
        ("warning", Severity.WARNING),
        ("info", Severity.INFO),
        ("none", Severity.WARNING),
        ("", Severity.WARNING),
        ("bogus", Severity.WARNING),
    ],
)
def test_severity_label_mapping(label: str, severity: Severity) -> None:
    assert severity_from_label(label) is severity


@pytest.mark.parametrize(
    ("labels", "host"),
    [
        ({"host": "h1", "hostname": "h2", "instance": "h3:9100"}, "h1"),
        ({"hostname": "h2", "instance": "h3:9100"}, "h2"),
        ({"instance": "web-01:9100"}, "web-01"),
        ({"instance": "[::1]:9100"}, "::1"),
        ({"instance": "https://example.org:443/health"}, "https://example.org:443/health"),
        ({"instance": "db-01"}, "db-01"),
        ({}, ""),
    ],
)
def test_host_from_labels(labels: dict[str, str], host: str) -> None:
    assert host_from_labels(labels) == host


def test_strip_port_leaves_bare_ipv6_alone() -> None:
    assert strip_port("fe80::1") == "fe80::1"


def test_the_same_notification_a_minute_later_is_a_repeat_not_a_redelivery() -> None:
    """Alertmanager re-sends unchanged groups every repeat_interval; heartbeats need those repeats."""
    raw = captured("alertmanager/01-firing-single.json").body_raw
    start = NOW.replace(second=0, microsecond=0)
    within = parse_delivery(Source.ALERTMANAGER, raw, start + timedelta(seconds=59))
    assert parse_delivery(Source.ALERTMANAGER, raw, start).dedup_key == within.dedup_key
    later = parse_delivery(Source.ALERTMANAGER, raw, start + timedelta(seconds=60))
    assert later.dedup_key != within.dedup_key
