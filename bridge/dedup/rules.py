"""Compiled rules: what `bridge.dedup.loader` builds from YAML and the engine decides with.

Every rule is fully resolved at load time (defaults applied, regexes compiled) and the rule set
keeps an index by the equality matcher each rule is most selective on (or, for a rule with
none, by the literal start of a regex), so that finding the matching rules looks at a handful of
candidates instead of every rule: rules that cannot match an alert cost it nothing.

The first matching rule decides. A rule with `continue: true` lets the rules after it add to
the decision: each later matching rule contributes only the keys no earlier rule set, until a
matching rule without `continue` (or the defaults) ends the chain; its name is the rule's name.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from bridge.alert import Alert, Severity
from bridge.dedup.matchers import Matcher, MatchOp
from bridge.priority import Priority
from bridge.schedule.windows import OneOff, WeeklyWindow

DECIDED_CACHE = 50_000
"""Distinct combinations of matched values remembered (a few MB at most)."""

DEFAULT_RULE_NAME = "default"
"""The rule that applies when no rule matches: the `defaults` section on its own."""


class Action(StrEnum):
    OPEN = "open"  # the alert may open or join an incident (after for / threshold)
    DROP = "drop"  # recorded with the reason, never an incident


class OpenWhen(StrEnum):
    """How `threshold:` and `for:` combine when a rule has both (`open_when:` in YAML)."""

    ALL = "all"  # count, then hold: the threshold must be met, then the group must keep firing `for:`
    ANY = "any"  # either opens: firing `for:` without a break, or `threshold:` starts within its window


class RuleKind(StrEnum):
    ALERT = "alert"  # alerts open incidents
    HEARTBEAT = "heartbeat"  # an alert that must keep coming: its absence opens an incident


@dataclass(frozen=True, slots=True)
class PrioritySpec:
    """A fixed priority, or one chosen by the alert's severity with a fallback."""

    default: Priority
    by_severity: Mapping[Severity, Priority] = field(default_factory=dict)

    def for_severity(self, severity: Severity) -> Priority:
        return self.by_severity.get(severity, self.default)


@dataclass(frozen=True, slots=True)
class Threshold:
    """Open only after `count` occurrences whose starts fit in a window of `within`."""

    count: int
    within: timedelta


@dataclass(frozen=True, slots=True)
class StormSpec:
    """`storm:` in YAML: `hosts` distinct hosts starting to alert within `within` are one storm,
    one incident. While another host started alerting within `within`, an alert that would open
    an incident at once waits `grace` first, so that a storm being recognised can take it."""

    hosts: int
    within: timedelta
    grace: timedelta


@dataclass(frozen=True, slots=True)
class Flapping:
    """Flapping once `changes` fires and resolutions happen within `within`; calm again below `below`."""

    changes: int
    within: timedelta
    below: int


@dataclass(frozen=True, slots=True)
class Inhibition:
    """While an alert of this rule fires, alerts matching `matchers` with equal `equal` values wait."""

    matchers: tuple[Matcher, ...]
    equal: tuple[str, ...]

    def key(self, alert: Alert) -> tuple[str, ...]:
        return tuple(map(alert.field, self.equal))


@dataclass(frozen=True, slots=True)
class ClientSpec:
    """Whose system an alert is about: a fixed name, a label's value, or a host group's name."""

    value: str | None = None
    label: str | None = None
    host_group: re.Pattern[str] | None = None  # the first group fully matching; its first (...) if any

    def client_of(self, alert: Alert) -> str | None:
        if self.value is not None:
            return self.value
        if self.label is not None:
            return alert.field(self.label) or None
        if self.host_group is not None:
            for group in alert.labels.get("host_groups", "").split(", "):
                found = self.host_group.fullmatch(group)
                if found:
                    return found.group(1) if found.groups() else group
        return None


