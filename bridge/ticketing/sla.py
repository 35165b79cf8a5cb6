"""SLA deadlines: when an incident must be acknowledged and resolved. Pure.

Targets are service time in the client's calendar (24/7, or business hours without holidays),
so a P3 opened on Friday 17:50 under mon-fri 09:00-18:00 with a 2h acknowledge target is due on
Monday 10:50. A target marked `always` runs around the clock whatever the calendar: P1 and P2
are, unless the rota file says `always: false` (`AROUND_THE_CLOCK`), so a P1 opened on Friday
19:39 with a 30m resolve target is due at 20:09, not on Monday.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from bridge.priority import Priority
from bridge.schedule.calendar import ServiceCalendar
from bridge.ticketing.rota import Rota, SlaTarget


@dataclass(frozen=True, slots=True)
class Deadlines:
    ack: datetime | None
    resolve: datetime | None


def clock_for(rota: Rota, client: str | None, target: SlaTarget) -> ServiceCalendar:
    """The calendar a target is counted in."""
    calendar = rota.calendar_of(client)
    return ServiceCalendar(calendar.tz) if target.always else calendar


def deadlines(rota: Rota, client: str | None, priority: Priority, opened_at: datetime) -> Deadlines:
    """The acknowledge and resolve deadlines of an incident opened at `opened_at`."""
    target = rota.sla_for(client, priority)
    calendar = clock_for(rota, client, target)
    ack = calendar.add(opened_at, target.ack.in_calendar(calendar)) if target.ack else None
    resolve = calendar.add(opened_at, target.resolve.in_calendar(calendar)) if target.resolve else None
    return Deadlines(ack, resolve)


def service_time(
    rota: Rota, client: str | None, priority: Priority, start: datetime, end: datetime
) -> timedelta:
    """Service time between two instants, as the incident's SLA counts it."""
    return clock_for(rota, client, rota.sla_for(client, priority)).between(start, end)


def percentile(values: list[float], fraction: float) -> float | None:
    """The `fraction` quantile by linear interpolation between closest ranks (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def middle(values: list[float]) -> float | None:
    return median(values) if values else None
