"""On-call rotas: who is on duty at an instant, and the coming shifts. Pure.

A `Schedule` has layers (`Rotation`s) and `Override`s. At an instant:
1. an override that covers it wins (the latest-starting one if several, then the later listed);
2. otherwise, among the layers that hold the instant (a layer holds inside its windows, and
   only on its dates when it lists dates such as holidays; without either, always), the most
   specific wins: a layer limited to dates beats any that is not (a holiday layer wins on its
   days), then the smallest nominal weekly time covered by its windows (overlapping windows
   counted once; no windows counts as a full week), ties going to the layer listed later;
3. within that rotation the member on duty is ``members[index % len(members)]``, where shift
   ``index`` starts on local date ``anchor + index * shift_days`` at the `handoff` wall-clock time
   (negative indexes before the anchor continue the cycle backwards).

DST: a handoff keeps its wall-clock time, so a daily shift across a spring-forward change is 23
real hours and across a fall-back 25. A handoff time skipped by a spring-forward happens at the
first instant after the gap; one repeated by a fall-back at its first occurrence. Each shift ends
exactly where the next begins, because both are the same instant computed the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from bridge.schedule.wallclock import as_utc, day_of, day_start, local_date, wall_to_utc
from bridge.schedule.windows import Span, WeeklyWindow, coverage, union_weekly_duration

OVERRIDE_LAYER = "override"
_WEEK = timedelta(days=7)
_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Rotation:
    """Members taking turns of `shift_days` local days, handing off at `handoff` in `tz`."""

    name: str
    members: tuple[str, ...]
    handoff: time
    shift_days: int
    anchor: date  # the local date on which members[0]'s shift begins at `handoff`
    windows: tuple[WeeklyWindow, ...] = ()  # empty (and no dates): always; else only inside these
    tz: ZoneInfo = field(kw_only=True)
    dates: frozenset[date] = field(default=frozenset(), kw_only=True)  # only on these local days

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError(f"rotation {self.name!r} has no members")
        if self.shift_days < 1:
            raise ValueError(f"rotation {self.name!r}: shift_days must be 1 or more, not {self.shift_days}")
        if self.handoff.tzinfo is not None:
            raise ValueError(f"rotation {self.name!r}: the handoff is a wall-clock time, without a zone")
        if self.name == OVERRIDE_LAYER:
            raise ValueError(f"{OVERRIDE_LAYER!r} is reserved for overrides; name the rotation otherwise")

    def shift_start(self, index: int) -> datetime:
        """When shift `index` begins (UTC)."""
        return wall_to_utc(self.anchor + timedelta(days=index * self.shift_days), self.handoff, self.tz)

    def shift_index(self, at: datetime) -> int:
        """The index of the shift that holds `at`."""
        at = as_utc(at)
        index = (local_date(at, self.tz) - self.anchor).days // self.shift_days
        while self.shift_start(index) > at:
            index -= 1
        while self.shift_start(index + 1) <= at:
            index += 1
        return index

    def member(self, index: int) -> str:
        """Who takes shift `index`."""
        return self.members[index % len(self.members)]

    @property
    def restricted(self) -> bool:
        """Does the layer hold only inside its windows and dates (rather than always)?"""
        return bool(self.windows or self.dates)

    def covers(self, at: datetime) -> bool:
        """Is `at` inside the rotation's windows (on its dates, when it has dates); always without
        either?"""
        if self.dates and day_of(at, self.tz) not in self.dates:
            return False
        return not self.windows or any(window.contains(at, self.tz) for window in self.windows)

    def weekly_duration(self) -> timedelta:
        """Nominal time per week this layer covers; the smaller, the more specific."""
        if self.windows:
            return union_weekly_duration(self.windows)
        return timedelta(0) if self.dates else _WEEK

    def coverage(self, start: datetime, end: datetime) -> list[Span]:
        """Where the layer holds within [start, end), as disjoint, non-touching spans: its windows,
        cut to its dates when it has dates."""
        spans = coverage(self.windows, start, end, self.tz) if self.windows else [(start, end)]
        if not self.dates:
            return spans
        days: list[Span] = []
        for day in sorted(self.dates):
            begin, finish = max(day_start(day, self.tz), start), min(day_start(day + _DAY, self.tz), end)
            if begin < finish:
                if days and days[-1][1] == begin:
                    days[-1] = (days[-1][0], finish)
                else:
                    days.append((begin, finish))
        cut: list[Span] = []
        for begin, finish in spans:
            for day_begin, day_end in days:
                low, high = max(begin, day_begin), min(finish, day_end)
                if low < high:
                    if cut and cut[-1][1] == low:
                        cut[-1] = (cut[-1][0], high)
                    else:
                        cut.append((low, high))
        return cut

    def boundaries(self, start: datetime, end: datetime) -> set[datetime]:
        """Instants in [start, end] where the layer's windows or dates begin or end."""
        found: set[datetime] = set()
        for window in self.windows:
            for occurrence in window.occurrences(start, end, self.tz):
                found.update(occurrence)
        for day in self.dates:
            found.update((day_start(day, self.tz), day_start(day + _DAY, self.tz)))
        return {instant for instant in found if start <= instant <= end}

    def on_duty(self, at: datetime) -> OnDuty | None:
        """Who this layer alone has on duty at `at`, with the shift clipped to the layer's window
        occurrence; None outside its windows."""
        at = as_utc(at)
        if not self.covers(at):
            return None
        index = self.shift_index(at)
        start, end = self.shift_start(index), self.shift_start(index + 1)
        if self.restricted:
            # Only the part of the shift's window coverage that holds `at`: touching occurrences
            # of several windows count as one, so the span is where this answer keeps holding.
            start, end = next(span for span in self.coverage(start, end) if span[0] <= at < span[1])
        return OnDuty(self.member(index), self.name, start, end, override=False)


