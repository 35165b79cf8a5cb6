"""Weekly patterns: the same hosts alerting in the same hours of the same weekday(s), week after
week, which `bridge rules tune` proposes as maintenance windows; and the host matchers it names
them with (`=~(db|stor)-.*`)."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bridge.replay.episodes import Episode

PATTERN_SHARE = 0.75  # a weekly pattern: in this share of the weeks (every week of four or fewer)
PATTERN_WIDTH = 4  # hours: the widest window one host's recurring alerts are looked for in
TAIL = timedelta(hours=1)  # the longest episode whose end may stretch a proposed window (by 1h at most)
SINGLE_HOST_WIDTH = 2  # hours: a one-host weekly pattern must be this narrow
DAILY_DAYS = 5  # a host alerting in the same hours on this many weekdays: a daily pattern
PATTERN_SPAN_CAP = timedelta(hours=6)  # a long outage is not a pattern of every hour it covers
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@dataclass
class Pattern:
    """The same hosts alerting in the same hours of the same weekday(s), week after week."""

    days: tuple[int, ...]  # 0 = Monday
    start_hour: int
    end_hour: int  # exclusive: the hours alerts recur in are [start_hour, end_hour)
    hosts: tuple[str, ...]
    names: tuple[str, ...]
    weeks_seen: int
    weeks: int
    host_match: str = ""  # a matcher for the hosts, e.g. "=~(db|stor)-.*"
    end_minutes: int = 0  # minutes from midnight the window should end: the restarts' tails included

    def when(self) -> str:
        days = "every day" if len(self.days) == 7 else "every " + ", ".join(DAY_NAMES[d] for d in self.days)
        return f"{days} {self.hours()}"

    def hours(self) -> str:
        end = self.end_minutes or self.end_hour * 60
        return f"{self.start_hour:02d}:00-{end // 60 % 24:02d}:{end % 60:02d}"

    def covers(self, episode: Episode, zone: ZoneInfo) -> bool:
        """The episode started on one of these hosts in this window."""
        local = episode.start.astimezone(zone)
        minutes = local.hour * 60 + local.minute
        end = self.end_minutes or self.end_hour * 60
        return (
            episode.host in self.hosts
            and local.weekday() in self.days
            and self.start_hour * 60 <= minutes < end
        )

    def every(self) -> list[str]:
        hours = self.hours()
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
    ends: dict[tuple[str, int, int], int] = {}  # (host, day, start hour) -> latest end, minutes from midnight
    for e in episodes:
        if not e.host:
            continue
        local = e.start.astimezone(zone)
        if e.end is not None and e.end - e.start <= TAIL:
            finished = e.end.astimezone(zone)
            minutes = (finished.date() - local.date()).days * 1440 + finished.hour * 60 + finished.minute
            at_start = (e.host, local.weekday(), local.hour)
            ends[at_start] = max(ends.get(at_start, 0), minutes)
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
        # What starts in the window and ends within TAIL after it (a restart that runs on) stays in;
        # what lasts longer (an overrun) is what the window's end must let through.
        tail = max(
            (ends.get((h, d, hr), 0) for h in members for d in days for hr in range(begin, finish)), default=0
        )
        end_minutes = max(finish * 60, min(-(-tail // 30) * 30, (finish + 1) * 60))
        alerted = set().union(
            *(names.get((h, d, hr), set()) for h in members for d in days for hr in range(begin, finish))
        )
        found_patterns.append(
            Pattern(
                days=days,
                start_hour=begin,
                end_hour=finish,
                end_minutes=end_minutes,
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
    """Spans (from, until, host, weeks) sorted by start, joined where they overlap or touch (hosts
    restarted one after another make one night)."""
    groups: list[tuple[int, int, frozenset[str], int]] = []
    for begin, finish, host, seen in spans:
        if groups and begin <= groups[-1][1]:
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
