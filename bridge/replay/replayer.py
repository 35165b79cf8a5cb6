"""Replay recorded deliveries through a rules directory in simulated time and sum up what the
rules made of them: incidents opened, alerts suppressed by reason, figures per rule, time from
first alert to incident. What `bridge rules replay` prints.

Replaying is the pipeline without the database: each delivery is parsed as the worker parses it
and its alerts are decided with `now` = when it was received, so holds, windows and
resolve_after follow the recorded time, not the wall clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bridge.alert import Alert
from bridge.dedup.engine import Engine
from bridge.dedup.evolve import quick_init
from bridge.dedup.rules import Rule, RuleKind, RuleSet
from bridge.dedup.simulator import SimIncident, Simulator
from bridge.dedup.state import Disposition, EngineTimer, Silence
from bridge.errors import PayloadError
from bridge.replay.trace import Recorded
from bridge.sources import Delivery, host_shard, parse_delivery
from bridge.ticketing.sla import middle, percentile

Route = tuple[str, str | None]
"""An alert's first route worked out by the process that reads the history: the name of the rule
that matches it and its group (None: dropped), as `Engine.first_route` gives them."""


def first_routes(engine: Engine, alerts: Sequence[Alert]) -> tuple[Route, ...]:
    """The `Route` of each alert, for `Replay.feed_parsed` in another process."""
    routes = []
    for alert in alerts:
        rule, target = engine.first_route(alert)
        routes.append((rule.name, target))
    return tuple(routes)


SUPPRESSION_KINDS = ("dropped", "threshold", "for", "flapping", "inhibited", "maintenance", "silenced")
"""Why alerts did not become incidents, in the order reports show them. `flapping` counts the
occurrences an incident absorbed while flapping (each would have resolved and reopened it)."""


def suppression_kind(disposition: Disposition, reason: str, suppressed_by: str | None) -> str | None:
    """The reason kind of an alert held back (or cleared while held), None for one that is not."""
    if disposition is Disposition.DROPPED:
        return "dropped"
    if disposition is Disposition.INHIBITED:
        return "inhibited"
    if disposition is Disposition.SUPPRESSED:
        return "silenced" if (suppressed_by or "").startswith("silence:") else "maintenance"
    if disposition in (Disposition.WAITING, Disposition.CLEARED):
        return waiting_kind(reason)
    return None  # in an incident, or a heartbeat checking in


def waiting_kind(reason: str) -> str | None:
    """`for` or `threshold`, from what a waiting (or cleared) alert's reason says it waited for:
    "waiting: threshold 1 of 3 within 15m", "waiting: for 5m: firing since ...". A met threshold
    followed by a hold that is not over yet is `for`."""
    # read in place from where the prefixes end: no copy of the reason per alert held
    start = len(_WAITING) if reason.startswith(_WAITING) else 0
    if reason.startswith(_CLEARED, start):
        start += len(_CLEARED)
    if reason.startswith("for ", start) or reason.find("; for ", start) >= 0:
        return "for"
    return "threshold" if reason.startswith("threshold ", start) else None


_WAITING = "waiting: "
_CLEARED = "resolved before opening an incident ("


@dataclass
class RuleFigures:
    alerts: int = 0  # alert events decided under the rule
    incidents: int = 0  # incidents the rule opened
    suppressed: int = 0  # alert occurrences it kept from becoming incidents


@quick_init  # one per alert occurrence an incident took in: a long replay makes hundreds of thousands
@dataclass(frozen=True, slots=True)
class Attachment:
    """An alert occurrence joining an incident: when, which alert, and what it was about. What
    lets a scorer or `bridge rules tune` tell which episodes each incident holds."""

    at: datetime
    fingerprint: str
    name: str
    host: str

    def as_json(self) -> dict[str, str]:
        return {
            "at": self.at.isoformat(),
            "fingerprint": self.fingerprint,
            "name": self.name,
            "host": self.host,
        }


@dataclass(frozen=True, slots=True)
class IncidentSummary:
    number: int
    group_key: str
    rule: str
    priority: str
    title: str
    first_alert_at: datetime
    opened_at: datetime
    resolved_at: datetime | None
    reopen_count: int
    alerts: int
    flapping: bool
    step: tuple[Any, ...] = ()  # where in the history it opened: orders incidents from several shares
    members: tuple[Attachment, ...] = ()  # every alert occurrence that joined it, in order (replays only)

    @property
    def delay(self) -> timedelta:
        return max(self.opened_at - self.first_alert_at, timedelta(0))

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "group_key": self.group_key,
            "rule": self.rule,
            "priority": self.priority,
            "title": self.title,
            "first_alert_at": self.first_alert_at.isoformat(),
            "opened_at": self.opened_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "reopen_count": self.reopen_count,
            "alerts": self.alerts,
            "flapping": self.flapping,
            "members": [m.as_json() for m in self.members],
        }


@dataclass
class Summary:
    """What one set of rules made of a history (or what the database recorded of it)."""

    label: str
    deliveries: int = 0
    alerts: int = 0
    unreadable: int = 0  # deliveries that no longer parse (a parser change); counted, skipped
    redeliveries: int = 0  # trace lines the intake would have refused as a redelivery
    first_at: datetime | None = None
    last_at: datetime | None = None
    outcomes: Counter[str] = field(default_factory=Counter)
    suppressed: Counter[str] = field(default_factory=Counter)
    rules: dict[str, RuleFigures] = field(default_factory=dict)
    incidents: list[IncidentSummary] = field(default_factory=list)
    exact_suppressed: bool = True  # False for the database's side: it keeps only each alert's last state

    @property
    def incidents_opened(self) -> int:
        return len(self.incidents)

    def delays(self) -> dict[str, float | None]:
        """Seconds from first alert to incident: median, 90th percentile, max."""
        values = [i.delay.total_seconds() for i in self.incidents]
        return {"median": middle(values), "p90": percentile(values, 0.9), "max": max(values, default=None)}

    def rule(self, name: str) -> RuleFigures:
        figures = self.rules.get(name)
        if figures is None:
            figures = self.rules[name] = RuleFigures()
        return figures

    def as_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "deliveries": self.deliveries,
            "alerts": self.alerts,
            "unreadable": self.unreadable,
            "redeliveries": self.redeliveries,
            "from": self.first_at.isoformat() if self.first_at else None,
            "until": self.last_at.isoformat() if self.last_at else None,
            "incidents_opened": self.incidents_opened,
            "suppressed": {kind: self.suppressed.get(kind, 0) for kind in SUPPRESSION_KINDS},
            "outcomes": dict(sorted(self.outcomes.items())),
            "time_to_incident_s": self.delays(),
            "rules": {
                name: {"alerts": f.alerts, "incidents": f.incidents, "suppressed": f.suppressed}
                for name, f in sorted(self.rules.items())
            },
            "incidents": [i.as_json() for i in self.incidents],
        }


class Replay:
    """Feed recorded deliveries in order; `finish` lets time run out and sums up.

    With `share=(index, count)` this replay decides only the alerts whose host falls in share
    `index` of `count` (see `bridge.sources.host_shard`); it is still fed every delivery of the
    history, in order, so that its clock moves as one replay's would (another share's delivery
    comes as its `received_at` alone). Shares of rules that keep hosts apart add up to the whole
    replay (`bridge.replay_shares`)."""

    def __init__(
        self,
        rules: RuleSet,
        label: str,
        silences: tuple[Silence, ...] = (),
        *,
        refuse_redeliveries: bool = False,
        share: tuple[int, int] | None = None,
    ) -> None:
        self.rules = rules
        self.simulator = Simulator(Engine(rules), silences)
        self.summary = Summary(label)
        self.share = share
        # A trace may hold what the intake refused (an HA peer's copy): skip those as it would.
        self._seen_keys: set[str] | None = set() if refuse_redeliveries else None
        self._held: dict[tuple[str, int], tuple[str, str]] = {}  # occurrence -> (kind, rule)
        self._about: dict[str, tuple[str, str]] = {}  # fingerprint -> (name, host), for incident members
        self._matched: dict[str, Rule] = {}  # rule name -> the rule, for routes worked out elsewhere
        self._rows = 0

    def feed(self, recorded: Recorded | datetime) -> None:
        """One delivery of the history; a bare time is another share's delivery."""
        if isinstance(recorded, datetime):
            self._tick(recorded)
            return
        try:
            delivery = parse_delivery(recorded.source, recorded.body, recorded.received_at)
        except PayloadError:
            delivery = None
        self.feed_parsed(recorded.received_at, recorded.host_shard, delivery)

    def feed_parsed(
        self,
        received_at: datetime,
        shard: int | None,
        delivery: Delivery | None,
        routes: Sequence[Route] | None = None,
    ) -> None:
        """One delivery of the history as `parse_delivery` made it of the stored body (None: it
        no longer parses) and the host share stored with it: `feed` when another process parsed.
        `routes`, when that process worked them out, are its alerts' first routes (`Route`)."""
        self._tick(received_at)
        summary = self.summary
        # A delivery about several hosts (or stored before host shares were recorded) reaches
        # every share; each decides its own hosts' alerts and the first one counts it.
        index, count = self.share or (0, 1)
        mixed = count > 1 and shard is None
        counts = int(not mixed or index == 0)
        if delivery is None:
            summary.unreadable += counts
            return
        if self._seen_keys is not None:
            if delivery.dedup_key in self._seen_keys:
                summary.redeliveries += 1
                return
            self._seen_keys.add(delivery.dedup_key)
        summary.deliveries += counts
        alerts: Iterable[tuple[int, Alert]] = enumerate(delivery.alerts)
        if mixed:
            alerts = [(n, a) for n, a in alerts if host_shard(a.host) % count == index]
        if len(delivery.alerts) == 1:  # most deliveries: one alert releases nothing it resolves
            self._decide(alerts, received_at, routes)
            return
        alerts = list(alerts)
        with self.simulator.delivering(alert for _, alert in alerts):
            self._decide(alerts, received_at, routes)

    def _decide(
        self, alerts: Iterable[tuple[int, Alert]], received_at: datetime, routes: Sequence[Route] | None
    ) -> None:
        """Feed (number in its delivery, alert) pairs of one delivery to the simulator, counting
        what it decides."""
        simulator, summary = self.simulator, self.summary
        feed, outcomes, held, about = simulator.feed, summary.outcomes, self._held, self._about
        for number, alert in alerts:
            simulator.position = (self._rows, number)
            first = None if routes is None else self._first(alert, routes[number])
            decision = feed(alert, received_at, first)
            summary.alerts += 1
            outcomes[decision.outcome] += 1
            state = decision.alert
            if state is None:
                continue
            figures = summary.rules.get(state.rule)
            if figures is None:
                figures = summary.rule(state.rule)
            figures.alerts += 1
            if state.fingerprint not in about:
                about[state.fingerprint] = (alert.name, alert.host)
            kind = suppression_kind(state.disposition, state.reason, state.suppressed_by)
            if kind is not None:
                held[(state.fingerprint, state.occurrences)] = (kind, state.rule)

    def _first(self, alert: Alert, route: Route) -> tuple[Rule, str | None] | None:
        """The engine's `first_route(alert)` from its `route`; None when these rules do not know
        the rule it names (then the engine routes the alert itself)."""
        name, target = route
        rule = self._matched.get(name)
        if rule is None:
            rule = self.rules.first_match(alert)  # once per rule: then the very object it gives
            if rule.name != name:
                return None
            self._matched[name] = rule
        return rule, target

    def _tick(self, received_at: datetime) -> None:
        """The history reached the next delivery, received at `received_at`."""
        summary = self.summary
        self._rows += 1
        if summary.first_at is None or received_at < summary.first_at:
            summary.first_at = received_at
        if summary.last_at is None or received_at > summary.last_at:
            summary.last_at = received_at
        self.simulator.position = (self._rows, 0)
        self.simulator.tick(received_at)

    def finish(self, until: datetime | None = None) -> Summary:
        """Run the clock to `until` (default: long enough after the last delivery for every
        hold, resolve_after and flapping window pending then to play out) and sum up."""
        summary = self.summary
        end = until
        if end is None and summary.last_at is not None:
            end = summary.last_at + settling_time(self.rules)
            self.simulator.cancel_timers(EngineTimer.HEARTBEAT, after=summary.last_at)
        if end is not None:
            self.simulator.position = (self._rows + 1, 0)
            self.simulator.advance(end)
        reached = self.simulator.reached
        for occurrence, (kind, rule) in self._held.items():
            if occurrence not in reached:
                summary.suppressed[kind] += 1
                summary.rule(rule).suppressed += 1
        summary.suppressed["flapping"] += self.simulator.flapping_attached
        for incident in self.simulator.incidents:
            summary.incidents.append(_summary_of(incident, self._about))
            summary.rule(incident.rule).incidents += 1
        summary.outcomes = Counter({str(k): v for k, v in summary.outcomes.items() if v})
        return summary


