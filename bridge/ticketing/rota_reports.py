"""The parts of `rota.yaml` about reports, checked like the rest of the file (``file:line: reason``):
a client's `contact:` and the top-level `reports:` section.

```yaml
clients:
  retail:
    contact: {name: Retail IT desk, email: it@retail.example}
reports:
  night: "21:00-09:00"          # the desk's night hours, local time (pages per person per night)
  sla_mail:                     # the SLA report by e-mail; absent: no mail
    every: [weekly, monthly]    # weekly: Monday to Monday; monthly: the calendar month
    at: "08:00"                 # local time on the day after the period, when it goes out
    to: [head_of_it, clients]   # and/or people's handles
```
"""

from __future__ import annotations

import re
from datetime import time
from typing import Any

from bridge.ticketing.report_settings import (
    DEFAULT_NIGHT,
    Contact,
    Night,
    Recipients,
    ReportPeriod,
    ReportSettings,
    SlaMail,
)
from bridge.ticketing.rota_fields import RotaValues
from bridge.yamldoc import Path_, did_you_mean

REPORTS_KEYS = ("night", "sla_mail")
SLA_MAIL_KEYS = ("every", "at", "to")
CONTACT_KEYS = ("name", "email")
DEFAULT_SEND_AT = time(8, 0)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


class ReportValues(RotaValues):
    """`_reports` reads the `reports:` section once the people are known; `_contact` a client's."""

    def _contact(self, path: Path_, value: Any) -> Contact | None:
        item = self.mapping(path, value, "contact")
        if item is None:
            return None
        self.check_keys(path, item, CONTACT_KEYS, "contact key")
        email = self.string((*path, "email"), item.get("email"), "email")
        if email is None:
            self.problem(path, "a contact needs an `email:`")
            return None
        if not _EMAIL.fullmatch(email):
            self.problem((*path, "email"), f"{email!r} is not an e-mail address")
            return None
        name = self.string((*path, "name"), item.get("name"), "name") or email
        return Contact(name, email)

    def _reports(self, value: Any) -> ReportSettings:
        path: Path_ = ("reports",)
        item = self.mapping(path, value, "reports") or {}
        self.check_keys(path, item, REPORTS_KEYS, "reports key")
        night = self._night((*path, "night"), item["night"]) if "night" in item else DEFAULT_NIGHT
        mail = self._sla_mail((*path, "sla_mail"), item["sla_mail"]) if "sla_mail" in item else None
        return ReportSettings(night=night, sla_mail=mail)

    def _night(self, path: Path_, value: Any) -> Night:
        text = self.text_of(path, value)
        start, dash, end = text.partition("-")
        if not dash:
            self.problem(path, f'night must be a span of local time such as "21:00-09:00", not {text!r}')
            return DEFAULT_NIGHT
        first, last = _clock(start.strip()), _clock(end.strip())
        if first is None or last is None:
            self.problem(path, f'night must be a span of local time such as "21:00-09:00", not {text!r}')
            return DEFAULT_NIGHT
        return Night(first, last)

    def _sla_mail(self, path: Path_, value: Any) -> SlaMail | None:
        item = self.mapping(path, value, "sla_mail")
        if item is None:
            return None
        self.check_keys(path, item, SLA_MAIL_KEYS, "sla_mail key")
        periods = tuple(
            p
            for i, word in enumerate(self._words((*path, "every"), item.get("every", ["weekly", "monthly"])))
            if (p := self._enum((*path, "every", i), word, ReportPeriod, "report period")) is not None
        )
        send_at = self._time((*path, "at"), item["at"]) if "at" in item else DEFAULT_SEND_AT
        to: list[Recipients] = []
        people: list[str] = []
        choices = [r.value for r in Recipients]
        for i, word in enumerate(self._words((*path, "to"), item.get("to", choices))):
            if word in choices:
                to.append(Recipients(word))
            elif word in self._handles:
                people.append(word)
            else:
                self.problem(
                    (*path, "to", i),
                    f"unknown recipient {word!r}: head_of_it, clients or a person's handle"
                    + did_you_mean(word, [*choices, *self._handles]),
                )
        if not periods:
            self.problem((*path, "every"), "name at least one period: weekly, monthly")
        return SlaMail(tuple(dict.fromkeys(periods)), send_at or DEFAULT_SEND_AT, tuple(to), tuple(people))

    def _words(self, path: Path_, value: Any) -> list[str]:
        """A word or a list of words."""
        items = value if isinstance(value, list) else [value]
        if any(isinstance(i, dict | list) for i in items):
            self.problem(path, "must be a word or a list of words")
            return []
        return [str(i) for i in items]


def _clock(text: str) -> time | None:
    """HH:MM, or None."""
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if not match or not (int(match.group(1)) < 24 and int(match.group(2)) < 60):
        return None
    return time(int(match.group(1)), int(match.group(2)))
