"""Noticing a Zabbix that calls itself something else than bridge expects.

Write-back and reconciliation only touch problems of `BRIDGE_ZABBIX_INSTANCE` (alerts
`zabbix:<instance>:<event id>`): with `{$BRIDGE.INSTANCE}` set in Zabbix and not in bridge (or the
other way round) they would skip everything without a word. So bridge says so: at start-up, from
the Zabbix alerts it stored last and from Zabbix's own macro when its API may read it; on the
first delivery from an instance it does not know; and in /readyz until it restarts.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from bridge.alert import Source
from bridge.db.models import AlertRow
from bridge.settings import Settings
from bridge.sources.zabbix import TEST_LABEL

log = logging.getLogger(__name__)

RECENT_ALERTS = 200
"""How many of the latest Zabbix alerts the start-up check reads for their instances."""
_REMEMBERED = 20  # instance names kept for /readyz: a misconfigured fleet must not grow this


class ZabbixInstances:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.expected = settings.zabbix_instance
        self.enabled = settings.zabbix_enabled
        self.sessions = sessions
        self._lock = threading.Lock()
        self._unknown: dict[str, str] = {}  # instance -> where it was seen

    def delivered(self, instance: str) -> None:
        """A delivery (not a test) came from `instance`: warn the first time it is not ours."""
        self.seen_in(instance, "a delivery")

    def seen_in(self, instance: str, where: str) -> None:
        """Zabbix says its instance is `instance` (e.g. its `{$BRIDGE.INSTANCE}` macro)."""
        if self.enabled and instance != self.expected and instance not in self._unknown:
            self._note(instance, where)

    def check_stored(self) -> None:
        """At start-up: the instances of the Zabbix alerts stored last."""
        if not self.enabled:
            return
        query = (
            select(AlertRow.fingerprint, AlertRow.labels)
            .where(AlertRow.source == Source.ZABBIX)
            .order_by(AlertRow.last_event_at.desc())
            .limit(RECENT_ALERTS)
        )
        try:
            with self.sessions() as session:
                rows = list(session.execute(query))
        except SQLAlchemyError as exc:
            log.debug("could not read the stored Zabbix alerts' instances: %s", exc)
            return
        for fingerprint, labels in rows:
            if TEST_LABEL not in (labels or {}):  # the media type's Test knows no macros: no sign
                instance = fingerprint.removeprefix("zabbix:").rsplit(":", 1)[0]
                self.seen_in(instance, "the Zabbix alerts stored last")

    @property
    def problem(self) -> str | None:
        """What /readyz says while an unknown instance has been seen; None when all is well."""
        with self._lock:
            unknown = dict(self._unknown)
        if not unknown:
            return None
        seen = ", ".join(f"{name!r} ({where})" for name, where in sorted(unknown.items()))
        return (
            f"degraded: Zabbix instance {seen} is not BRIDGE_ZABBIX_INSTANCE={self.expected!r}: "
            "write-back and reconciliation skip its problems"
        )

    def _note(self, instance: str, where: str) -> None:
        with self._lock:
            if instance in self._unknown or len(self._unknown) >= _REMEMBERED:
                return
            self._unknown[instance] = where
        log.warning(
            "Zabbix instance %r (%s) is not BRIDGE_ZABBIX_INSTANCE=%r: write-back to Zabbix and "
            "reconciliation skip its problems. Set {$BRIDGE.INSTANCE} in Zabbix and "
            "BRIDGE_ZABBIX_INSTANCE in bridge to the same name.",
            instance,
            where,
            self.expected,
        )
