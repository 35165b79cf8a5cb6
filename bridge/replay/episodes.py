"""Episodes: a history of deliveries cut into firings of one alert each, from its start until
bridge heard it resolved, under the rule that takes the alert today. What `bridge rules tune`
(`bridge.replay.tune`) measures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from bridge.alert import Source, Status
from bridge.dedup.rules import RuleKind, RuleSet
from bridge.errors import PayloadError
from bridge.replay.trace import Recorded
from bridge.sources import parse_delivery


@dataclass(frozen=True, slots=True)
class Episode:
    """One firing of one alert."""

    rule: str
    name: str
    host: str
    start: datetime
    end: datetime | None  # when bridge heard it resolved; None: still firing when the history ends
    in_maintenance: bool = False  # it started in one of the rules' maintenance windows

    def length(self, until: datetime) -> timedelta:
        return max((self.end or until) - self.start, timedelta(0))


class Episodes:
    """Cut deliveries into episodes, each under the rule that takes its alert today."""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.episodes: list[Episode] = []
        self.first_at: datetime | None = None
        self.last_at: datetime | None = None
        self.deliveries = 0
        self.alerts = 0
        self.unreadable = 0
        self._open: dict[tuple[str, datetime | None], Episode] = {}

    def feed(self, recorded: Recorded) -> None:
        at = recorded.received_at
        self.first_at = at if self.first_at is None or at < self.first_at else self.first_at
        self.last_at = at if self.last_at is None or at > self.last_at else self.last_at
        try:
            delivery = parse_delivery(recorded.source, recorded.body, at)
        except PayloadError:
            self.unreadable += 1
            return
        self.deliveries += 1
        for alert in delivery.alerts:
            self.alerts += 1
            if alert.update is not None and alert.status is Status.FIRING and alert.source is Source.ZABBIX:
                continue  # a comment or acknowledgement, not a state change
            rule = self.rules.first_match(alert)
            if rule.kind is RuleKind.HEARTBEAT:
                continue  # always firing by design: its gaps are what matters, not its length
            key = (alert.fingerprint, alert.starts_at if alert.recurring else None)
            known = self._open.get(key)
            if known is None:  # the first news of it (a recovery of a firing never seen has its start)
                planned = any(w.until(alert, alert.starts_at) for w in self.rules.maintenance)
                known = Episode(rule.name, alert.name, alert.host, alert.starts_at, None, planned)
            if alert.status is Status.FIRING:
                self._open[key] = known
                continue
            self._open.pop(key, None)
            # A hold sees an alert firing until bridge hears it resolved, which may be well
            # after the end the source reports (Alertmanager's group_interval).
            end = max(at, alert.ends_at or at, known.start)
            self.episodes.append(
                Episode(known.rule, known.name, known.host, known.start, end, known.in_maintenance)
            )

    def finish(self) -> list[Episode]:
        """Every episode, those still firing with `end` None, in start order."""
        found = self.episodes + list(self._open.values())
        self._open.clear()
        self.episodes = sorted(found, key=lambda e: (e.start, e.host, e.name))
        return self.episodes
