"""What a history says about the holds, thresholds and maintenance windows rules should have:
`bridge rules tune`.

The history (stored deliveries or a trace) is read as the worker reads it and cut into
*episodes*: one firing of one alert, from its start to its end (an Alertmanager alert's
occurrence, a Zabbix problem). Per rule and per alert name the episodes give
- their length (p50, p90, max) and what each candidate `for:` would have done: how many
  episodes it keeps from opening an incident, and how much later the longer ones open;
- how often they recur on one host within a window (`threshold:`) and how often they change
  state within one (`flapping:`);
- which alert names no rule takes (they get the defaults);
and across names, the hours of the week in which the same hosts alert week after week: a
maintenance window nobody wrote down.

From that it proposes a rules patch: a YAML file whose rules add a `for:` to the rule that takes
each name today (`continue: true`, so the rule's grouping, priority and routing stay) and whose
maintenance windows cover the weekly patterns, each with a comment saying why. `patched_rules`
loads it before the current files, which is how `--against` replays it.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bridge.alert import Source, Status
from bridge.dedup.loader import load_rules_texts
from bridge.dedup.rules import DEFAULT_RULE_NAME, Action, Rule, RuleKind, RuleSet
from bridge.errors import PayloadError
from bridge.replay.replayer import Replay, Summary
from bridge.replay.trace import Recorded
from bridge.sources import parse_delivery
from bridge.ticketing.sla import percentile
from bridge.timeutil import format_duration

MINUTE = timedelta(minutes=1)
CANDIDATE_HOLDS = tuple(MINUTE * m for m in (1, 2, 5, 10, 15, 30))
THRESHOLD_WINDOWS = (5 * MINUTE, 15 * MINUTE, 60 * MINUTE)
THRESHOLD_COUNTS = (2, 3, 5)
FLAPPING_WINDOW = 30 * MINUTE
FLAPPING_CHANGES = 6  # what the example rules call flapping: 6 changes within 30m
MIN_EPISODES = 5  # fewer episodes of a name say nothing about its hold
MIN_SUPPRESSED_SHARE = 0.2  # a hold is proposed only when it keeps at least this share quiet
GAP = 3.0  # ... and the episodes it lets through last at least GAP times those it holds
PATTERN_SHARE = 0.75  # a weekly pattern: in this share of the weeks (every week of four or fewer)
PATTERN_WIDTH = 4  # hours: the widest window one host's recurring alerts are looked for in
SINGLE_HOST_WIDTH = 2  # hours: a one-host weekly pattern must be this narrow
DAILY_DAYS = 5  # a host alerting in the same hours on this many weekdays: a daily pattern
PATTERN_SPAN_CAP = timedelta(hours=6)  # a long outage is not a pattern of every hour it covers
PATCH_NAME = "bridge-rules-tune.yaml"
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass(frozen=True, slots=True)
class Episode:
    """One firing of one alert."""

    rule: str
    name: str
    host: str
    start: datetime
    end: datetime | None  # None: still firing when the history ends

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
            if alert.status is Status.FIRING:
                if known is None:
                    self._open[key] = Episode(rule.name, alert.name, alert.host, alert.starts_at, None)
                continue
            end = alert.ends_at or at
            if known is None:  # a recovery of a firing never seen: its start is in the event
                known = Episode(rule.name, alert.name, alert.host, alert.starts_at, None)
            else:
                del self._open[key]
            self.episodes.append(
                Episode(known.rule, known.name, known.host, known.start, max(end, known.start))
            )

    def finish(self) -> list[Episode]:
        """Every episode, those still firing with `end` None, in start order."""
        found = self.episodes + list(self._open.values())
        self._open.clear()
        self.episodes = sorted(found, key=lambda e: (e.start, e.host, e.name))
        return self.episodes


# -- per rule and name ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HoldEffect:
    hold: timedelta
    suppressed: int  # episodes shorter than the hold: no incident
    kept: int  # the others: they open `later` than today
    later: timedelta


@dataclass(frozen=True, slots=True)
class Recurrence:
    window: timedelta
    most: int  # the most starts on one host within one window
    reaching: dict[int, int]  # count -> episodes that would be the count-th (or later) start within it


@dataclass
class NameReport:
    rule: str
    name: str
    episodes: int
    hosts: int
    p50: timedelta
    p90: timedelta
    longest: timedelta
    current_hold: timedelta | None
    threshold: str | None
    holds: list[HoldEffect]
    recurrences: list[Recurrence]
    flapping_most: int  # the most state changes on one host within FLAPPING_WINDOW
    flapping_hosts: int  # hosts with at least FLAPPING_CHANGES changes within it
    defaults: bool  # no rule takes it: it gets the defaults
    proposed_hold: timedelta | None = None
    why: str = ""
    lengths: list[float] = field(default_factory=list)  # seconds, for the bar chart


def _quantile(values: list[float], fraction: float) -> timedelta:
    found = percentile(values, fraction)
    return timedelta(seconds=round(found or 0))


def name_report(rule: Rule, name: str, episodes: list[Episode], until: datetime) -> NameReport:
    lengths = sorted(e.length(until).total_seconds() for e in episodes)
    current = rule.hold or timedelta(0)
    holds = []
    for hold in CANDIDATE_HOLDS:
        suppressed = sum(1 for s in lengths if s < hold.total_seconds())
        holds.append(
            HoldEffect(hold, suppressed, len(lengths) - suppressed, max(hold - current, timedelta(0)))
        )
    by_host: dict[str, list[Episode]] = defaultdict(list)
    for e in episodes:
        by_host[e.host].append(e)
    recurrences = []
    for window in THRESHOLD_WINDOWS:
        most, reaching = 0, dict.fromkeys(THRESHOLD_COUNTS, 0)
        for mine in by_host.values():
            starts = [e.start for e in mine]
            first = 0
            for index, start in enumerate(starts):
                while starts[first] < start - window:
                    first += 1
                count = index - first + 1  # this start is the count-th within the window before it
                most = max(most, count)
                for k in THRESHOLD_COUNTS:
                    reaching[k] += count >= k
        recurrences.append(Recurrence(window, most, reaching))
    flapping_most, flapping_hosts = 0, 0
    for mine in by_host.values():
        changes = sorted([e.start for e in mine] + [e.end for e in mine if e.end is not None])
        first, most = 0, 0
        for index, at in enumerate(changes):
            while changes[first] < at - FLAPPING_WINDOW:
                first += 1
            most = max(most, index - first + 1)
        flapping_most = max(flapping_most, most)
        flapping_hosts += most >= FLAPPING_CHANGES
    report = NameReport(
        rule=rule.name,
        name=name,
        episodes=len(lengths),
        hosts=len(by_host),
        p50=_quantile(lengths, 0.5),
        p90=_quantile(lengths, 0.9),
        longest=timedelta(seconds=round(lengths[-1])) if lengths else timedelta(0),
        current_hold=rule.hold,
        threshold=f"{rule.threshold.count} within {format_duration(rule.threshold.within)}"
        if rule.threshold
        else None,
        holds=holds,
        recurrences=recurrences,
        flapping_most=flapping_most,
        flapping_hosts=flapping_hosts,
        defaults=rule.name == DEFAULT_RULE_NAME,
        lengths=lengths,
    )
    _propose_hold(report, rule)
    return report


def _propose_hold(report: NameReport, rule: Rule) -> None:
    """The shortest candidate hold that splits the episodes cleanly: it keeps a good share of
    them quiet, and the shortest one it lets through lasted at least GAP times the longest one
    it holds (blips of minutes against outages of hours, not a hold that cuts through a range
    of real lengths). Only for names that open incidents, have enough episodes, and whose rule
    does not count (`threshold:` then `for:` holds every counted occurrence: another question)."""
    n = report.episodes
    if n < MIN_EPISODES or rule.action is Action.DROP or rule.threshold is not None:
        return
    current = rule.hold or timedelta(0)
    lengths = report.lengths
    for effect in report.holds:
        held = [s for s in lengths if s < effect.hold.total_seconds()]
        kept = lengths[len(held) :]
        if len(held) < MIN_SUPPRESSED_SHARE * n:
            continue
        if not kept:  # nothing long enough to show what the hold must let through
            return
        if held and kept[0] < GAP * held[-1]:
            continue
        if effect.hold <= current:
            return
        report.proposed_hold = effect.hold
        share = round(100 * effect.suppressed / n)
        today = f"for: {format_duration(current)}" if rule.hold else "no hold"
        shortest = format_duration(timedelta(seconds=round(kept[0])))
        report.why = (
            f"{n} episodes on {report.hosts} hosts, p50 {format_duration(report.p50)}, "
            f"p90 {format_duration(report.p90)}, longest {format_duration(report.longest)}; "
            f"for: {format_duration(effect.hold)} keeps {effect.suppressed} ({share}%) from opening an "
            f"incident (the longest of them {format_duration(timedelta(seconds=round(held[-1])))}), "
            f"the {effect.kept} longer ones (from {shortest}) open {format_duration(effect.later)} "
            f"later (today: {today})"
        )
        return


# -- weekly patterns --------------------------------------------------------------------------


@dataclass
class Pattern:
    """The same hosts alerting in the same hours of the same weekday(s), week after week."""

    days: tuple[int, ...]  # 0 = Monday
    start_hour: int
    end_hour: int  # exclusive
    hosts: tuple[str, ...]
    names: tuple[str, ...]
    weeks_seen: int
    weeks: int
    host_match: str = ""  # a matcher for the hosts, e.g. "=~(db|stor)-.*"

    def when(self) -> str:
        days = "every day" if len(self.days) == 7 else "every " + ", ".join(DAY_NAMES[d] for d in self.days)
        return f"{days} {self.start_hour:02d}:00-{self.end_hour % 24:02d}:00"

    def every(self) -> list[str]:
        hours = f"{self.start_hour:02d}:00-{self.end_hour % 24:02d}:00"
        if len(self.days) == 7:
            return [f"daily {hours}"]
        return [f"{WEEKDAYS[d]} {hours}" for d in self.days]


def weekly_patterns(
    episodes: list[Episode], first: datetime, last: datetime, zone: ZoneInfo, known_hosts: Iterable[str]
) -> tuple[int, list[Pattern]]:
    """(weeks of history, the patterns found in them). Fewer than two weeks show none.

    For each host and weekday, the narrowest window of whole hours (at most PATTERN_WIDTH) in
    which it alerted in enough of the weeks; a host with the same window on most weekdays is a
    daily pattern; the other windows of one weekday that overlap make one pattern of their hosts."""
    weeks = max(1, round((last - first) / timedelta(days=7)))
    if weeks < 2:
        return weeks, []
    needed = weeks if weeks <= 4 else math.ceil(PATTERN_SHARE * weeks)
    origin = first.astimezone(zone).date()
    origin -= timedelta(days=origin.weekday())
    touched: dict[tuple[str, int], dict[int, set[int]]] = defaultdict(lambda: defaultdict(set))
    names: dict[tuple[str, int, int], set[str]] = defaultdict(set)
    for e in episodes:
        if not e.host:
            continue
        at = e.start.astimezone(zone).replace(minute=0, second=0, microsecond=0)
        stop = min(e.end or last, e.start + PATTERN_SPAN_CAP).astimezone(zone)
        while at <= stop:
            touched[(e.host, at.weekday())][(at.date() - origin).days // 7].add(at.hour)
            names[(e.host, at.weekday(), at.hour)].add(e.name)
            at += timedelta(hours=1)
    windows: dict[tuple[str, int], tuple[int, int, int]] = {}  # (host, day) -> (from, until, weeks)
    for key, by_week in touched.items():
        found = _narrowest(by_week, needed)
        if found is not None:
            windows[key] = found
    patterns: list[tuple[tuple[int, ...], int, int, frozenset[str], int]] = []
    daily: dict[tuple[int, int], set[str]] = defaultdict(set)
    for host in {h for h, _ in windows}:
        spans = [(w[0], w[1]) for (h, _), w in windows.items() if h == host]
        for span in set(spans):
            if spans.count(span) >= DAILY_DAYS:
                daily[span].add(host)
    for (begin, finish), daily_hosts in daily.items():
        seen = min(
            windows[(h, d)][2]
            for h in daily_hosts
            for d in range(7)
            if windows.get((h, d), ())[:2] == (begin, finish)
        )
        patterns.append((tuple(range(7)), begin, finish, frozenset(daily_hosts), seen))
        for host in daily_hosts:
            for day in range(7):
                if windows.get((host, day), ())[:2] == (begin, finish):
                    del windows[(host, day)]
    merged: dict[tuple[int, int, frozenset[str]], tuple[list[int], int]] = {}
    for day in range(7):
        todays = sorted((w[0], w[1], h, w[2]) for (h, d), w in windows.items() if d == day)
        for begin, finish, members, seen in _overlapping(todays):
            days_so_far, seen_so_far = merged.get((begin, finish, members), ([], weeks))
            merged[(begin, finish, members)] = ([*days_so_far, day], min(seen, seen_so_far))
    for (begin, finish, members), (on_days, seen) in merged.items():
        patterns.append((tuple(on_days), begin, finish, members, seen))
    known = sorted(set(known_hosts))
    found_patterns = []
    for days, begin, finish, members, seen in patterns:
        if len(members) == 1 and len(days) < 7 and finish - begin > SINGLE_HOST_WIDTH:
            continue  # one host busy over half a day's hours some weekday: chance, not a plan
        alerted = set().union(
            *(names.get((h, d, hr), set()) for h in members for d in days for hr in range(begin, finish))
        )
        found_patterns.append(
            Pattern(
                days=days,
                start_hour=begin,
                end_hour=finish,
                hosts=tuple(sorted(members)),
                names=tuple(sorted(alerted)),
                weeks_seen=seen,
                weeks=weeks,
                host_match=host_matcher(tuple(sorted(members)), known),
            )
        )
    found_patterns.sort(key=lambda p: (-len(p.hosts) * len(p.days), p.days, p.start_hour))
    return weeks, found_patterns


def _overlapping(spans: list[tuple[int, int, str, int]]) -> list[tuple[int, int, frozenset[str], int]]:
    """Spans (from, until, host, weeks) sorted by start, joined where they overlap."""
    groups: list[tuple[int, int, frozenset[str], int]] = []
    for begin, finish, host, seen in spans:
        if groups and begin < groups[-1][1]:
            first, last, hosts, least = groups[-1]
            groups[-1] = (first, max(last, finish), hosts | {host}, min(least, seen))
        else:
            groups.append((begin, finish, frozenset({host}), seen))
    return groups


def _narrowest(by_week: dict[int, set[int]], needed: int) -> tuple[int, int, int] | None:
    """The narrowest [from, until) hours in which alerts came in at least `needed` weeks, with
    how many weeks; the earliest of equals."""
    for width in range(1, PATTERN_WIDTH + 1):
        for begin in range(0, 25 - width):
            weeks = sum(1 for hours in by_week.values() if any(begin <= h < begin + width for h in hours))
            if weeks >= needed:
                return begin, begin + width, weeks
    return None


_NUMBERED = re.compile(r"^(.*?[-_.]?)\d+$")


def host_matcher(hosts: tuple[str, ...], known: list[str]) -> str:
    """`=~(db|stor)-.*` when the hosts are every known host of their families, else the hosts."""
    families: dict[str, set[str]] = defaultdict(set)
    for host in hosts:
        found = _NUMBERED.match(host)
        families[found.group(1) if found else host].add(host)
    whole = all(
        prefix != host and families[prefix] == {k for k in known if _family(k) == prefix}
        for prefix in families
        for host in families[prefix]
    )
    if whole and len(families) >= 1:
        stems = sorted(families)
        common = _common_suffix(stems)
        heads = [s[: len(s) - len(common)] for s in stems]
        inner = "|".join(_escape(h) for h in heads)
        body = inner if len(heads) == 1 else f"({inner})"
        return f"=~{body}{_escape(common)}.*"
    if len(hosts) == 1:
        return f"={hosts[0]}"
    return "=~" + "|".join(_escape(h) for h in hosts)


def _escape(text: str) -> str:
    """A regex matching `text` literally, escaping only what regexes treat specially."""
    return re.sub(r"([.^$*+?{}\[\]\\|()])", r"\\\1", text)


def _family(host: str) -> str:
    found = _NUMBERED.match(host)
    return found.group(1) if found else host


def _common_suffix(stems: list[str]) -> str:
    suffix = stems[0]
    for stem in stems[1:]:
        while not stem.endswith(suffix):
            suffix = suffix[1:]
    return suffix


# -- the whole report and the patch -----------------------------------------------------------


@dataclass
class TuneReport:
    rules_version: str
    deliveries: int
    alerts: int
    first_at: datetime | None
    last_at: datetime | None
    timezone: str
    names: list[NameReport]
    weeks: int
    patterns: list[Pattern]
    patch: str

    @property
    def defaults(self) -> list[NameReport]:
        return [n for n in self.names if n.defaults]

    def as_json(self) -> dict[str, Any]:
        def seconds(value: timedelta | None) -> float | None:
            return None if value is None else value.total_seconds()

        return {
            "rules_version": self.rules_version,
            "deliveries": self.deliveries,
            "alerts": self.alerts,
            "from": self.first_at.isoformat() if self.first_at else None,
            "until": self.last_at.isoformat() if self.last_at else None,
            "timezone": self.timezone,
            "names": [
                {
                    "rule": n.rule,
                    "name": n.name,
                    "episodes": n.episodes,
                    "hosts": n.hosts,
                    "duration_s": {"p50": seconds(n.p50), "p90": seconds(n.p90), "max": seconds(n.longest)},
                    "current_for_s": seconds(n.current_hold),
                    "threshold": n.threshold,
                    "holds": [
                        {
                            "for_s": seconds(h.hold),
                            "suppressed": h.suppressed,
                            "kept": h.kept,
                            "later_s": seconds(h.later),
                        }
                        for h in n.holds
                    ],
                    "recurrences": [
                        {
                            "within_s": seconds(r.window),
                            "most_on_one_host": r.most,
                            "reaching": {str(k): v for k, v in r.reaching.items()},
                        }
                        for r in n.recurrences
                    ],
                    "flapping": {
                        "within_s": seconds(FLAPPING_WINDOW),
                        "most_changes_on_one_host": n.flapping_most,
                        "hosts_with_6_or_more": n.flapping_hosts,
                    },
                    "defaults": n.defaults,
                    "proposed_for_s": seconds(n.proposed_hold),
                    "why": n.why,
                }
                for n in self.names
            ],
            "defaults": sorted({n.name for n in self.defaults}),
            "weeks": self.weeks,
            "weekly_patterns": [
                {
                    "days": [WEEKDAYS[d] for d in p.days],
                    "from": f"{p.start_hour:02d}:00",
                    "until": f"{p.end_hour % 24:02d}:00",
                    "hosts": list(p.hosts),
                    "host_match": p.host_match,
                    "names": list(p.names),
                    "weeks_seen": p.weeks_seen,
                    "weeks": p.weeks,
                }
                for p in self.patterns
            ],
            "patch": self.patch,
        }


def analyse(
    deliveries: Iterable[Recorded], rules: RuleSet, timezone: str = "UTC", hosts: Iterable[str] = ()
) -> TuneReport:
    """Read the history once and report; `hosts` adds hosts that exist but may not have alerted
    (a family pattern like db-.* is proposed only when it names every known host of it)."""
    collector = Episodes(rules)
    for recorded in deliveries:
        collector.feed(recorded)
    episodes = collector.finish()
    until = collector.last_at or datetime.now().astimezone()
    grouped: dict[tuple[str, str], list[Episode]] = defaultdict(list)
    for e in episodes:
        grouped[(e.rule, e.name)].append(e)
    names = [
        name_report(rules.rule_named(rule), name, mine, until)
        for (rule, name), mine in sorted(grouped.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]
    zone = ZoneInfo(timezone)
    weeks, patterns = 1, list[Pattern]()
    if collector.first_at is not None and collector.last_at is not None:
        known = {e.host for e in episodes if e.host} | set(hosts)
        weeks, patterns = weekly_patterns(episodes, collector.first_at, collector.last_at, zone, known)
    report = TuneReport(
        rules_version=rules.version,
        deliveries=collector.deliveries,
        alerts=collector.alerts,
        first_at=collector.first_at,
        last_at=collector.last_at,
        timezone=timezone,
        names=names,
        weeks=weeks,
        patterns=patterns,
        patch="",
    )
    report.patch = render_patch(report)
    return report


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "alert"


def render_patch(report: TuneReport) -> str:
    """The proposed rules patch: YAML, each change with a comment saying why."""
    span = f"{_day(report.first_at)} to {_day(report.last_at)}"
    out = [
        f"# Proposed by `bridge rules tune` from {report.alerts:,} alerts, {span},",
        f"# read with the rules of version {report.rules_version}. Load it before the other files",
        "# (e.g. as 00-tune.yaml): each rule adds its `for:` to the rule that takes the alert",
        "# today (continue: true keeps that rule's grouping, priority and routing).",
    ]
    proposals = [n for n in report.names if n.proposed_hold is not None]
    out.append("rules:" if proposals else "rules: []  # no hold to propose")
    used: set[str] = set()
    for n in proposals:
        assert n.proposed_hold is not None
        name = f"tune-{_slug(n.name)}"
        while name in used:
            name += "-x"
        used.add(name)
        takes = "no rule takes it (the defaults)" if n.defaults else f"rule {n.rule}"
        out.append(f"  # {n.name} ({takes}): {n.why}.")
        out.append(f"  - name: {name}")
        out.append(f"    match: {{name: {_quoted('=' + n.name)}}}")
        out.append(f"    for: {format_duration(n.proposed_hold)}")
        out.append("    continue: true")
    if report.patterns:
        out.append("maintenance:")
        for p in report.patterns:
            names = ", ".join(p.names[:6]) + (", ..." if len(p.names) > 6 else "")
            out.append(
                f"  # {names} on {_hosts(p.hosts)} {p.when()} {report.timezone}, "
                f"{p.weeks_seen} weeks of {p.weeks}: a maintenance window?"
            )
            days = "daily" if len(p.days) == 7 else "-".join(WEEKDAYS[d] for d in p.days)
            slug = _slug(f"{days}-{p.start_hour:02d}00-{_hosts(p.hosts)}")
            out.append(f"  - name: tune-{slug}")
            out.append(f"    description: {_quoted('seen in the history: ' + p.when())}")
            out.append(f"    match: {{host: {_quoted(p.host_match)}}}")
            every = p.every()
            out.append(f"    every: {_quoted(every[0]) if len(every) == 1 else json.dumps(every)}")
            out.append(f"    timezone: {report.timezone}")
    elif report.weeks < 2:
        out.append("# weekly patterns: the history is shorter than two weeks")
    return "\n".join(out) + "\n"


def _hosts(hosts: tuple[str, ...]) -> str:
    return ", ".join(hosts) if len(hosts) <= 4 else f"{', '.join(hosts[:3])} and {len(hosts) - 3} more"


def _day(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d}" if at else "-"


def patched_rules(current: RuleSet, patch: str) -> RuleSet:
    """The current rules with the patch loaded before their files (RulesError if it does not load)."""
    return load_rules_texts({PATCH_NAME: patch, **current.files})


@dataclass(frozen=True, slots=True)
class Comparison:
    """The patched rules and the current ones replayed over the same history."""

    patched: Summary
    current: Summary


def tune(
    history: Callable[[], Iterable[Recorded]],
    rules: RuleSet,
    timezone: str = "UTC",
    *,
    against: bool = False,
) -> tuple[TuneReport, Comparison | None]:
    """Analyse the history (`history()` gives its deliveries in order, again on each call) and,
    with `against`, replay the proposed patch against the current rules over it."""
    report = analyse(history(), rules, timezone)
    if not against:
        return report, None
    replays = [
        Replay(patched_rules(rules, report.patch), "patched", refuse_redeliveries=True),
        Replay(rules, "current", refuse_redeliveries=True),
    ]
    for recorded in history():
        for replay in replays:
            replay.feed(recorded)
    patched, current = (r.finish() for r in replays)
    return report, Comparison(patched, current)
