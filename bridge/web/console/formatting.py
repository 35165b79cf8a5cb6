"""How the console writes times and names: instants in bridge's time zone, spans as "2d 3h",
what an enum value is called in the page's language, people by their rota name."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Flask
from flask_babel import gettext

from bridge.web.console import i18n
from bridge.web.context import services


def when(at: datetime | None, zone: ZoneInfo) -> str:
    """`at` in `zone`, to the minute ("" for none)."""
    return "" if at is None else at.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def span(seconds: float) -> str:
    """A duration as its two largest units: "45s", "12m", "3h 5m", "2d 4h" (units translated)."""
    total = int(abs(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    d, h, m, s = gettext("d"), gettext("h"), gettext("m"), gettext("s")
    if days:
        return f"{days}{d} {hours}{h}" if hours else f"{days}{d}"
    if hours:
        return f"{hours}{h} {minutes}{m}" if minutes else f"{hours}{h}"
    if minutes:
        return f"{minutes}{m}"
    return f"{secs}{s}"


def _span_filter(value: timedelta | float) -> str:
    return span(value.total_seconds() if isinstance(value, timedelta) else value)


def person_name(handle: str | None) -> str:
    """The rota's name for `handle`, else the handle itself (bridge, admin, a Zabbix user)."""
    if not handle:
        return ""
    person = services().rota.rota.people.get(handle)
    return person.name if person is not None else handle


def _named(table: dict[str, object]) -> object:
    def name(value: object) -> str:
        key = str(value)
        return str(table.get(key, key))

    return name


def install(app: Flask, zone: ZoneInfo) -> None:
    env = app.jinja_env
    env.filters["when"] = lambda at: when(at, zone)
    env.filters["span"] = _span_filter
    env.filters["left"] = _span_filter
    env.globals.update(
        person_name=person_name,
        status_name=_named(dict(i18n.STATUS_NAMES)),
        action_name=_named(dict(i18n.ACTION_NAMES)),
        badge_name=_named(dict(i18n.BADGE_NAMES)),
        due_name=_named(dict(i18n.DUE_NAMES)),
        type_name=_named(dict(i18n.TYPE_NAMES)),
        role_name=_named(dict(i18n.ROLE_NAMES)),
        source_link_name=_named(dict(i18n.SOURCE_LINKS)),
    )
