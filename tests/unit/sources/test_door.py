"""The door: a body is either parsed into alerts every database can store, or refused with a
PayloadError naming the field. One test per class of bad input, then a fuzzer over every capture."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from bridge.alert import (
    DELIVERY_KEY_MAX,
    FINGERPRINT_MAX,
    HOST_MAX,
    NAME_MAX,
    SOURCE_REF_MAX,
    TEXT_MAX,
    TRUNCATED,
    USER_MAX,
    Source,
    fit,
)
from bridge.errors import PayloadError
from bridge.sources import Delivery, parse_delivery
from bridge.sources.alertmanager import FINGERPRINT_LIMIT
from bridge.sources.zabbix import INSTANCE_LIMIT, RECOVERY_ID_LIMIT
from bridge.timeutil import EARLIEST, LATEST
from tests.support.fuzz import FUZZ_EXAMPLES, Body, bodies
from tests.support.payloads import all_captured, body, captured

NOW = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)
AM = "alertmanager/03-firing-grouped.json"
ZBX = "zabbix/01-problem.json"


def refusal(source: Source, raw: bytes | dict[str, Any]) -> PayloadError:
    data = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
    with pytest.raises(PayloadError) as caught:
        parse_delivery(source, data, NOW)
    return caught.value


def am(mutate: Any) -> dict[str, Any]:
    payload = body(AM)
    mutate(payload)
    return payload


def zbx(mutate: Any) -> dict[str, Any]:
    payload = body(ZBX)
    mutate(payload)
    return payload


def assert_storable(delivery: Delivery) -> None:
    """What the worker will write fits every column and every database."""
    assert len(delivery.dedup_key) <= DELIVERY_KEY_MAX
    for alert in delivery.alerts:
        assert len(alert.fingerprint) <= FINGERPRINT_MAX
        assert len(alert.source_ref) <= SOURCE_REF_MAX
        assert len(alert.name) <= NAME_MAX
        assert len(alert.host) <= HOST_MAX
        assert len(alert.url) <= TEXT_MAX
        texts = [alert.fingerprint, alert.source_ref, alert.name, alert.host, alert.url, alert.origin]
        for mapping in (alert.labels, alert.annotations):
            for key, value in mapping.items():
                assert len(value) <= TEXT_MAX
                texts += [key, value]
        if alert.update is not None:
            assert len(alert.update.user) <= USER_MAX
            texts += [alert.update.action, alert.update.message, alert.update.user]
        for text in texts:
            assert "\x00" not in text
            text.encode("utf-8")  # no lone surrogate
        for instant in (alert.starts_at, alert.ends_at, alert.update.at if alert.update else None):
            assert instant is None or EARLIEST <= instant <= LATEST


# -- decoding: what no database stores never gets past it -------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        (b"[" * 10_000 + b"]" * 10_000, "body", "depth limit exceeded"),
        (b'{"version": "4", "alerts": ' + b"1" * 5000 + b"}", "body", "Exceeds the limit (4300 digits)"),
        (b'{"version": "4", "alerts": 1e309}', "alerts", "is not a finite number"),
        (b'{"version": "4", "alerts": NaN}', "alerts", "is not a finite number"),
        (b'{"version": "4", "alerts": [' + b"7" * 400 + b"]}", "alerts[0]", "is a number beyond 64 bits"),
        (b'{"alerts": [{"labels": {"host": "\\ud800"}}]}', "alerts[0].labels.host", "lone surrogate"),
        (
            b'{"alerts": [{"labels": {"\\udfffx": "a"}}]}',
            "alerts[0].labels.?x",
            "a name that contains a lone",
        ),
        (b"\xef\xbb\xbf{}", "body", "not valid JSON"),
        (b'{"a": "\xed\xa0\x80"}', "body", "not UTF-8 text"),
    ],
)
def test_json_bridge_cannot_store_is_refused_at_decoding(raw: bytes, field: str, reason: str) -> None:
    for source in Source:
        error = refusal(source, raw)
        assert (error.field, reason in error.reason) == (field, True), error


def test_a_nul_anywhere_is_refused_naming_the_string_that_holds_it() -> None:
    def label(p: dict[str, Any]) -> None:
        p["alerts"][1]["labels"]["job"] = "node\x00"

    def key(p: dict[str, Any]) -> None:
        p["alerts"][0]["annotations"]["a\x00b"] = "x"

    def receiver(p: dict[str, Any]) -> None:  # a field bridge does not even read
        p["receiver"] = "\x00"

    assert refusal(Source.ALERTMANAGER, am(label)).field == "alerts[1].labels.job"
    assert refusal(Source.ALERTMANAGER, am(key)).field == "alerts[0].annotations.a\\u0000b"
    assert refusal(Source.ALERTMANAGER, am(receiver)).field == "receiver"
    error = refusal(Source.ZABBIX, zbx(lambda p: p["host"].update(host="db\x00")))
    assert (error.field, error.reason) == (
        "host.host",
        "contains a NUL character (\\u0000), which no database stores",
    )
    tags = json.dumps([{"tag": "a", "value": "\x00"}])  # tags as JSON text, NUL inside it
    assert refusal(Source.ZABBIX, zbx(lambda p: p["event"].update(tags=tags))).field == "event.tags[0].value"


def test_an_escaped_backslash_before_u0000_is_no_nul() -> None:
    payload = body(AM)
    payload["alerts"][0]["annotations"]["path"] = "C:\\u0000"  # a backslash, then u0000
    (alert, *_) = parse_delivery(Source.ALERTMANAGER, json.dumps(payload).encode(), NOW).alerts
    assert alert.annotations["path"] == "C:\\u0000"


def test_a_lone_surrogate_in_tags_sent_as_json_text_is_refused() -> None:
    error = refusal(
        Source.ZABBIX, zbx(lambda p: p["event"].update(tags='[{"tag": "a", "value": "\\udc00"}]'))
    )
    assert (error.field, error.reason) == (
        "event.tags[0].value",
        "contains a lone surrogate (half a UTF-16 pair), which is not Unicode text",
    )


def test_messages_never_echo_a_huge_or_deep_value() -> None:
    deep: Any = "x"
    for _ in range(500):
        deep = [deep]
    for payload, source in (
        ({"version": deep, "alerts": []}, Source.ALERTMANAGER),
        ({"version": "4", "alerts": [], "origin": "o" * 1_000_000}, Source.ALERTMANAGER),
        ({"schema": "s" * 1_000_000}, Source.ZABBIX),
        (zbx(lambda p: p.update(kind=deep)), Source.ZABBIX),
        (zbx(lambda p: p["event"].update(tags=[{"tag": "t", "value": deep}])), Source.ZABBIX),
    ):
        assert len(str(refusal(source, payload))) < 200


# -- times: strict RFC 3339, within 1970..2999 ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "9999-12-31T23:00:00-05:00",  # past year 9999 in UTC: OverflowError before
        "0001-01-01T00:00:00+05:00",
        "2026-12-04T10:00:00\x00Z",
        "2026-W49-5T10:00:00Z",  # an ISO week date
        "20261204T100000Z",  # ISO basic format
        "2026-12-04T10:00Z",
        "2026-12-04T10:00:00",  # no zone
        "\uff12\uff10\uff12\uff16-12-04T10:00:00Z",
        "1969-12-31T23:59:59Z",
        "3000-01-01T00:00:00Z",
        " 2026-12-04T10:00:00Z",
    ],
)
def test_alertmanager_times_are_strict_rfc_3339_in_range(text: str) -> None:
    for key in ("startsAt", "endsAt"):
        payload = body("alertmanager/05-resolved-single.json")
        payload["alerts"][0][key] = text
        error = refusal(Source.ALERTMANAGER, payload)
        assert error.field == f"alerts[0].{key}", error


def test_go_zero_time_still_means_no_end() -> None:
    (alert,) = parse_delivery(
        Source.ALERTMANAGER, captured("alertmanager/01-firing-single.json").body_raw, NOW
    ).alerts
    assert alert.ends_at is None
    payload = body("alertmanager/01-firing-single.json")
    payload["alerts"][0]["startsAt"] = "0001-01-01T00:00:00Z"
    assert refusal(Source.ALERTMANAGER, payload).reason == "is the zero time"


@pytest.mark.parametrize(
    "value",
    [
        "١٧٩٥٣٣١٧٠٣",
        "\uff11\uff17\uff19\uff15\uff13\uff13\uff11\uff17\uff10\uff13",
        "1795331703²",
        "-5",
        "1e9",
        "9999999999999",
        "2026-W49-5T10:00:00Z",
        "NaN",
    ],
)
def test_zabbix_times_are_ascii_unix_seconds_or_rfc_3339_in_range(value: str) -> None:
    error = refusal(Source.ZABBIX, zbx(lambda p: p["event"].update(timestamp=value)))
    assert error.field == "event.timestamp"


# -- Zabbix numbers: ASCII digits within a BIGINT ------------------------------------------------------


@pytest.mark.parametrize("value", ["²", "٣", "\uff13", "6", "-1", "3.0", "03x"])
def test_nseverity_is_an_ascii_digit_0_to_5(value: str) -> None:
    error = refusal(Source.ZABBIX, zbx(lambda p: p["event"].update(nseverity=value)))
    assert error.field == "event.nseverity"


@pytest.mark.parametrize(
    "value", ["١٢", "\uff11\uff12", "²", "9223372036854775808", "99999999999999999999", "-1", "0x10", "1e3"]
)
def test_zabbix_event_ids_are_ascii_digits_within_a_bigint(value: str) -> None:
    error = refusal(Source.ZABBIX, zbx(lambda p: p["event"].update(id=value)))
    assert error.field == "event.id"


def test_a_recovery_id_is_zabbixs_or_reconciliations_within_its_room_in_the_key() -> None:
    for recovery_id in ("24", "gone-1795331705", "r" * RECOVERY_ID_LIMIT):
        payload = body("zabbix/05-recovery.json")
        payload["event"]["recovery"]["id"] = recovery_id
        assert_storable(parse_delivery(Source.ZABBIX, json.dumps(payload).encode(), NOW))
    payload["event"]["recovery"]["id"] = "r" * (RECOVERY_ID_LIMIT + 1)
    assert (
        str(refusal(Source.ZABBIX, payload))
        == f"event.recovery.id: longer than {RECOVERY_ID_LIMIT} characters"
    )


def test_the_largest_bigint_is_a_fine_event_id() -> None:
    payload = zbx(lambda p: p["event"].update(id=str(2**63 - 1)))
    (alert,) = parse_delivery(Source.ZABBIX, json.dumps(payload).encode(), NOW).alerts
    assert alert.source_ref == str(2**63 - 1)


# -- lengths: identities refused, texts cut with a marker ----------------------------------------------


def test_an_alertmanager_fingerprint_that_would_not_fit_is_refused() -> None:
    for length, accepted in ((FINGERPRINT_LIMIT, True), (FINGERPRINT_LIMIT + 1, False)):
        payload = body("alertmanager/01-firing-single.json")
        payload["alerts"][0]["fingerprint"] = "f" * length
        raw = json.dumps(payload).encode()
        if accepted:
            assert_storable(parse_delivery(Source.ALERTMANAGER, raw, NOW))
        else:
            assert (
                str(refusal(Source.ALERTMANAGER, raw))
                == f"alerts[0].fingerprint: longer than {FINGERPRINT_LIMIT} characters"
            )


@pytest.mark.parametrize("path", all_captured("zabbix"))
def test_a_zabbix_instance_at_the_limit_fits_every_kind_of_message(path: str) -> None:
    payload = body(path)
    payload["zabbix"]["instance"] = "i" * INSTANCE_LIMIT
    payload["event"]["id"] = str(2**63 - 1)
    if payload["kind"] == "recovery":
        payload["event"]["recovery"]["id"] = "r" * RECOVERY_ID_LIMIT
    if payload["kind"] == "update":
        payload["update"]["timestamp"] = "32503593600"  # 2999-12-31, the latest time taken
    assert_storable(parse_delivery(Source.ZABBIX, json.dumps(payload).encode(), NOW))
    payload["zabbix"]["instance"] = "i" * 250
    assert str(refusal(Source.ZABBIX, payload)) == f"zabbix.instance: longer than {INSTANCE_LIMIT} characters"


def test_long_texts_are_cut_with_a_visible_marker() -> None:
    megabyte = "m" * 1_048_576

    def mutate(p: dict[str, Any]) -> None:
        alert = p["alerts"][0]
        alert["labels"].update(alertname="N" * 600, instance="h" * 300 + ":9100", team="t" * 20_000)
        alert["annotations"]["description"] = megabyte
        alert["generatorURL"] = "http://x/" + "u" * 20_000

    (alert, *_) = parse_delivery(Source.ALERTMANAGER, json.dumps(am(mutate)).encode(), NOW).alerts
    assert alert.name == "N" * (NAME_MAX - len(TRUNCATED)) + TRUNCATED
    assert alert.host == fit("h" * 300, HOST_MAX) and alert.host.endswith(TRUNCATED)
    assert alert.annotations["description"] == fit(megabyte, TEXT_MAX)
    assert len(alert.labels["team"]) == len(alert.url) == TEXT_MAX
    assert alert.labels["alertname"] == "N" * 600  # the label keeps what fits its own bound


def test_a_zabbix_update_by_a_long_named_user_fits_the_timeline() -> None:
    payload = body("zabbix/02-update-ack-message.json")
    payload["update"]["user"] = "U" * 300
    payload["update"]["message"] = "m" * 20_000
    (alert,) = parse_delivery(Source.ZABBIX, json.dumps(payload).encode(), NOW).alerts
    assert alert.update is not None
    assert (len(alert.update.user), len(alert.update.message)) == (USER_MAX, TEXT_MAX)
    assert alert.update.user.endswith(TRUNCATED)


def test_tag_values_must_be_text() -> None:
    error = refusal(Source.ZABBIX, zbx(lambda p: p["event"].update(tags=[{"tag": "t", "value": {"a": 1}}])))
    assert error.field == "event.tags[0].value"


# -- the fuzzer -------------------------------------------------------------------------------------


@settings(
    max_examples=FUZZ_EXAMPLES or 2500,
    deadline=None,
    database=None,
    derandomize=not FUZZ_EXAMPLES,  # CI runs the same examples every time; the long mode new ones
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(bodies())
def test_every_mutated_capture_parses_into_storable_alerts_or_is_refused_naming_a_field(case: Body) -> None:
    try:
        delivery = parse_delivery(case.source, case.raw, NOW)
    except PayloadError as exc:
        assert exc.field, case.made
        assert len(str(exc)) < 300, case.made  # never echoes a huge value
        return
    assert_storable(delivery)