@dataclass(frozen=True, slots=True)
class Override:
    """`person` is on duty over [start, end), whatever the layers say."""

    person: str
    start: datetime
    end: datetime
    reason: str | None = None

    def __post_init__(self) -> None:
        if as_utc(self.end) <= as_utc(self.start):
            raise ValueError(f"override for {self.person!r} must end after it starts")

    def covers(self, at: datetime) -> bool:
        """Is `at` in [start, end)?"""
        return self.start <= as_utc(at) < self.end


@dataclass(frozen=True, slots=True)
class Schedule:
    """Layers of rotations, and overrides on top of them."""

    name: str
    layers: tuple[Rotation, ...]
    overrides: tuple[Override, ...] = ()


@dataclass(frozen=True, slots=True)
class OnDuty:
    """Who is on duty, for which layer (a rotation name or "override"), over which span (UTC)."""

    person: str
    layer: str
    shift_start: datetime
    shift_end: datetime
    override: bool


def who_is_on_duty(schedule: Schedule, at: datetime) -> OnDuty | None:
    """Who is on duty at `at` by the rules in the module docstring; None if nobody covers it.

    For a rotation the span is that person's shift, clipped to the layer's window occurrence when
    the layer has windows; for an override it is the override's own [start, end).
    """
    at = as_utc(at)
    overrides = [(o.start, number, o) for number, o in enumerate(schedule.overrides) if o.covers(at)]
    if overrides:
        override = max(overrides, key=lambda item: (item[0], item[1]))[2]
        return OnDuty(
            override.person, OVERRIDE_LAYER, as_utc(override.start), as_utc(override.end), override=True
        )
    layers = [
        (not layer.dates, layer.weekly_duration(), -number, layer)
        for number, layer in enumerate(schedule.layers)
        if layer.covers(at)
    ]
    if not layers:
        return None
    winner = min(layers, key=lambda item: (item[0], item[1], item[2]))[3]
    return winner.on_duty(at)


def shifts(schedule: Schedule, start: datetime, end: datetime) -> list[OnDuty]:
    """Who is on duty from `start` to `end`, as contiguous spans clipped to [start, end).

    Adjacent spans of the same person in the same layer are merged; where nobody is on duty there
    is simply no span. The answer can only change where an override, a shift or a window occurrence
    begins or ends, so it is asked once per stretch between such instants.
    """
    start, end = as_utc(start), as_utc(end)
    if end <= start:
        return []
    changes = {start, end}
    for override in schedule.overrides:
        changes.update((as_utc(override.start), as_utc(override.end)))
    for layer in schedule.layers:
        index = layer.shift_index(start) + 1
        while (handoff := layer.shift_start(index)) < end:
            changes.add(handoff)
            index += 1
        changes.update(layer.boundaries(start, end))
    instants = sorted(change for change in changes if start <= change <= end)
    spans: list[OnDuty] = []
    for begin, finish in pairwise(instants):
        duty = who_is_on_duty(schedule, begin)
        if duty is None:
            continue
        last = spans[-1] if spans else None
        if last and (last.person, last.layer, last.shift_end) == (duty.person, duty.layer, begin):
            spans[-1] = OnDuty(duty.person, duty.layer, last.shift_start, finish, duty.override)
        else:
            spans.append(OnDuty(duty.person, duty.layer, begin, finish, duty.override))
    return spans