def settling_time(rules: RuleSet) -> timedelta:
    """How long what is pending at the end of a history takes to play out. Heartbeats are left
    out (and their timers cancelled): the history's end is not their loss."""
    spans = [timedelta(minutes=1)]
    for rule in (*rules.rules, rules.fallback):
        if rule.kind is RuleKind.HEARTBEAT:
            continue
        spans += [rule.resolve_after, rule.hold or timedelta(0)]
        if rule.flapping is not None:
            spans.append(rule.flapping.within + rule.resolve_after)
    return max(spans) + timedelta(seconds=1)


MEMBER_EVENTS = ("alert", "alert_fired")
"""Timeline kinds of a simulated incident that say an alert occurrence joined it."""


def _summary_of(incident: SimIncident, about: dict[str, tuple[str, str]]) -> IncidentSummary:
    members = tuple(
        Attachment(at, fingerprint, *about.get(fingerprint, ("", "")))
        for at, kind, fingerprint in incident.timeline
        if kind in MEMBER_EVENTS
    )
    return IncidentSummary(
        number=incident.number,
        group_key=incident.group_key,
        rule=incident.rule,
        priority=incident.priority.value,
        title=incident.title,
        first_alert_at=incident.first_alert_at,
        opened_at=incident.opened_at,
        resolved_at=incident.resolved_at,
        reopen_count=incident.reopen_count,
        alerts=len(incident.alerts),
        flapping=incident.flapping,
        step=incident.step,
        members=members,
    )
