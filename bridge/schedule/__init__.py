"""Wall-clock schedules: maintenance windows, on-call rotas and SLA service calendars. Pure.

Nothing here does I/O or reads the clock: every function takes the instant it is about. Instants
in and out are aware datetimes (returned in UTC); wall-clock rules are read in a named IANA zone.
"""

from __future__ import annotations

from bridge.schedule.calendar import ServiceCalendar
from bridge.schedule.rotation import OnDuty, Override, Rotation, Schedule, shifts, who_is_on_duty
from bridge.schedule.windows import OneOff, WeeklyWindow, parse_window

__all__ = [
    "OnDuty",
    "OneOff",
    "Override",
    "Rotation",
    "Schedule",
    "ServiceCalendar",
    "WeeklyWindow",
    "parse_window",
    "shifts",
    "who_is_on_duty",
]
