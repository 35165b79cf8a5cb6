"""Alert storms without a topology map: many distinct hosts starting to alert within a short
window (a core switch, a power feed, a DNS outage) are one problem, so they are one incident.

The rules' `storm: {hosts: 10, within: 2m}` turns it on. One group, `STORM_KEY`, keeps the
watch: the alerts that started recently (pruned to `within`, bounded in size). When a new alert
brings the distinct hosts of the window to `hosts`, the storm is recognised: that alert and the
ones after it join the storm group (one incident, titled with the count and the label value the
members share, when there is one), and the alerts of the window still waiting in their own
groups are decided again (`Decision.regroup`) so that they join it too. While another host has
started alerting within the window, an alert that would open an incident at once waits the
storm's `grace` first, so that the first hosts of a storm do not each page before it is
recognised. Pure: the engine calls these with the storm group's state.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from itertools import compress, pairwise
from operator import attrgetter

from bridge.alert import Alert
from bridge.dedup.evolve import quick_init
from bridge.dedup.rules import StormSpec
from bridge.dedup.state import GroupState, StormEntry
from bridge.timeutil import format_duration

STORM_KEY = "storm"
"""The group key of the storm watch and of the storm's incident."""

KEPT_ENTRIES = 200
"""Recent starts the watch keeps at most: enough to recognise a storm and see what its members
share; a 10,000-alert storm must not make every decision read and write a list that long."""

NOT_SHARED = frozenset(
    {
        "alertname",
        "instance",
        "host",
        "hostname",
        "host_name",
        "trigger_id",
        "severity",
        "fingerprint",
        "__name__",
        "pod",
        "container",
        "device",
        "ifName",
        "ifDescr",
        "interface",
        "mountpoint",
    }
)
"""Labels that name the alert or the host itself: never what a storm's hosts have in common."""

PREFERRED = ("switch", "site", "datacenter", "dc", "rack", "zone", "cluster", "job", "host_groups")
"""Between labels shared by as many hosts, the one more likely to name the cause goes first."""

MAX_LABELS = 24
MAX_VALUE = 120


def entry_labels(alert: Alert) -> tuple[tuple[str, str], ...]:
    """The label values of `alert` a storm's members may share (Zabbix host groups one by one)."""
    found: list[tuple[str, str]] = []
    labels = alert.labels
    for key in sorted(labels.keys() - NOT_SHARED):  # the keys are told apart, and sorted, as before
        value = labels[key]
        if not value or len(value) > MAX_VALUE:
            continue
        if key == "host_groups":
            found.extend(("host_groups", g) for g in value.split(", ") if g)
        else:
            found.append((key, value))
    return tuple(found[:MAX_LABELS])


def has_label(alert: Alert, label: tuple[str, str]) -> bool:
    key, value = label
    if key == "host_groups":
        return value in alert.labels.get("host_groups", "").split(", ")
    return alert.labels.get(key) == value


def host_of(alert: Alert) -> str:
    return alert.host or alert.fingerprint


def alive(group: GroupState) -> bool:
    """A storm is going on: its group has members firing, or its incident is still open."""
    return group.firing > 0 or (group.incident is not None and group.incident.active)


def recent(group: GroupState, spec: StormSpec, now: datetime) -> tuple[StormEntry, ...]:
    """The watch's starts within the window before `now`, and the storm's members while it lasts."""
    since = now - spec.within  # `e.at >= since` is `now - e.at <= within`, without a timedelta per entry
    if alive(group):
        return tuple(e for e in group.storm if e.at >= since or e.member)
    return tuple(e for e in group.storm if e.at >= since)


def watch(
    entries: tuple[StormEntry, ...], alert: Alert, now: datetime, member: bool
) -> tuple[StormEntry, ...]:
    """`entries` with `alert` (re)added as started `now`, within the bound."""
    fingerprint = alert.fingerprint
    kept = [e for e in entries if e.fingerprint != fingerprint]
    kept.append(StormEntry(now, host_of(alert), fingerprint, entry_labels(alert), member))
    return tuple(kept[-KEPT_ENTRIES:])


