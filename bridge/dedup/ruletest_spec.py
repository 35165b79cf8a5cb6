"""Rule unit test files (`bridge rules test`): the model and its parser. Pure, no I/O.

A test file names a rules directory and holds tests; each test is a timeline of alert events
(minutes after its start) and expectations at given times. Parsing reports every mistake as
``file:line: reason`` at once, like the rules loader, and resolves each `resolved:` event and
each expected alert to exactly one alert of the test, so that a typo in a host name is a clear
error instead of a test that silently checks nothing. See docs/rule-tests.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bridge.alert import Severity, Source, Status
from bridge.dedup.loader import valid_key
from bridge.dedup.matchers import Matcher, parse_matcher
from bridge.dedup.state import Disposition, Outcome, Silence
from bridge.errors import RuleProblem, RulesError
from bridge.priority import Priority
from bridge.yamldoc import Path_, YamlDocument, did_you_mean

DEFAULT_START = datetime(2026, 1, 5, tzinfo=UTC)
"""A Monday, midnight UTC: when a test's clock starts unless it says `start:`."""

TOP_KEYS = ("rules", "timezone", "start", "tests")
TEST_KEYS = ("name", "start", "silences", "alerts", "expect")
EVENT_KEYS = ("at", "firing", "resolved")
SELECT_KEYS = ("source", "name", "host", "labels")
FIRING_KEYS = (*SELECT_KEYS, "severity", "annotations", "fingerprint")
SILENCE_KEYS = ("match", "from", "until", "author", "comment")
EXPECT_KEYS = ("at", "incidents", "alerts", "outcomes")
INCIDENT_KEYS = (
    "rule",
    "priority",
    "status",
    "title",
    "group_key",
    "alerts",
    "related",
    "flapping",
    "route",
    "client",
    "reopen_count",
    "opened_at",
    "resolved_at",
)
ALERT_CHECK_KEYS = ("disposition", "reason", "incident", "rule", "status")
INCIDENT_STATUSES = ("open", "resolved")  # the simulator has no operators to acknowledge or close


@dataclass(frozen=True, slots=True)
class AlertRef:
    """One alert of a test, as its `firing:` events name it."""

    source: Source
    name: str
    host: str
    labels: tuple[tuple[str, str], ...]
    key: str  # the stable identity: the given fingerprint, or a hash of the fields above

    def __str__(self) -> str:
        where = f" on {self.host}" if self.host else ""
        labels = ", ".join(f"{k}={v}" for k, v in self.labels)
        return f"{self.name}{where}" + (f" {{{labels}}}" if labels else "") + f" ({self.source})"


@dataclass(frozen=True, slots=True)
class Event:
    line: int
    at: timedelta
    status: Status
    ref: AlertRef
    severity: Severity
    annotations: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Check:
    """One expected value: `key` of an incident or an alert should be `expected`."""

    key: str
    expected: object


@dataclass(frozen=True, slots=True)
class IncidentExpectation:
    line: int
    checks: tuple[Check, ...]


@dataclass(frozen=True, slots=True)
class AlertExpectation:
    line: int
    ref: AlertRef
    checks: tuple[Check, ...]


@dataclass(frozen=True, slots=True)
class Expectation:
    line: int
    at: timedelta
    incidents: tuple[IncidentExpectation, ...] | None  # None: not checked
    alerts: tuple[AlertExpectation, ...]
    outcomes: Mapping[Outcome, int]


@dataclass(frozen=True, slots=True)
class RuleTest:
    name: str
    line: int
    start: datetime
    silences: tuple[Silence, ...]
    events: tuple[Event, ...]  # in time order
    expectations: tuple[Expectation, ...]  # in time order


@dataclass(frozen=True, slots=True)
class RuleTestFile:
    file: str
    rules_dir: Path
    rules_line: int  # where `rules:` is said (1 when it is not), for a rules directory that does not load
    timezone: ZoneInfo
    tests: tuple[RuleTest, ...]


