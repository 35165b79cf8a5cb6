"""Compiled rules: what `bridge.dedup.loader` builds from YAML and the engine decides with.

Every rule is fully resolved at load time (defaults applied, regexes compiled) and the rule set
keeps an index by the equality matcher each rule is most selective on, so that finding the first
matching rule looks at a handful of candidates instead of every rule.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from bridge.alert import Alert, Severity
from bridge.dedup.matchers import Matcher, MatchOp
from bridge.priority import Priority

DEFAULT_RULE_NAME = "default"
"""The rule that applies when no rule matches: the `defaults` section on its own."""


class Action(StrEnum):
    OPEN = "open"  # the alert may open or join an incident (after for / threshold)
    DROP = "drop"  # recorded with the reason, never an incident


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
    silence_on_ack: timedelta | None = None  # acknowledging silences its Alertmanager alerts this long
    file: str = ""
    line: int = 0

    def matches(self, alert: Alert) -> bool:
        return all(m.matches(alert) for m in self.matchers)

    def index_key(self) -> tuple[str, str] | None:
        """The (key, value) of an equality matcher to index this rule under, preferring `name`."""
        equal = [m for m in self.matchers if m.op is MatchOp.EQUAL and m.value]
        for preferred in ("name", "host", "source", "severity"):
            for m in equal:
                if m.key == preferred:
                    return (m.key, m.value)
        return (equal[0].key, equal[0].value) if equal else None


@dataclass(frozen=True, slots=True)
class Defaults:
    group_by: tuple[str, ...] = ("source", "host", "name")
    resolve_after: timedelta = timedelta(minutes=5)
    reopen_within: timedelta = timedelta(hours=1)
    priority: PrioritySpec = PrioritySpec(default=Priority.P3)


class RuleSet:
    """An ordered list of rules, first match wins, plus the fallback rule built from defaults."""

    def __init__(
        self, rules: list[Rule], defaults: Defaults, sources: Mapping[str, str] | None = None
    ) -> None:
        self.rules = tuple(rules)
        self.defaults = defaults
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
        )
        self.by_name: dict[str, Rule] = {r.name: r for r in self.rules}
        self.by_name.setdefault(DEFAULT_RULE_NAME, self.fallback)
        self.files = dict(sources or {})
        digest = hashlib.sha256()
        for name in sorted(self.files):
            digest.update(name.encode() + b"\x00" + self.files[name].encode() + b"\x00")
        self.version = digest.hexdigest()[:12]
        self._index: dict[tuple[str, str], list[int]] = {}
        self._unindexed: list[int] = []
        for position, rule in enumerate(self.rules):
            key = rule.index_key()
            if key is None:
                self._unindexed.append(position)
            else:
                self._index.setdefault(key, []).append(position)
        self._index_keys = sorted({k for k, _ in self._index})

    def first_match(self, alert: Alert) -> Rule:
        """The first rule (in file order) whose matchers all match, else the fallback rule."""
        candidates = list(self._unindexed)
        for key in self._index_keys:
            bucket = self._index.get((key, alert.field(key)))
            if bucket:
                candidates.extend(bucket)
        if len(candidates) > 1:
            candidates.sort()
        for position in candidates:
            rule = self.rules[position]
            if rule.matches(alert):
                return rule
        return self.fallback

    def rule_named(self, name: str) -> Rule:
        """The rule called `name`, or the fallback when a reload removed it."""
        return self.by_name.get(name, self.fallback)