def in_window(entries: tuple[StormEntry, ...], spec: StormSpec, now: datetime) -> tuple[StormEntry, ...]:
    since = now - spec.within
    return tuple(e for e in entries if e.at >= since)


def joins(
    group: GroupState,
    entries: tuple[StormEntry, ...],
    spec: StormSpec,
    alert: Alert,
    now: datetime,
    window: tuple[StormEntry, ...] | None = None,
) -> bool:
    """Does `alert` (its start just added to `entries`) belong to a storm: the window holds
    `hosts` distinct hosts; or a storm goes on and the alert is about one of its hosts (what a
    member's `inhibits` held back comes out when that member resolves), or the storm took a
    member within the window and the alert shares what its members share. `window` is
    `in_window(entries, spec, now)` when the caller has it already."""
    if window is None:
        window = in_window(entries, spec, now)
    if hosts_at_least(window, spec.hosts):
        return True
    if not alive(group):
        return False
    host = host_of(alert)
    fingerprint = alert.fingerprint
    for e in entries:  # a loop, not any(...): no generator over up to KEPT_ENTRIES per alert
        if e.member and e.host == host and e.fingerprint != fingerprint:
            return True
    growing = any(e.member for e in window if e.fingerprint != fingerprint)
    return growing and group.storm_label is not None and has_label(alert, group.storm_label)


def marked(entries: tuple[StormEntry, ...], fingerprints: set[str]) -> tuple[StormEntry, ...]:
    """`entries` with those of `fingerprints` marked as storm members."""
    return tuple(
        StormEntry(e.at, e.host, e.fingerprint, e.labels, True) if e.fingerprint in fingerprints else e
        for e in entries
    )


def distinct_hosts(entries: tuple[StormEntry, ...]) -> int:
    return len({e.host for e in entries})


def hosts_at_least(entries: tuple[StormEntry, ...], count: int) -> bool:
    """``distinct_hosts(entries) >= count``, stopping as soon as it is known: in a storm the
    window's first hosts already say so."""
    if count <= 0:
        return True
    seen: set[str] = set()
    for entry in entries:
        seen.add(entry.host)
        if len(seen) >= count:
            return True
    return False


_at = attrgetter("at")
_fingerprint = attrgetter("fingerprint")
_member = attrgetter("member")


@quick_init
@dataclass(frozen=True, slots=True)
class Facts:
    """What is known of one watch (`entries`, compared by identity) without reading it again: its
    fingerprints, whether its starts never decrease (the engine appends each start at its
    decision's time, so in a replay or a steady stream they do), how many are not storm members.
    The engine keeps the facts of the watch it last wrote: the next decision reads that same
    tuple back, and with the facts it needs neither scan nor filter it entry by entry."""

    entries: tuple[StormEntry, ...]
    fingerprints: frozenset[str] | set[str]  # never changed once here
    ordered: bool
    nonmembers: int


def facts(entries: tuple[StormEntry, ...]) -> Facts:
    """The facts of a watch read from scratch."""
    ats = list(map(_at, entries))
    ordered = all(a <= b for a, b in pairwise(ats))
    return Facts(
        entries, frozenset(map(_fingerprint, entries)), ordered, len(entries) - sum(map(_member, entries))
    )


