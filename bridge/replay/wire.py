"""Parsed deliveries in a compact form, for a replay whose reading and parsing runs in a process
of its own (`bridge.replay.shares`): the simulating process gets them back equal, field for
field, to what `parse_delivery` gave the reading one.

Pickling a parsed delivery cost more than parsing it again (15.8 µs per alert to pickle, 23.3 µs
to unpickle, 21.0 µs to parse), mostly for the datetimes and the slotted dataclasses. Here an
alert travels as a tuple of strings, numbers and its two label dicts, which `marshal` writes and
reads in C, with its times as whole microseconds since the epoch; rebuilding it fills the slots
directly. Anything outside that common shape (a time not in UTC, a map that is not a plain dict,
a field of another type) sends its whole delivery pickled instead: slower, still exact.
"""

from __future__ import annotations

import dataclasses
import marshal
import pickle
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.alert import Alert, Severity, Source, SourceUpdate, Status
from bridge.dedup.evolve import twin_of
from bridge.errors import NotCompact
from bridge.sources.delivery import Delivery

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# What one stored delivery becomes, by its first item.
UNREADABLE = 0  # (UNREADABLE, received_at, host_shard): it no longer parses
COMPACT = 1  # (COMPACT, received_at, host_shard, source, dedup_key, test, alerts)
PICKLED = 2  # (PICKLED, the pickled (received_at, host_shard, delivery))

_SOURCES = {s.value: s for s in Source}
_STATUSES = {s.value: s for s in Status}
_SEVERITIES = {s.value: s for s in Severity}
_new = object.__new__


def micros(instant: datetime) -> int:
    """Whole microseconds since the epoch of a UTC time (exact, unlike a float timestamp)."""
    if instant.tzinfo is not UTC:
        raise NotCompact
    return (instant - EPOCH) // _MICROSECOND


