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
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bridge.dedup.loader import load_rules_texts
from bridge.dedup.rules import DEFAULT_RULE_NAME, Action, OpenWhen, Rule, RuleSet
from bridge.replay.episodes import Episode, Episodes
from bridge.replay.patterns import WEEKDAYS, Pattern, weekly_patterns
from bridge.replay.replayer import Replay, Summary
from bridge.replay.trace import Recorded
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
PERSISTENT = 10 * MINUTE  # an episode this long is not a blip: a threshold that never counts it misses it
GAP = 3.0  # ... and the episodes it lets through last at least GAP times those it holds
PATCH_NAME = "bridge-rules-tune.yaml"


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
    uncounted: int = 0  # long episodes the rule's threshold never counts to its count: no incident
    uncounted_why: str = ""


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
    uncounted = _uncounted(rule, by_host, until)
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
    report.uncounted = uncounted
    if uncounted and rule.threshold is not None:
        report.uncounted_why = (
            f"{uncounted} episodes lasted {format_duration(PERSISTENT)} or more without ever being the "
            f"{ordinal(rule.threshold.count)} start on their host within "
            f"{format_duration(rule.threshold.within)}: `threshold:` never counts them, so they open "
            f"no incident. If they matter, the rule must open on `for:` {format_duration(PERSISTENT)} "
            "as well as on the count (persistent or recurring)"
        )
    _propose_hold(report, rule)
    return report


def _uncounted(rule: Rule, by_host: dict[str, list[Episode]], until: datetime) -> int:
    """Episodes of PERSISTENT or more that no window of the rule's threshold around their start
    holds `count` starts of: one long firing a count-then-hold rule never opens on. A rule that
    opens on either (`open_when: any`) opens on such an episode once it outlasts its `for:`."""
    threshold = rule.threshold
    if threshold is None or rule.action is Action.DROP:
        return 0
    held_open = rule.hold if rule.open_when is OpenWhen.ANY else None
    found = 0
    for mine in by_host.values():
        starts = [e.start for e in mine]
        for index, e in enumerate(mine):
            if e.length(until) < PERSISTENT:
                continue
            if held_open is not None and e.length(until) >= held_open:
                continue  # persistent: `for:` opens it, whatever the count
            lo = index
            while lo > 0 and starts[lo - 1] >= e.start - threshold.within:
                lo -= 1
            hi = index
            while hi + 1 < len(starts) and starts[hi + 1] <= e.start + threshold.within:
                hi += 1
            windows = (
                sum(1 for s in starts[lo : hi + 1] if first <= s <= first + threshold.within)
                for first in starts[lo : index + 1]
            )
            if max(windows, default=0) < threshold.count:
                found += 1
    return found


def ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


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
        if len(held) < max(MIN_EPISODES, MIN_SUPPRESSED_SHARE * n):  # enough blips to go by
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

    defaults: list[tuple[str, int, int]] = field(
        default_factory=list
    )  # (name, episodes, hosts) no rule takes

    def by_rule(self) -> list[tuple[str, int, int, timedelta, timedelta, timedelta]]:
        """(rule, names, episodes, p50, p90, max) per rule, most episodes first."""
        lengths: dict[str, list[float]] = defaultdict(list)
        names: dict[str, int] = defaultdict(int)
        for n in self.names:
            lengths[n.rule] += n.lengths
            names[n.rule] += 1
        return sorted(
            (
                (
                    rule,
                    names[rule],
                    len(mine),
                    _quantile(mine, 0.5),
                    _quantile(mine, 0.9),
                    _quantile(mine, 1.0),
                )
                for rule, mine in lengths.items()
            ),
            key=lambda row: (-row[2], row[0]),
        )

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
            "rules": [
                {
                    "rule": rule,
                    "names": names,
                    "episodes": episodes,
                    "duration_s": {"p50": seconds(p50), "p90": seconds(p90), "max": seconds(top)},
                }
                for rule, names, episodes, p50, p90, top in self.by_rule()
            ],
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
                    "long_episodes_never_counted": n.uncounted,
                }
                for n in self.names
            ],
            "defaults": [{"name": n, "episodes": e, "hosts": h} for n, e, h in self.defaults],
            "weeks": self.weeks,
            "weekly_patterns": [
                {
                    "days": [WEEKDAYS[d] for d in p.days],
                    "from": f"{p.start_hour:02d}:00",
                    "until": p.hours().split("-")[1],
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
    zone = ZoneInfo(timezone)
    weeks, patterns = 1, list[Pattern]()
    if collector.first_at is not None and collector.last_at is not None:
        known = {e.host for e in episodes if e.host} | set(hosts)
        weeks, patterns = weekly_patterns(episodes, collector.first_at, collector.last_at, zone, known)
    # Holds are judged on what would reach the rules: not what a window (today's, or one
    # proposed here) holds back anyway.
    grouped: dict[tuple[str, str], list[Episode]] = defaultdict(list)
    for e in episodes:
        if not e.in_maintenance and not any(p.covers(e, zone) for p in patterns):
            grouped[(e.rule, e.name)].append(e)
    names = [
        name_report(rules.rule_named(rule), name, mine, until)
        for (rule, name), mine in sorted(grouped.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    ]
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
        defaults=_fallthrough(episodes),
    )
    report.patch = render_patch(report)
    return report


def _fallthrough(episodes: list[Episode]) -> list[tuple[str, int, int]]:
    """(name, episodes, hosts) of the alert names no rule takes, most episodes first."""
    found: dict[str, list[Episode]] = defaultdict(list)
    for e in episodes:
        if e.rule == DEFAULT_RULE_NAME:
            found[e.name].append(e)
    return sorted(
        ((name, len(mine), len({e.host for e in mine})) for name, mine in found.items()),
        key=lambda t: (-t[1], t[0]),
    )


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
    for n in report.names:
        if n.uncounted_why:
            out.append(f"  # not proposed, for you to decide: {n.name} (rule {n.rule}): {n.uncounted_why}.")
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
        # "=" makes the name an equality whatever it starts with ("!=x", "=x"), except "~": "=~" is
        # the regex operator, and a name starting with "~" is an equality as it is
        equal = n.name if n.name.startswith("~") else "=" + n.name
        out.append(f"    match: {{name: {_quoted(equal)}}}")
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
