"""Zabbix `bridge.zabbix.v1` parsing, golden over every captured delivery, plus every refusal."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.alert import Severity, Source, Status
from bridge.errors import PayloadError
from bridge.sources import parse_delivery
from bridge.sources.zabbix import TEST_LABEL, clean, from_bridge, joined_message, recovery_of_test
from tests.support.alerts import T0
from tests.support.payloads import all_captured, body, captured

NOW = datetime(2026, 11, 22, 7, 20, tzinfo=UTC)
PROBLEM_24 = datetime(2026, 11, 22, 7, 15, 3, tzinfo=UTC)  # 1795331703
PROBLEM_26 = datetime(2026, 11, 22, 7, 15, 34, tzinfo=UTC)  # 1795331734

# fixture -> (fingerprint, status, severity, starts_at, ends_at, update action, idempotency key)
GOLDEN = {
    "zabbix/01-problem.json": (
        "zabbix:zbx-acceptance:24",
        "firing",
        "high",
        PROBLEM_24,
        None,
        None,
        "zabbix:zbx-acceptance:problem:24:-",
    ),
    "zabbix/02-update-ack-message.json": (
        "zabbix:zbx-acceptance:24",
        "firing",
        "high",
        PROBLEM_24,
        None,
        "acknowledged and commented",
        None,
    ),
    "zabbix/03-update-severity.json": (
        "zabbix:zbx-acceptance:24",
        "firing",
        "critical",
        PROBLEM_24,
        None,
        "commented and changed severity from High to Disaster",
        None,
    ),
    "zabbix/04-update-unack.json": (
        "zabbix:zbx-acceptance:24",
        "firing",
        "critical",
        PROBLEM_24,
        None,
        "unacknowledged",
        None,
    ),
    "zabbix/05-recovery.json": (
        "zabbix:zbx-acceptance:24",
        "resolved",
        "critical",
        PROBLEM_24,
        datetime(2026, 11, 22, 7, 15, 31, tzinfo=UTC),
        None,
        "zabbix:zbx-acceptance:recovery:24:25",
    ),
    "zabbix/06-problem-second.json": (
        "zabbix:zbx-acceptance:26",
        "firing",
        "high",
        PROBLEM_26,
        None,
        None,
        "zabbix:zbx-acceptance:problem:26:-",
    ),
    "zabbix/07-update-close.json": (
        "zabbix:zbx-acceptance:26",
        "resolved",
        "high",
        PROBLEM_26,
        datetime(2026, 11, 22, 7, 15, 40, tzinfo=UTC),
        "commented and closed",
        None,
    ),
    "zabbix/08-recovery-after-close.json": (
        "zabbix:zbx-acceptance:26",
        "resolved",
        "high",
        PROBLEM_26,
        datetime(2026, 11, 22, 7, 15, 40, tzinfo=UTC),
        None,
        "zabbix:zbx-acceptance:recovery:26:27",
    ),
}


def parse(payload: dict[str, object]) -> object:
    return parse_delivery(Source.ZABBIX, json.dumps(payload).encode(), NOW)


def test_golden_covers_every_captured_zabbix_delivery() -> None:
    assert sorted(GOLDEN) == all_captured("zabbix")


@pytest.mark.parametrize("path", sorted(GOLDEN))
def test_parses_captured_delivery(path: str) -> None:
    fingerprint, status, severity, starts_at, ends_at, action, key = GOLDEN[path]
    delivery = parse_delivery(Source.ZABBIX, captured(path).body_raw, NOW)
    (alert,) = delivery.alerts
    assert alert.fingerprint == fingerprint
    assert alert.source_ref == fingerprint.rsplit(":", 1)[1]
    assert alert.status.value == status
    assert alert.severity.value == severity
    assert alert.starts_at == starts_at
    assert alert.ends_at == ends_at
    assert alert.name == "High CPU load on Acceptance bridge host"
    assert alert.host == "acc-bridge-host"
    assert not alert.recurring
    assert alert.labels["service"] == "payments"
    assert alert.labels["host_groups"] == "Acceptance"
    assert alert.labels["trigger_id"] == "23144"
    assert alert.url == "http://127.0.0.1:8081/tr_events.php?triggerid=23144&eventid=" + alert.source_ref
    assert not any(name.startswith("__zbx_") for name in alert.labels), (
        "bridge's own tags are not monitoring tags"
    )
    if action is None:
        assert alert.update is None
        assert delivery.dedup_key == key
    else:
        assert alert.update is not None
        assert alert.update.action == action
        assert alert.update.user == "Acceptance Operator (acc-operator)"
        assert delivery.dedup_key.startswith(f"zabbix:zbx-acceptance:update:{alert.source_ref}:")


def test_acknowledgement_carries_message_and_ack_state() -> None:
    (alert,) = captured("zabbix/02-update-ack-message.json").alerts()
    assert alert.update is not None
    assert alert.update.message == "Looking into it (acc-operator)"
    assert alert.update.acknowledged is True
    assert alert.update.at == datetime(2026, 11, 22, 7, 15, 6, tzinfo=UTC)


def test_manual_close_update_and_recovery_tell_the_same_resolution() -> None:
    (close,) = captured("zabbix/07-update-close.json").alerts()
    (recovery,) = captured("zabbix/08-recovery-after-close.json").alerts()
    assert (close.status, close.ends_at) == (recovery.status, recovery.ends_at)


def test_two_updates_in_the_same_second_are_different_deliveries() -> None:
    first = body("zabbix/02-update-ack-message.json")
    second = body("zabbix/02-update-ack-message.json")
    second["update"]["message"] = "another comment"
    assert parse(first).dedup_key != parse(second).dedup_key  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "value",
    [
        "{EVENT.RECOVERY.ID}",
        "*UNKNOWN*",
        "",
        "  ",
        "{$ZABBIX.URL}",
        "{EVENT.TAGS.__zbx_bridge_incident}",
        None,
    ],
)
def test_unresolved_macros_mean_absent(value: object) -> None:
    assert clean(value) is None


def test_literal_macros_from_zabbix_6_0_are_absent_not_values() -> None:
    payload = body("zabbix/01-problem.json")
    payload["zabbix"]["url"] = "{$ZABBIX.URL}"
    payload["zabbix"]["instance"] = "{$BRIDGE.INSTANCE}"
    payload["event"]["timestamp"] = "{EVENT.TIMESTAMP}"
    payload["event"]["recovery"] = {"id": "{EVENT.RECOVERY.ID}", "timestamp": "{EVENT.RECOVERY.TIMESTAMP}"}
    payload["host"]["ip"] = "*UNKNOWN*"
    payload["event"]["opdata"] = "{EVENT.OPDATA}"
    payload["external_ref"] = "{EVENT.TAGS.__zbx_bridge_incident}"
    (alert,) = parse(payload).alerts  # type: ignore[attr-defined]
    assert alert.fingerprint == "zabbix:zabbix:24"  # instance falls back to "zabbix"
    assert alert.starts_at == NOW  # no timestamp: when bridge received it
    assert alert.url == ""
    assert "host_ip" not in alert.labels
    assert "opdata" not in alert.annotations


@pytest.mark.parametrize(
    ("nseverity", "severity"),
    [
        ("5", Severity.CRITICAL),
        ("4", Severity.HIGH),
        ("3", Severity.AVERAGE),
        ("2", Severity.WARNING),
        ("1", Severity.INFO),
        ("0", Severity.INFO),
    ],
)
def test_nseverity_mapping(nseverity: str, severity: Severity) -> None:
    payload = body("zabbix/01-problem.json")
    payload["event"]["nseverity"] = nseverity
    payload["event"]["severity"] = "Renamed by the admin"
    assert parse(payload).alerts[0].severity is severity  # type: ignore[attr-defined]


def test_severity_name_is_the_fallback_without_nseverity() -> None:
    payload = body("zabbix/01-problem.json")
    payload["event"]["nseverity"] = "{EVENT.NSEVERITY}"
    payload["event"]["severity"] = "Disaster"
    assert parse(payload).alerts[0].severity is Severity.CRITICAL  # type: ignore[attr-defined]


def test_tags_as_json_text_and_repeated_names() -> None:
    payload = body("zabbix/01-problem.json")
    payload["event"]["tags"] = json.dumps(
        [
            {"tag": "service", "value": "a"},
            {"tag": "service", "value": "b"},
            {"tag": "__zbx_bridge_url", "value": "x"},
            {"tag": "bare"},
        ]
    )
    labels = parse(payload).alerts[0].labels  # type: ignore[attr-defined]
    assert labels["service"] == "a,b"
    assert labels["bare"] == ""
    assert "__zbx_bridge_url" not in labels


def test_host_groups_list_or_comma_text() -> None:
    payload = body("zabbix/01-problem.json")
    payload["host"]["groups"] = "Linux servers, Clients/Acme"
    assert parse(payload).alerts[0].labels["host_groups"] == "Clients/Acme, Linux servers"  # type: ignore[attr-defined]
    payload["host"]["groups"] = ["Zeta", "Alpha"]
    assert parse(payload).alerts[0].labels["host_groups"] == "Alpha, Zeta"  # type: ignore[attr-defined]


def test_values_sent_as_numbers_are_accepted() -> None:
    payload = body("zabbix/01-problem.json")
    payload["event"]["id"] = 24
    payload["event"]["nseverity"] = 4
    payload["event"]["timestamp"] = 1795331703
    (alert,) = parse(payload).alerts  # type: ignore[attr-defined]
    assert (alert.source_ref, alert.severity, alert.starts_at) == ("24", Severity.HIGH, PROBLEM_24)


def test_update_without_problem_value_zero_stays_firing() -> None:
    (alert,) = captured("zabbix/03-update-severity.json").alerts()
    assert alert.status is Status.FIRING


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda p: p.update(schema="bridge.zabbix.v2"), "schema"),
        (lambda p: p.pop("schema"), "schema"),
        (lambda p: p.update(kind="trigger"), "kind"),
        (lambda p: p.pop("event"), "event"),
        (lambda p: p.update(event="24"), "event"),
        (lambda p: p["event"].pop("id"), "event.id"),
        (lambda p: p["event"].update(id="{EVENT.ID}"), "event.id"),
        (lambda p: p["event"].update(id="abc"), "event.id"),
        (lambda p: p["event"].update(nseverity="9"), "event.nseverity"),
        (lambda p: p["event"].update(timestamp="noon"), "event.timestamp"),
        (lambda p: p["event"].update(tags={"a": "b"}), "event.tags"),
        (lambda p: p["event"].update(tags=[{"value": "x"}]), "event.tags[0]"),
        (lambda p: p["event"].update(tags="[not json"), "event.tags"),
        (lambda p: p["event"].update(recovery="25"), "event.recovery"),
        (lambda p: p.update(host=["h"]), "host"),
        (lambda p: p["update"].update(timestamp="soon"), "update.timestamp"),
        (lambda p: p.update(test="yes"), "test"),
    ],
)
def test_malformed_body_names_the_field(mutate: object, field: str) -> None:
    payload = body("zabbix/01-problem.json")
    mutate(payload)  # type: ignore[operator]
    with pytest.raises(PayloadError) as raised:
        parse(payload)
    assert raised.value.field == field


def test_a_media_type_test_is_marked_and_each_one_is_a_new_delivery() -> None:
    payload = body("zabbix/01-problem.json")
    payload["test"] = True
    first = parse_delivery(Source.ZABBIX, json.dumps(payload).encode(), T0)
    later = parse_delivery(Source.ZABBIX, json.dumps(payload).encode(), T0 + timedelta(seconds=1))
    assert first.test and first.alerts[0].labels[TEST_LABEL] == "yes"
    assert first.dedup_key != later.dedup_key
    assert not parse_delivery(Source.ZABBIX, json.dumps(body("zabbix/01-problem.json")).encode(), T0).test


def test_the_recovery_made_up_for_a_test_resolves_the_same_alert() -> None:
    payload = body("zabbix/01-problem.json")
    payload["test"] = True
    (alert,) = parse_delivery(Source.ZABBIX, json.dumps(payload).encode(), T0).alerts
    made = recovery_of_test(alert, T0)
    (recovered,) = parse_delivery(Source.ZABBIX, json.dumps(made).encode(), T0).alerts
    assert (recovered.fingerprint, recovered.status, recovered.severity) == (
        alert.fingerprint,
        Status.RESOLVED,
        alert.severity,
    )


@pytest.mark.parametrize("opened", [True, False])
def test_bridges_incident_link_message_is_recognised_as_its_own(opened: bool) -> None:
    said = joined_message(17, "https://bridge.example/incidents/17", opened=opened)
    assert said in (
        "bridge incident 17 opened: https://bridge.example/incidents/17",
        "joined bridge incident 17: https://bridge.example/incidents/17",
    )
    assert from_bridge(said)
    assert from_bridge("Acknowledged in bridge incident 17 by ivanov: on it")
    assert not from_bridge("the bridge incident 17 opened a can of worms")
    assert not from_bridge("looking at it")


@given(number=st.integers(min_value=1, max_value=2**63 - 1), link=st.text(max_size=200), opened=st.booleans())
def test_every_incident_link_message_bridge_writes_is_recognised_as_its_own(
    number: int, link: str, opened: bool
) -> None:
    assert from_bridge(joined_message(number, link, opened=opened))
