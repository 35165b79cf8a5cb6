"""The compact form a replay's reading process sends parsed deliveries in gives back, field for
field, what was parsed: the same alerts, times in the same zones, the same maps in the same order,
whether it travelled compact or (for anything outside that form) pickled."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from bridge.alert import Alert, Severity, Source, SourceUpdate, Status
from bridge.replay import wire
from bridge.sources import Delivery, parse_delivery
from tests.support.payloads import am_alert, am_notification

UTC_TIMES = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
OTHER_ZONES = st.sampled_from([timezone(timedelta(hours=3)), timezone(timedelta(hours=-5, minutes=-30))])
TIMES = st.one_of(UTC_TIMES, UTC_TIMES.map(lambda t: t.astimezone(timezone(timedelta(hours=3)))))
TEXT = st.text(max_size=12)
MAPS = st.dictionaries(TEXT, TEXT, max_size=4)


@st.composite
def updates(draw: st.DrawFn) -> SourceUpdate:
    return SourceUpdate(
        action=draw(TEXT),
        message=draw(TEXT),
        user=draw(TEXT),
        at=draw(TIMES),
        acknowledged=draw(st.one_of(st.none(), st.booleans())),
        from_bridge=draw(st.booleans()),
    )


@st.composite
def alerts(draw: st.DrawFn, received_at: datetime) -> Alert:
    own_time = draw(st.booleans())
    return Alert(
        source=draw(st.sampled_from(Source)),
        source_ref=draw(TEXT),
        fingerprint=draw(TEXT),
        status=draw(st.sampled_from(Status)),
        name=draw(TEXT),
        host=draw(TEXT),
        severity=draw(st.sampled_from(Severity)),
        labels=draw(MAPS),
        annotations=draw(MAPS),
        starts_at=draw(TIMES),
        ends_at=draw(st.one_of(st.none(), TIMES)),
        url=draw(TEXT),
        received_at=received_at if own_time else draw(TIMES),
        update=draw(st.one_of(st.none(), updates())),
        origin=draw(st.sampled_from(["", "reconciliation"])),
        recurring=draw(st.booleans()),
    )


@st.composite
def parsed(draw: st.DrawFn) -> tuple[datetime, int | None, Delivery | None]:
    received_at = draw(TIMES)
    shard = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=2**31 - 1)))
    if draw(st.integers(min_value=0, max_value=9)) == 0:
        return received_at, shard, None  # a body that no longer parses
    delivery = Delivery(
        source=draw(st.sampled_from(Source)),
        dedup_key=draw(TEXT),
        alerts=tuple(draw(st.lists(alerts(received_at), max_size=3))),
        test=draw(st.booleans()),
    )
    return received_at, shard, delivery


def through_the_wire(received_at: datetime, shard: int | None, delivery: Delivery | None) -> Any:
    (item,) = wire.loads(wire.dumps([wire.pack(received_at, shard, delivery)]))
    return wire.unpack(item)


def zones(value: Any) -> list[Any]:
    """Every time in a value with its zone: equal datetimes in different zones compare equal."""
    if isinstance(value, datetime):
        return [(value, value.tzinfo)]
    if isinstance(value, Delivery):
        return [zones(alert) for alert in value.alerts]
    if isinstance(value, Alert | SourceUpdate):
        return [zones(getattr(value, name)) for name in value.__slots__]  # type: ignore[union-attr]
    if isinstance(value, tuple):
        return [zones(v) for v in value]
    return []


@given(parsed())
def test_a_parsed_delivery_comes_back_as_it_was(case: tuple[datetime, int | None, Delivery | None]) -> None:
    received_at, shard, delivery = case

    back = through_the_wire(received_at, shard, delivery)

    assert back == case
    assert zones(back) == zones(case)
    if delivery is not None:
        assert [(list(a.labels), list(a.annotations)) for a in back[2].alerts] == [
            (list(a.labels), list(a.annotations)) for a in delivery.alerts
        ]  # in the same order: rules and titles read them in order


def test_parsed_alertmanager_and_zabbix_deliveries_travel_compact() -> None:
    received_at = datetime(2026, 11, 23, 10, 0, 0, 123456, tzinfo=UTC)
    body = json.dumps(
        am_notification(am_alert("DiskFull", starts_at="2026-11-23T09:58:00.5+03:00", fingerprint="f1"))
    ).encode()
    delivery = parse_delivery(Source.ALERTMANAGER, body, received_at)

    packed = wire.pack(received_at, 7, delivery)

    assert packed[0] == wire.COMPACT
    assert through_the_wire(received_at, 7, delivery) == (received_at, 7, delivery)


def test_a_time_in_another_zone_sends_its_delivery_pickled() -> None:
    received_at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    moscow = received_at.astimezone(timezone(timedelta(hours=3)))
    alert = Alert(
        Source.ZABBIX,
        "1",
        "zabbix:z:1",
        Status.FIRING,
        "n",
        "h",
        Severity.HIGH,
        {},
        {},
        moscow,
        None,
        "",
        received_at,
    )
    delivery = Delivery(Source.ZABBIX, "key", (alert,))

    assert wire.pack(received_at, None, delivery)[0] == wire.PICKLED
    back = through_the_wire(received_at, None, delivery)[2]
    assert back == delivery and back.alerts[0].starts_at.tzinfo == moscow.tzinfo


@given(st.lists(parsed(), max_size=4))
def test_deliveries_packed_with_shared_texts_come_back_as_they_were(
    cases: list[tuple[datetime, int | None, Delivery | None]],
) -> None:
    """One `strings` for all the deliveries of a chunk changes nothing of what comes back."""
    strings: dict[str, str] = {}
    items = wire.loads(wire.dumps([wire.pack(*case, strings) for case in cases]))

    back = [wire.unpack(item) for item in items]

    assert back == cases
    assert [zones(b) for b in back] == [zones(c) for c in cases]
    for got, case in zip(back, cases, strict=True):
        if case[2] is not None:
            assert [(list(a.labels), list(a.annotations)) for a in got[2].alerts] == [
                (list(a.labels), list(a.annotations)) for a in case[2].alerts
            ]


def test_equal_texts_of_a_chunk_travel_once_and_come_back_one_object() -> None:
    received_at = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    deliveries = [
        parse_delivery(
            Source.ALERTMANAGER,
            json.dumps(
                am_notification(
                    am_alert("DiskFull", starts_at="2026-11-23T09:58:00Z", fingerprint=f"f{n}", job="node")
                )
            ).encode(),
            received_at,
        )
        for n in range(3)
    ]
    plain = wire.dumps([wire.pack(received_at, 1, d) for d in deliveries])
    strings: dict[str, str] = {}
    shared = wire.dumps([wire.pack(received_at, 1, d, strings) for d in deliveries])

    assert len(shared) < len(plain)
    first, second = (wire.unpack(item)[2] for item in wire.loads(shared)[:2])
    assert first is not None and second is not None
    assert first.alerts[0].labels["job"] is second.alerts[0].labels["job"]