@dataclass(frozen=True, slots=True)
class Maintenance:
    """A window during which matching alerts are recorded as suppressed instead of paging anyone."""

    name: str
    matchers: tuple[Matcher, ...]
    windows: tuple[WeeklyWindow, ...]
    once: tuple[OneOff, ...]
    tz: ZoneInfo
    file: str = ""
    line: int = 0

    def until_any(self, at: datetime) -> datetime | None:
        """The end of the window occurrence covering `at` (for any alert), or None."""
        for one in self.once:
            if one.contains(at):
                return one.end
        for window in self.windows:
            occurrence = window.occurrence(at, self.tz)
            if occurrence is not None:
                return occurrence[1]
        return None

    def until(self, alert: Alert, at: datetime) -> datetime | None:
        """The end of the window occurrence that covers `at` for this alert, or None."""
        for matcher in self.matchers:  # a loop, not all(...): no generator per alert and window
            if not matcher.matches(alert):
                return None
        return self.until_any(at)


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    matchers: tuple[Matcher, ...]
    action: Action
    group_by: tuple[str, ...]
    priority: PrioritySpec
    hold: timedelta | None  # `for:` in YAML
    threshold: Threshold | None
    resolve_after: timedelta
    reopen_within: timedelta
    open_when: OpenWhen = OpenWhen.ALL
    storm: bool = True  # counts towards (and joins) an alert storm, when the rules set `storm:`
    silence_on_ack: timedelta | None = None  # acknowledging silences its Alertmanager alerts this long
    kind: RuleKind = RuleKind.ALERT
    every: timedelta | None = None  # heartbeat: it must come at least this often
    dedup_by: tuple[str, ...] = ()  # alerts equal in these fields are one alert
    flapping: Flapping | None = None
    inhibits: Inhibition | None = None
    route: str | None = None  # escalation policy / team
    client: ClientSpec | None = None
    support_line: str | None = None  # `line:` in YAML: L1, L2 or L3 for its new incidents
    proceed: bool = False  # `continue:` in YAML
    explicit: frozenset[str] = frozenset()  # the keys written in the file (what `continue` can add)
    chain: tuple[str, ...] = ()  # names of the rules merged into this one by `continue`
    file: str = ""
    line: int = 0

    def matches(self, alert: Alert) -> bool:
        return all(m.matches(alert) for m in self.matchers)

    def index_key(self, spread: Mapping[str, int]) -> tuple[str, str] | None:
        """The (key, value) of the equality matcher to index this rule under: the one whose key
        takes the most distinct values across the rules (`spread`), as a team or a service name
        sorts rules into small buckets where a severity or a source cannot; `name` on a tie."""
        equal = [m for m in self.matchers if m.op is MatchOp.EQUAL and m.value]
        if not equal:
            return None
        best = max(equal, key=lambda m: (spread.get(m.key, 0), m.key == "name"))
        return (best.key, best.value)

    def prefix_key(self) -> tuple[str, str] | None:
        """For a rule no equality can index: the (key, literal start) of its regex matcher with
        the longest literal start, which every alert it matches has."""
        best: tuple[str, str] | None = None
        for m in self.matchers:
            prefix = m.required_prefix()
            if prefix and (best is None or len(prefix) > len(best[1])):
                best = (m.key, prefix)
        return best

    @property
    def describe(self) -> str:
        """ "disk-space", or "tag-acme + disk-space" when `continue` merged rules."""
        return " + ".join(self.chain) if len(self.chain) > 1 else self.name


# YAML key -> Rule attribute, for what `continue` may carry over.
RULE_ATTRIBUTES = {
    "action": "action",
    "group_by": "group_by",
    "priority": "priority",
    "for": "hold",
    "threshold": "threshold",
    "open_when": "open_when",
    "storm": "storm",
    "resolve_after": "resolve_after",
    "reopen_within": "reopen_within",
    "silence_on_ack": "silence_on_ack",
    "dedup_by": "dedup_by",
    "flapping": "flapping",
    "inhibits": "inhibits",
    "route": "route",
    "client": "client",
    "line": "support_line",
}


@dataclass(frozen=True, slots=True)
class Defaults:
    group_by: tuple[str, ...] = ("source", "host", "name")
    resolve_after: timedelta = timedelta(minutes=5)
    reopen_within: timedelta = timedelta(hours=1)
    priority: PrioritySpec = PrioritySpec(default=Priority.P3)