def parse_test_file(file: str, text: str) -> RuleTestFile:
    """Parse a test file; raises RulesError listing every mistake. `rules:` is relative to it."""
    problems: list[RuleProblem] = []
    doc = RuleTestDocument(file, text, problems)
    parsed = doc.parse()
    if problems or parsed is None:
        problems = problems or [RuleProblem(file, 1, "the file is empty: it needs `tests:`")]
        raise RulesError(sorted(problems, key=lambda p: p.line))
    return parsed


def alert_key(source: Source, name: str, host: str, labels: Mapping[str, str]) -> str:
    """A stable identity of an alert that names no fingerprint: the same fields, the same key."""
    text = json.dumps([source.value, name, host, sorted(labels.items())])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class RuleTestDocument(YamlDocument):
    """One test file being parsed; problems go to the shared list."""

    def parse(self) -> RuleTestFile | None:
        if self.root is None:
            return None
        if not isinstance(self.root, dict):
            self.problem((), "a rule test file must be a mapping with `tests:` (and optionally `rules:`)")
            return None
        self.check_keys((), self.root, TOP_KEYS, "top-level key")
        rules = self.string(("rules",), self.root.get("rules"), "rules") or ".."
        tz = self.timezone(("timezone",), self.root.get("timezone"), ZoneInfo("UTC"))
        start = self.instant(("start",), self.root.get("start"), tz) or DEFAULT_START
        tests = self.root.get("tests")
        if not isinstance(tests, list) or not tests:
            self.problem(("tests",) if "tests" in self.root else (), "`tests:` must be a non-empty list")
            tests = []
        parsed: list[RuleTest] = []
        names: dict[str, int] = {}
        for i, item in enumerate(tests):
            test = self._test(("tests", i), item, tz, start)
            if test is None:
                continue
            if test.name in names:
                self.problem(
                    ("tests", i, "name"),
                    f"duplicate test name {test.name!r} (first at line {names[test.name]})",
                )
            names.setdefault(test.name, test.line)
            parsed.append(test)
        rules_dir = Path(self.file).parent / rules
        return RuleTestFile(self.file, rules_dir, self.key_line(("rules",)), tz, tuple(parsed))

    # -- one test -------------------------------------------------------------------------------

    def _test(self, path: Path_, value: Any, tz: ZoneInfo, start: datetime) -> RuleTest | None:
        if not isinstance(value, dict):
            self.problem(path, "each test must be a mapping with `name:`, `alerts:` and `expect:`")
            return None
        self.check_keys(path, value, TEST_KEYS, "test key")
        name = self.string((*path, "name"), value.get("name"), "test name")
        if name is None and "name" not in value:
            self.problem(path, "test has no `name:`")
        begin = self.instant((*path, "start"), value.get("start"), tz) or start
        silences = [
            s
            for i, item in enumerate(self._list((*path, "silences"), value.get("silences"), "silences"))
            if (s := self._silence((*path, "silences", i), item, i + 1, begin)) is not None
        ]
        events: list[Event] = []
        refs: dict[str, AlertRef] = {}
        items = self._list((*path, "alerts"), value.get("alerts"), "alerts")
        if not items and "alerts" not in value:
            self.problem(path, "test has no `alerts:` (the timeline of alert events)")
        timed: list[tuple[timedelta, int, dict[str, Any], bool]] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                self.problem(
                    (*path, "alerts", i),
                    "each alert event must be a mapping like {at: 0m, firing: {name: A}}",
                )
                continue
            at = self._at((*path, "alerts", i), item)
            # An event with a bad time is still checked, where it stands in the file.
            timed.append(
                (at if at is not None else timed[-1][0] if timed else timedelta(0), i, item, at is not None)
            )
        last: dict[str, Event] = {}
        for at, i, item, good in sorted(timed, key=lambda t: (t[0], t[1])):
            event = self._event((*path, "alerts", i), item, at, refs, last)
            if event is not None and good:
                events.append(event)
                last[event.ref.key] = event
        expectations = []
        checks = self._list((*path, "expect"), value.get("expect"), "expect")
        if not checks and "expect" not in value:
            self.problem(path, "test has no `expect:` (what should have happened, and when)")
        for i, item in enumerate(checks):
            expectation = self._expectation((*path, "expect", i), item, refs)
            if expectation is not None:
                expectations.append(expectation)
        expectations.sort(key=lambda e: e.at)
        return RuleTest(
            name or f"#{path[-1]}",
            self.line(path),
            begin.astimezone(UTC),
            tuple(silences),
            tuple(events),
            tuple(expectations),
        )

    def _silence(self, path: Path_, value: Any, number: int, start: datetime) -> Silence | None:
        if not isinstance(value, dict):
            self.problem(path, "each silence must be a mapping like {match: {host: web-01}, until: 2h}")
            return None
        self.check_keys(path, value, SILENCE_KEYS, "silence key")
        matchers = self._matchers((*path, "match"), value.get("match"))
        if not value.get("match"):
            self.problem(path, "a silence needs `match:` with at least one matcher")
        begin = self.duration((*path, "from"), value.get("from"), timedelta(0))
        end = self.duration((*path, "until"), value.get("until"), None)
        if "until" not in value:
            self.problem(path, "a silence needs `until:` (when it ends, e.g. 2h after the test's start)")
        if end is None or begin is None:
            return None
        if end <= begin:
            self.problem((*path, "until"), "`until` must be after `from`")
        author = self.string((*path, "author"), value.get("author"), "author") or "test"
        comment = "" if value.get("comment") is None else self.text_of((*path, "comment"), value["comment"])
        return Silence(number, matchers, start + begin, start + end, author, comment)

    # -- the timeline ---------------------------------------------------------------------------

    def _at(self, path: Path_, value: dict[str, Any]) -> timedelta | None:
        if "at" not in value:
            self.problem(path, "needs `at:` (the time since the test's start, e.g. at: 5m)")
            return None
        at: timedelta | None = self.duration((*path, "at"), value["at"], None)
        return at

    def _event(
        self,
        path: Path_,
        value: dict[str, Any],
        at: timedelta,
        refs: dict[str, AlertRef],
        last: dict[str, Event],
    ) -> Event | None:
        self.check_keys(path, value, EVENT_KEYS, "alert event key")
        kinds = [k for k in ("firing", "resolved") if k in value]
        if len(kinds) != 1:
            self.problem(path, "each alert event needs exactly one of `firing:` or `resolved:`")
            return None
        where = (*path, kinds[0])
        item = self.mapping(where, value[kinds[0]], f"`{kinds[0]}:`")
        if item is None:
            if value[kinds[0]] is None:
                self.problem(where, f"`{kinds[0]}:` needs at least `name:`")
            return None
        if kinds[0] == "resolved":
            self.check_keys(where, item, SELECT_KEYS, "key of a resolved alert")
            ref = self._select(where, item, refs, "resolves")
            if ref is None:
                return None
            before = last.get(ref.key)  # absent only when its firing event is broken itself
            severity = before.severity if before else Severity.WARNING
            annotations = before.annotations if before else {}
            return Event(self.line(path), at, Status.RESOLVED, ref, severity, annotations)
        self.check_keys(where, item, FIRING_KEYS, "alert key")
        name = self.string((*where, "name"), item.get("name"), "name")
        if name is None:
            self.problem(where, "a firing alert needs `name:`")
            return None
        source = self._enum((*where, "source"), item.get("source"), Source, "source") or Source.ALERTMANAGER
        host = self.string((*where, "host"), item.get("host"), "host") or ""
        labels = self._texts((*where, "labels"), item.get("labels"), "labels")
        given = self.string((*where, "fingerprint"), item.get("fingerprint"), "fingerprint")
        key = given or alert_key(source, name, host, labels)
        ref = AlertRef(source, name, host, tuple(sorted(labels.items())), key)
        known = refs.setdefault(key, ref)
        if known != ref:
            self.problem((*where, "fingerprint"), f"fingerprint {key!r} is already used by {known}")
        severity = self._enum((*where, "severity"), item.get("severity"), Severity, "severity")
        if severity is None:
            severity = last[key].severity if key in last else Severity.WARNING
        annotations = self._texts((*where, "annotations"), item.get("annotations"), "annotations")
        return Event(self.line(path), at, Status.FIRING, known, severity, annotations)

    def _select(
        self, path: Path_, item: dict[str, Any], refs: dict[str, AlertRef], verb: str
    ) -> AlertRef | None:
        """The one alert of the test these keys pick (a subset of its fields and labels)."""
        source = self._enum((*path, "source"), item.get("source"), Source, "source")
        name = self.string((*path, "name"), item.get("name"), "name")
        host = self.string((*path, "host"), item.get("host"), "host")
        labels = self._texts((*path, "labels"), item.get("labels"), "labels")
        if source is None and name is None and host is None and not labels:
            self.problem(path, f"say which alert it {verb}: `name:`, `host:`, `labels:` or `source:`")
            return None
        found = [
            ref
            for ref in refs.values()
            if (source is None or ref.source is source)
            and (name is None or ref.name == name)
            and (host is None or ref.host == host)
            and labels.items() <= dict(ref.labels).items()
        ]
        if len(found) == 1:
            return found[0]
        if not found:
            known = "; ".join(str(r) for r in refs.values()) or "none"
            which = "fired before it" if verb == "resolves" else "of this test"
            self.problem(path, f"no alert {which} matches (alerts: {known})")
        else:
            matched = "; ".join(str(r) for r in found)
            self.problem(path, f"{len(found)} alerts match ({matched}): add `host:` or `labels:` to pick one")
        return None

    # -- expectations ---------------------------------------------------------------------------

    def _expectation(self, path: Path_, value: Any, refs: dict[str, AlertRef]) -> Expectation | None:
        if not isinstance(value, dict):
            self.problem(
                path,
                "each expectation must be a mapping with `at:` and `incidents:`, `alerts:` or `outcomes:`",
            )
            return None
        self.check_keys(path, value, EXPECT_KEYS, "expectation key")
        at = self._at(path, value)
        if not any(k in value for k in ("incidents", "alerts", "outcomes")):
            self.problem(path, "an expectation needs `incidents:`, `alerts:` or `outcomes:`")
        incidents = None
        if "incidents" in value:
            items = self._list((*path, "incidents"), value["incidents"], "incidents") or []
            incidents = tuple(
                e for i, item in enumerate(items) if (e := self._incident((*path, "incidents", i), item))
            )
        alerts = tuple(
            a
            for i, item in enumerate(self._list((*path, "alerts"), value.get("alerts"), "alerts"))
            if (a := self._alert((*path, "alerts", i), item, refs))
        )
        outcomes: dict[Outcome, int] = {}
        counts = self.mapping((*path, "outcomes"), value.get("outcomes"), "outcomes") or {}
        for key, count in counts.items():
            where = (*path, "outcomes", key)
            outcome = self._enum(where, key, Outcome, "outcome", at_key=True)
            number = self.integer(where, count, f"outcome count {key!r}", 0)
            if outcome is not None and number is not None:
                outcomes[outcome] = number
        if at is None:
            return None
        return Expectation(self.line(path), at, incidents, alerts, outcomes)

    def _incident(self, path: Path_, value: Any) -> IncidentExpectation | None:
        if not isinstance(value, dict):
            self.problem(
                path, "each incident must be a mapping of what to check, e.g. {rule: cpu-load, priority: P3}"
            )
            return None
        self.check_keys(path, value, INCIDENT_KEYS, "incident key")
        checks = []
        for key in INCIDENT_KEYS:
            if key in value:
                where, raw = (*path, key), value[key]
                if key == "priority":
                    word = self._word(
                        where, self.text_of(where, raw).upper(), tuple(p.value for p in Priority), "priority"
                    )
                    expected: object = None if word is None else Priority(word)
                elif key == "status":
                    expected = self._word(where, raw, INCIDENT_STATUSES, "incident status")
                elif key in ("alerts", "related", "reopen_count"):
                    expected = self.integer(where, raw, f"`{key}`", 0)
                elif key == "flapping":
                    expected = raw if isinstance(raw, bool) else None
                    if expected is None:
                        self.problem(
                            where, f"`flapping` must be true or false, got {self.text_of(where, raw)!r}"
                        )
                elif key in ("opened_at", "resolved_at"):
                    expected = None if raw is None else self.duration(where, raw, None)
                else:  # rule, title, group_key, route, client: exact text, or null for none
                    expected = None if raw is None else self.text_of(where, raw)
                if expected is not None or raw is None:
                    checks.append(Check(key, expected))
        return IncidentExpectation(self.line(path), tuple(checks))

    def _alert(self, path: Path_, value: Any, refs: dict[str, AlertRef]) -> AlertExpectation | None:
        if not isinstance(value, dict):
            self.problem(
                path, "each alert must be a mapping like {name: HighCPU, host: web-01, disposition: waiting}"
            )
            return None
        self.check_keys(path, value, (*SELECT_KEYS, *ALERT_CHECK_KEYS), "key of an expected alert")
        checks = []
        for key in ALERT_CHECK_KEYS:
            if key in value:
                where, raw = (*path, key), value[key]
                if key == "disposition":
                    expected: object = self._enum(where, raw, Disposition, "disposition")
                elif key == "status":
                    expected = self._enum(where, raw, Status, "alert status")
                elif key == "incident":
                    expected = None if raw is None else self.integer(where, raw, "`incident`", 1)
                else:  # reason (a part of it), rule
                    expected = self.string(where, raw, f"`{key}`")
                if expected is not None or (key == "incident" and raw is None):
                    checks.append(Check(key, expected))
        if not any(k in value for k in ALERT_CHECK_KEYS):
            self.problem(path, f"say what to check about the alert: {', '.join(ALERT_CHECK_KEYS)}")
        ref = self._select(path, {k: v for k, v in value.items() if k in SELECT_KEYS}, refs, "checks")
        return None if ref is None else AlertExpectation(self.line(path), ref, tuple(checks))

    # -- values ---------------------------------------------------------------------------------

    def _list(self, path: Path_, value: Any, what: str) -> list[Any]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, f"`{what}:` must be a list (items start with `- `)")
            return []
        return value

    def _texts(self, path: Path_, value: Any, what: str) -> dict[str, str]:
        mapping = self.mapping(path, value, f"`{what}:`") or {}
        result = {}
        for key, item in mapping.items():
            if isinstance(item, dict | list) or item is None:
                self.problem((*path, key), f"{what} value {key!r} must be a single text")
            else:
                result[key] = self.text_of((*path, key), item)
        return result

    def _enum(self, path: Path_, value: Any, kind: Any, what: str, *, at_key: bool = False) -> Any:
        if value is None:
            return None
        text = str(value) if at_key else self.text_of(path, value)
        word = self._word(path, text, tuple(k.value for k in kind), what, at_key=at_key)
        return None if word is None else kind(word)

    def _word(
        self, path: Path_, value: Any, allowed: tuple[str, ...], what: str, *, at_key: bool = False
    ) -> str | None:
        text = str(value)
        if text not in allowed:
            self.problem(path, f"unknown {what} {text!r}{did_you_mean(text, allowed)}", at_key=at_key)
            return None
        return text

    def _matchers(self, path: Path_, value: Any) -> tuple[Matcher, ...]:
        mapping = self.mapping(path, value, "`match:`") or {}
        result = []
        for key, expression in mapping.items():
            where = (*path, key)
            if not valid_key(key):
                self.problem(where, f"cannot match on {key!r}: not a field nor a label name", at_key=True)
            elif isinstance(expression, dict | list) or expression is None:
                self.problem(
                    where, f"matcher for {key!r} must be a single value such as 'db-01' or '=~db-.*'"
                )
            else:
                try:
                    result.append(parse_matcher(key, self.text_of(where, expression)))
                except ValueError as exc:
                    self.problem(where, str(exc))
        return tuple(result)