def instant(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


def pack(
    received_at: datetime,
    host_shard: int | None,
    delivery: Delivery | None,
    strings: dict[str, str] | None = None,
) -> tuple[Any, ...]:
    """One stored delivery as it was parsed (None: it no longer parses), for `unpack`.

    `strings`, one dict for all the deliveries of one `dumps`, makes equal texts of their alerts
    (label names and values, hosts, names, URLs) one object: marshal then writes each once and
    the rest as references to it, and `loads` makes one string of them, not one per alert (a
    third less to read and allocate on the replay's deciding process, and dict lookups with
    the key's hash already known)."""
    try:
        received = micros(received_at)
        if delivery is None:
            return (UNREADABLE, received, host_shard)
        share = _unshared if strings is None else strings.setdefault
        alerts = tuple(_pack_alert(alert, received_at, share) for alert in delivery.alerts)
        if type(delivery.dedup_key) is not str or type(delivery.test) is not bool:
            raise NotCompact
        source = delivery.source.value
        return (COMPACT, received, host_shard, source, delivery.dedup_key, delivery.test, alerts)
    except NotCompact:
        return (PICKLED, pickle.dumps((received_at, host_shard, delivery), pickle.HIGHEST_PROTOCOL))


def unpack(item: tuple[Any, ...]) -> tuple[datetime, int | None, Delivery | None]:
    """When a delivery was received, its host share, and the delivery (None: unreadable)."""
    kind = item[0]
    if kind == COMPACT:
        _, received, host_shard, source, dedup_key, test, packed = item
        received_at = EPOCH + timedelta(microseconds=received)
        # Each alert's slots filled in the loop (no call per alert), the delivery's as the alerts'
        # are: a replay's deciding process rebuilds every delivery of the history here.
        alerts = []
        for (
            alert_source,
            ref,
            fingerprint,
            status,
            name,
            host,
            severity,
            labels,
            annotations,
            starts,
            ends,
            url,
            alert_received,
            update,
            origin,
            recurring,
        ) in packed:
            alert = _new(_AlertTwin)  # its slots set plainly, then made an Alert (`twin_of`)
            alert.source = _SOURCES[alert_source]
            alert.source_ref = ref
            alert.fingerprint = fingerprint
            alert.status = _STATUSES[status]
            alert.name = name
            alert.host = host
            alert.severity = _SEVERITIES[severity]
            alert.labels = labels
            alert.annotations = annotations
            alert.starts_at = EPOCH + timedelta(microseconds=starts)
            alert.ends_at = None if ends is None else EPOCH + timedelta(microseconds=ends)
            alert.url = url
            alert.received_at = (
                received_at if alert_received is None else EPOCH + timedelta(microseconds=alert_received)
            )
            alert.update = None if update is None else _unpack_update(update)
            alert.origin = origin
            alert.recurring = recurring
            alert.__class__ = Alert
            alerts.append(alert)
        delivery = _new(_DeliveryTwin)
        delivery.source = _SOURCES[source]
        delivery.dedup_key = dedup_key
        delivery.alerts = tuple(alerts)
        delivery.test = test
        delivery.__class__ = Delivery
        return received_at, host_shard, delivery
    if kind == UNREADABLE:
        return instant(item[1]), item[2], None
    return pickle.loads(item[1])  # type: ignore[no-any-return]  # noqa: S301 - our own reading process


def dumps(items: list[tuple[Any, ...]]) -> bytes:
    return marshal.dumps(items)


def loads(data: bytes) -> list[tuple[Any, ...]]:
    return marshal.loads(data)  # type: ignore[no-any-return]  # noqa: S302 - our own reading process


_STRING_FIELDS = ("source_ref", "fingerprint", "name", "host", "url", "origin")


def _unshared(text: str, _: str) -> str:
    return text


def _pack_alert(alert: Alert, received_at: datetime, share: Callable[[str, str], str]) -> tuple[Any, ...]:
    # nearly always the delivery's own time: None says so, and it is rebuilt as that
    own_time = alert.received_at == received_at and alert.received_at.tzinfo is UTC
    for name in _STRING_FIELDS:
        if type(getattr(alert, name)) is not str:
            raise NotCompact
    if not (_plain_map(alert.labels) and _plain_map(alert.annotations) and type(alert.recurring) is bool):
        raise NotCompact
    return (
        alert.source.value,
        share(alert.source_ref, alert.source_ref),
        share(alert.fingerprint, alert.fingerprint),
        alert.status.value,
        share(alert.name, alert.name),
        share(alert.host, alert.host),
        alert.severity.value,
        {share(k, k): share(v, v) for k, v in alert.labels.items()},
        {share(k, k): share(v, v) for k, v in alert.annotations.items()},
        micros(alert.starts_at),
        None if alert.ends_at is None else micros(alert.ends_at),
        share(alert.url, alert.url),
        None if own_time else micros(alert.received_at),
        None if alert.update is None else _pack_update(alert.update),
        share(alert.origin, alert.origin),
        alert.recurring,
    )


def _plain_map(value: Any) -> bool:
    return type(value) is dict and all(type(k) is str and type(v) is str for k, v in value.items())


def _pack_update(update: SourceUpdate) -> tuple[Any, ...]:
    if not (
        type(update.action) is str
        and type(update.message) is str
        and type(update.user) is str
        and (update.acknowledged is None or type(update.acknowledged) is bool)
        and type(update.from_bridge) is bool
    ):
        raise NotCompact
    at = micros(update.at)
    return (update.action, update.message, update.user, at, update.acknowledged, update.from_bridge)


def _unpack_update(values: tuple[Any, ...]) -> SourceUpdate:
    action, message, user, at, acknowledged, from_bridge = values
    return SourceUpdate(action, message, user, instant(at), acknowledged, from_bridge)


# Alerts and deliveries are rebuilt as instances of a plain class with their slots, then made
# what they are (`bridge.dedup.evolve.twin_of`): a frozen dataclass's __init__ goes through
# object.__setattr__ for each field, which made rebuilding an alert cost a third of parsing it.
_ALERT_FIELDS = (
    "source",
    "source_ref",
    "fingerprint",
    "status",
    "name",
    "host",
    "severity",
    "labels",
    "annotations",
    "starts_at",
    "ends_at",
    "url",
    "received_at",
    "update",
    "origin",
    "recurring",
)
assert tuple(f.name for f in dataclasses.fields(Alert)) == _ALERT_FIELDS, "wire: Alert's fields changed"
assert tuple(f.name for f in dataclasses.fields(Delivery)) == ("source", "dedup_key", "alerts", "test")
_AlertTwin: Any = twin_of(Alert)
_DeliveryTwin: Any = twin_of(Delivery)
assert _AlertTwin is not None and _DeliveryTwin is not None, "wire: Alert or Delivery has no twin"