def step(
    group: GroupState, spec: StormSpec, alert: Alert, now: datetime, known: Facts, member: bool = False
) -> tuple[tuple[StormEntry, ...], tuple[StormEntry, ...], Facts]:
    """``entries = watch(recent(group, spec, now), alert, now, member)``, the window of those
    entries (`in_window` while a storm goes on, else the entries themselves), and the facts of
    the entries; `known` are the facts of `group.storm`. On an ordered watch the entries that
    left the window are a prefix (found by bisection) and the rest is kept whole: the same
    tuples as the filters build entry by entry."""
    stored = group.storm
    if not known.ordered:
        entries = watch(recent(group, spec, now), alert, now, member)
        window = in_window(entries, spec, now) if alive(group) else entries
        return entries, window, facts(entries)
    since = now - spec.within
    going_on = alive(group)
    start = bisect_left(stored, since, key=_at)  # the first entry started within the window
    fingerprints = known.fingerprints
    nonmembers = known.nonmembers
    if start == 0:
        kept = stored
    else:
        prefix = stored[:start]
        flags = tuple(map(_member, prefix))
        old_members = sum(flags)
        if going_on:  # a storm's members stay, whatever their age
            kept = stored if old_members == len(prefix) else tuple(compress(prefix, flags)) + stored[start:]
            gone = len(prefix) - old_members
            if gone:
                fingerprints = fingerprints.difference(
                    e.fingerprint for e, flag in zip(prefix, flags, strict=True) if not flag
                )
            nonmembers -= gone
        else:
            kept = stored[start:]
            fingerprints = fingerprints.difference(map(_fingerprint, prefix))
            nonmembers -= len(prefix) - old_members
    fingerprint = alert.fingerprint
    ordered = not kept or kept[-1].at <= now
    if fingerprint in fingerprints:  # its earlier start is in the watch: it moves to the end
        entries = watch(kept, alert, now, member)
        return entries, _window(entries, spec, since, going_on, ordered), facts(entries)
    entries = (*kept, StormEntry(now, host_of(alert), fingerprint, entry_labels(alert), member))
    if not member:
        nonmembers += 1
    current = set(fingerprints)  # one copy, not changed once the facts hold it
    current.add(fingerprint)
    if len(entries) > KEPT_ENTRIES:
        dropped = entries[: len(entries) - KEPT_ENTRIES]
        entries = entries[-KEPT_ENTRIES:]
        current.difference_update(map(_fingerprint, dropped))
        nonmembers -= len(dropped) - sum(map(_member, dropped))
    result = Facts(entries, current, ordered, nonmembers)
    return entries, _window(entries, spec, since, going_on, ordered), result


def _window(
    entries: tuple[StormEntry, ...], spec: StormSpec, since: datetime, going_on: bool, ordered: bool
) -> tuple[StormEntry, ...]:
    """`in_window` while a storm goes on (a suffix, on ordered entries), else the entries."""
    if not going_on:
        return entries
    if not ordered:
        return tuple(e for e in entries if e.at >= since)
    start = bisect_left(entries, since, key=_at)
    return entries if start == 0 else entries[start:]


def shared_label(entries: tuple[StormEntry, ...]) -> tuple[str, str] | None:
    """The label value the most hosts of the window share, if at least half of them share it."""
    minimum = max(2, (distinct_hosts(entries) + 1) // 2)
    hosts_by_label: dict[tuple[str, str], set[str]] = {}
    for entry in entries:
        for label in entry.labels:
            hosts_by_label.setdefault(label, set()).add(entry.host)
    counts = Counter({label: len(hosts) for label, hosts in hosts_by_label.items()})
    if not counts:
        return None

    def rank(item: tuple[tuple[str, str], int]) -> tuple[int, int, str, str]:
        (key, value), count = item
        preferred = PREFERRED.index(key) if key in PREFERRED else len(PREFERRED)
        return (-count, preferred, key, value)

    label, count = sorted(counts.items(), key=rank)[0]
    return label if count >= minimum else None


def storm_title(entries: tuple[StormEntry, ...], spec: StormSpec, label: tuple[str, str] | None) -> str:
    """ "Alert storm: 12 hosts within 2m, sharing switch=sw-core-1"."""
    hosts = distinct_hosts(entries)
    shared = f", sharing {label[0]}={label[1]}" if label is not None else ", nothing in common found"
    return f"Alert storm: {hosts} hosts within {format_duration(spec.within)}{shared}"