class RuleSet:
    """An ordered list of rules, first match wins, plus the fallback rule built from defaults."""

    def __init__(
        self,
        rules: list[Rule],
        defaults: Defaults,
        sources: Mapping[str, str] | None = None,
        maintenance: tuple[Maintenance, ...] = (),
        declared_empty: bool = False,
        storm: StormSpec | None = None,
    ) -> None:
        self.rules = tuple(rules)
        self.defaults = defaults
        self.storm = storm
        self.maintenance = maintenance
        # A file says `rules: []`: no rules are meant, which a file cut short cannot say.
        self.declared_empty = declared_empty
        self.fallback = Rule(
            name=DEFAULT_RULE_NAME,
            matchers=(),
            action=Action.OPEN,
            group_by=defaults.group_by,
            priority=defaults.priority,
            hold=None,
            threshold=None,
            resolve_after=defaults.resolve_after,
            reopen_within=defaults.reopen_within,
            chain=(DEFAULT_RULE_NAME,),
        )
        self.by_name: dict[str, Rule] = {r.name: r for r in self.rules}
        self.by_name.setdefault(DEFAULT_RULE_NAME, self.fallback)
        self.inhibiting = tuple(r for r in self.rules if r.inhibits is not None)
        self.dedup = any(r.dedup_by for r in self.rules)
        self.files = dict(sources or {})
        digest = hashlib.sha256()
        for name in sorted(self.files):
            digest.update(name.encode() + b"\x00" + self.files[name].encode() + b"\x00")
        self.version = digest.hexdigest()[:12]
        # Candidates for an alert: the rules indexed under one of its (key, value) pairs, those
        # indexed under a literal start of one of its values (regexes), and the rest, which only
        # a scan can tell. A rule that cannot match is then never looked at, however many there are.
        self._index: dict[tuple[str, str], list[int]] = {}
        self._prefixed: dict[str, dict[int, dict[str, list[int]]]] = {}
        self._unindexed: list[int] = []
        values_by_key: dict[str, set[str]] = {}
        for rule in self.rules:
            for m in rule.matchers:
                if m.op is MatchOp.EQUAL and m.value:
                    values_by_key.setdefault(m.key, set()).add(m.value)
        spread = {key: len(values) for key, values in values_by_key.items()}
        for position, rule in enumerate(self.rules):
            key = rule.index_key(spread)
            prefix = None if key is not None else rule.prefix_key()
            if key is not None:
                self._index.setdefault(key, []).append(position)
            elif prefix is not None:
                by_length = self._prefixed.setdefault(prefix[0], {}).setdefault(len(prefix[1]), {})
                by_length.setdefault(prefix[1], []).append(position)
            else:
                self._unindexed.append(position)
        self._index_keys = sorted({k for k, _ in self._index})
        self._prefix_lookup = tuple(
            (key, tuple(sorted(by_length.items()))) for key, by_length in sorted(self._prefixed.items())
        )
        self._merged: dict[tuple[str, ...], Rule] = {}
        # The rule in force depends only on the values of the keys some matcher looks at, and a
        # storm repeats few combinations of them: remember the answer per combination.
        self._match_keys = tuple(sorted({m.key for r in self.rules for m in r.matchers}))
        self._decided: dict[tuple[str, ...], Rule] = {}

    def matching(self, alert: Alert) -> list[Rule]:
        """The rules that decide about `alert`: the first match and, while a match says `continue`,
        the matches after it (the defaults end a chain no rule ends)."""
        candidates = list(self._unindexed)
        for key in self._index_keys:
            bucket = self._index.get((key, alert.field(key)))
            if bucket:
                candidates.extend(bucket)
        for key, by_length in self._prefix_lookup:
            value = alert.field(key)
            for length, by_prefix in by_length:
                if length > len(value):
                    break
                bucket = by_prefix.get(value[:length])
                if bucket:
                    candidates.extend(bucket)
        if len(candidates) > 1:
            candidates.sort()
        chain = []
        for position in candidates:
            rule = self.rules[position]
            if rule.matches(alert):
                chain.append(rule)
                if not rule.proceed:
                    return chain
        chain.append(self.fallback)
        return chain

    def first_match(self, alert: Alert) -> Rule:
        """The rule in force for `alert`: its first match, merged with what `continue` adds."""
        values = tuple(map(alert.field, self._match_keys))
        rule = self._decided.get(values)
        if rule is None:
            if len(self._decided) >= DECIDED_CACHE:
                self._decided.clear()
            rule = self._decided[values] = self._first_match(alert)
        return rule

    def _first_match(self, alert: Alert) -> Rule:
        chain = self.matching(alert)
        if len(chain) == 1:
            return chain[0]
        names = tuple(r.name for r in chain)
        merged = self._merged.get(names)
        if merged is None:
            merged = self._merge(chain)
            self._merged[names] = merged
            self.by_name.setdefault(merged.name, merged)
        return merged

    def _merge(self, chain: list[Rule]) -> Rule:
        """The last rule of the chain, with every key an earlier rule set taking the earlier value."""
        last = chain[-1]
        changes: dict[str, object] = {}
        for rule in reversed(chain[:-1]):
            for key in rule.explicit:
                attribute = RULE_ATTRIBUTES.get(key)
                if attribute is not None:
                    changes[attribute] = getattr(rule, attribute)
        names = tuple(r.name for r in chain)
        return dataclasses.replace(last, chain=names, name="+".join(names), **changes)  # type: ignore[arg-type]

    def rule_named(self, name: str) -> Rule:
        """The rule called `name`, or the fallback when a reload removed it."""
        rule = self.by_name.get(name)
        if rule is None and "+" in name:
            parts = [self.by_name.get(part) for part in name.split("+")]
            if all(p is not None for p in parts):
                rule = self._merge([p for p in parts if p is not None])
                self.by_name[name] = rule
        return rule or self.fallback
