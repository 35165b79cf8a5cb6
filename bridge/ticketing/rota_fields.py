"""The values of rota.yaml (names, handles, times, dates, windows, shifts, SLA times), each checked
where it is written and reported as ``file:line: reason``; `bridge.oncall.loader` builds the rota
from them."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any

from bridge.priority import Priority
from bridge.schedule.windows import WeeklyWindow, parse_window
from bridge.ticketing.rota import SlaTime
from bridge.yamldoc import Path_, YamlDocument, did_you_mean

ALWAYS = "24/7"
"""The calendar that always exists: service around the clock."""
_HANDLE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_BUSINESS_DAYS = re.compile(r"^(\d+)\s*business\s*days?$")
_SHIFTS = {"daily": 1, "weekly": 7}


class RotaValues(YamlDocument):
    """Checks of single values; `_handles` are the people's handles once known."""

    _handles: tuple[str, ...] = ()

    def _named(self, path: Path_, value: Any, what: str) -> list[tuple[str, Any, Path_]]:
        if value is None:
            return []
        if not isinstance(value, dict):
            self.problem(path, f"{what} must be a mapping of name to details")
            return []
        result = []
        for key, item in value.items():
            if not _HANDLE.match(key) and path[-1:] != ("sla",) and key != ALWAYS:
                self.problem(
                    (*path, key), f"{key!r}: names use letters, digits, '.', '_' and '-'", at_key=True
                )
            result.append((key, item, (*path, key)))
        return result

    def _enum(self, path: Path_, value: Any, kind: type[Any], what: str) -> Any:
        if value is None:
            return None
        try:
            return kind(str(value))
        except ValueError:
            choices = [k.value for k in kind]
            self.problem(path, f"unknown {what} {value!r}{did_you_mean(str(value), choices)}")
            return None

    def _ref(self, path: Path_, value: Any, choices: tuple[str, ...], what: str) -> str:
        name = str(value)
        if name not in choices:
            self.problem(path, f"unknown {what} {name!r}{did_you_mean(name, list(choices))}")
        return name

    def _person_ref(self, path: Path_, value: Any) -> str | None:
        if value is None:
            self.problem(path, "a person's handle is needed here")
            return None
        handle = str(value)
        if handle not in self._handles:
            self.problem(path, f"unknown person {handle!r}{did_you_mean(handle, list(self._handles))}")
            return None
        return handle

    def _handle_list(self, path: Path_, value: Any) -> list[str]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, "must be a list of people's handles")
            return []
        handles = []
        for i, item in enumerate(value):
            handle = self._person_ref((*path, i), item)
            if handle is not None:
                handles.append(handle)
        return handles

    def _windows(self, path: Path_, value: Any) -> tuple[WeeklyWindow, ...]:
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        windows = []
        for i, text in enumerate(items):
            where = (*path, i) if isinstance(value, list) else path
            try:
                windows.append(parse_window(str(text)))
            except ValueError as exc:
                self.problem(where, str(exc))
        return tuple(windows)

    def _dates(self, path: Path_, value: Any) -> list[date]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, "must be a list of dates (YYYY-MM-DD)")
            return []
        return [d for i, item in enumerate(value) if (d := self._date((*path, i), item)) is not None]

    def _date(self, path: Path_, value: Any) -> date | None:
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        try:
            return date.fromisoformat(self.text_of(path, value))
        except ValueError:
            self.problem(path, f"{self.text_of(path, value)!r} is not a date (YYYY-MM-DD)")
            return None

    def _time(self, path: Path_, value: Any) -> time | None:
        text = self.text_of(path, value)
        match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
        if not match or not (int(match.group(1)) < 24 and int(match.group(2)) < 60):
            self.problem(path, f'{text!r} is not a time of day (HH:MM, quote it: "09:00")')
            return None
        return time(int(match.group(1)), int(match.group(2)))

    def _shift(self, path: Path_, value: Any) -> int | None:
        text = self.text_of(path, value).strip().lower()
        if text in _SHIFTS:
            return _SHIFTS[text]
        match = re.fullmatch(r"(\d+)\s*d(ays?)?", text)
        if match and int(match.group(1)) >= 1:
            return int(match.group(1))
        self.problem(path, f"shift must be daily, weekly or a number of days such as 3d, not {text!r}")
        return None

    def _priorities(self, path: Path_, value: Any) -> list[Priority] | None:
        if value is None:
            return None
        if not isinstance(value, list):
            self.problem(path, "must be a list of priorities, e.g. [P1, P2]")
            return None
        found = []
        for i, item in enumerate(value):
            try:
                found.append(Priority(str(item).upper()))
            except ValueError:
                self.problem((*path, i), f"{item!r} is not a priority (P1..P5)")
        return found

    def _sla_time(self, path: Path_, value: Any) -> SlaTime | None:
        if value is None or value == "none":
            return None
        text = self.text_of(path, value).strip().lower()
        days = _BUSINESS_DAYS.match(text)
        if days:
            return SlaTime(business_days=int(days.group(1)))
        delta = self.duration(path, text, None, positive=True)
        return SlaTime(delta) if delta is not None else None
