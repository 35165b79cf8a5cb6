"""The normalized alert: the one type that crosses from the sources into the rules.

Each source parses its own payload into `Alert`s (see `bridge.sources`); from there on nothing
looks at the raw payload again. Enumerations are `StrEnum`s so they store and serialize as text.
The bounds below are what every Alert keeps to (the parsers refuse or cut what is longer) and
the widths of the database columns that store its fields (`bridge.db.models` declares them so).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bridge.slots import quick_init

FINGERPRINT_MAX = 200
"""The longest `Alert.fingerprint`: the width of every column that names an alert."""
SOURCE_REF_MAX = 200
NAME_MAX = 500
HOST_MAX = 255
DELIVERY_KEY_MAX = 200
"""The longest idempotency key of a delivery (`Delivery.dedup_key`, the intake log's column)."""
TEXT_MAX = 16_384
"""The longest label or annotation value, URL, or text a person wrote in the source that an
Alert keeps. The database columns behind these (JSON, TEXT) take more; the bound keeps a 1 MB
annotation out of every page, notification and timeline entry that shows it."""
USER_MAX = 100
"""The longest name of a person acting in the source (`SourceUpdate.user`): the timeline's actor
column holds it with the source's name before it."""
TRUNCATED = "…[truncated]"
BIGINT_MAX = 2**63 - 1
"""The largest whole number a BIGINT column holds (SQLite's INTEGER is as wide): ids, incident
numbers, Zabbix event ids."""


def fit(text: str, limit: int) -> str:
    """`text` if it has at most `limit` characters, else its beginning followed by TRUNCATED, in
    `limit` characters: a value cut short says so wherever it is shown."""
    if len(text) <= limit:
        return text
    return text[: limit - len(TRUNCATED)] + TRUNCATED


class Source(StrEnum):
    ALERTMANAGER = "alertmanager"
    ZABBIX = "zabbix"


class Status(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


class Severity(StrEnum):
    """Severity words shared by both sources, most severe first."""

    CRITICAL = "critical"
    HIGH = "high"
    AVERAGE = "average"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for critical ... 4 for info: lower is more severe."""
        return _SEVERITY_ORDER.index(self)


_SEVERITY_ORDER = list(Severity)


@dataclass(frozen=True, slots=True)
class SourceUpdate:
    """Something a person did in the source system (a Zabbix acknowledgement, comment, close...)."""

    action: str
    message: str
    user: str
    at: datetime
    acknowledged: bool | None = None
    from_bridge: bool = False  # the echo of something bridge itself wrote into the source

    @property
    def acknowledges(self) -> bool:
        """A person acknowledged the problem (not just commented on an acknowledged one)."""
        words = self.action.lower()
        return bool(self.acknowledged) and "acknowledged" in words and "unacknowledged" not in words


@quick_init  # a storm's notification builds 50; the generated __init__ was a sixth of parsing it
@dataclass(frozen=True, slots=True)
class Alert:
    """One event about one alert, normalized.

    `fingerprint` is the stable identity of the condition: an Alertmanager alert keeps it when it
    resolves and fires again (one occurrence is fingerprint + `starts_at`); a Zabbix problem is
    identified by its instance and problem event id. `ends_at` is None while firing.
    """

    source: Source
    source_ref: str
    fingerprint: str
    status: Status
    name: str
    host: str
    severity: Severity
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime
    ends_at: datetime | None
    url: str
    received_at: datetime
    update: SourceUpdate | None = None
    origin: str = ""
    """Empty for a delivery the source sent; "reconciliation" for one bridge made up from the
    source's API after finding it had missed something."""
    recurring: bool = True
    """The same fingerprint can fire again with a new `starts_at` (Alertmanager). False when each
    occurrence has a fingerprint of its own (a Zabbix problem): then `starts_at` never tells
    occurrences apart, and a message that disagrees about it is still about the same one."""

    @property
    def event_at(self) -> datetime:
        """When the state this event reports began: the start while firing, the end once resolved."""
        if self.status is Status.RESOLVED and self.ends_at is not None:
            return self.ends_at
        return self.starts_at

    def field(self, key: str) -> str:
        """The value a rule matcher or `group_by` sees for `key` ("" when absent, as in Alertmanager).

        Normalized fields win over labels of the same name; `labels.x` and `annotations.x` are explicit.
        """
        getter = _FIELD_GETTERS.get(key)
        if getter is not None:
            return getter(self)
        if key.startswith("labels."):
            return self.labels.get(key[7:], "")
        if key.startswith("annotations."):
            return self.annotations.get(key[12:], "")
        return self.labels.get(key, "")


_FIELD_GETTERS: dict[str, Callable[[Alert], str]] = {
    "source": lambda a: a.source.value,
    "source_ref": lambda a: a.source_ref,
    "fingerprint": lambda a: a.fingerprint,
    "status": lambda a: a.status.value,
    "name": lambda a: a.name,
    "host": lambda a: a.host,
    "severity": lambda a: a.severity.value,
}

ALERT_FIELDS = frozenset(_FIELD_GETTERS)
"""Names a rule can match or group on besides labels (`labels.x`, `annotations.x` and bare label names)."""
