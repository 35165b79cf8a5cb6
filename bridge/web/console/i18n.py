"""The console's language: English and Russian, chosen per person (their saved locale, or the
switch in the header, remembered in a cookie), else the browser's preference. Flask-Babel reads
the catalogs from bridge/web/translations; the compiled .mo files are committed next to their .po
sources (tests/unit/web/test_translations.py fails when one is out of date), so a fresh install
has them without a build step."""

from __future__ import annotations

from flask import Flask, request
from flask_babel import Babel, get_locale
from flask_babel import lazy_gettext as _l

LOCALES = (("en", "English"), ("ru", "Русский"))
"""The languages shipped, as (code, name in that language)."""

CODES = tuple(code for code, _ in LOCALES)
COOKIE = "bridge_locale"
"""Where the header's language switch is remembered (for a person without a saved locale too)."""


def chosen_locale(saved: str | None) -> str:
    """The person's saved locale, else the switch's cookie, else the browser's best match."""
    if saved in CODES:
        return saved
    cookie = request.cookies.get(COOKIE)
    if cookie in CODES:
        return cookie
    return request.accept_languages.best_match(CODES) or "en"


def locale_code() -> str:
    return str(get_locale() or "en")


def install(app: Flask, selector: object) -> None:
    """Flask-Babel on `app`, with `selector` (no arguments, gives a locale code)."""
    Babel(app, locale_selector=selector, default_translation_directories="translations")
    app.jinja_env.globals["locale_code"] = locale_code
    app.jinja_env.globals["locales"] = LOCALES


STATUS_NAMES = {
    "open": _l("open"),
    "acknowledged": _l("acknowledged"),
    "stale": _l("stale"),
    "resolved": _l("resolved"),
    "closed": _l("closed"),
    "cancelled": _l("cancelled"),
}
ACTION_NAMES = {
    "ack": _l("Acknowledge"),
    "comment": _l("Comment"),
    "resolve": _l("Resolve"),
    "close": _l("Confirm closure"),
    "reject": _l("Reject resolution"),
    "reopen": _l("Reopen"),
    "escalate": _l("Escalate now"),
    "assign": _l("Reassign"),
    "priority": _l("Change priority"),
    "cancel": _l("Cancel incident"),
}
BADGE_NAMES = {"storm": _l("storm"), "flapping": _l("flapping"), "maintenance": _l("maintenance")}
DUE_NAMES = {"acknowledge": _l("acknowledge by"), "resolve": _l("resolve by")}
TYPE_NAMES = {
    "incident": _l("incident"),
    "service_request": _l("service request"),
    "change_request": _l("change request"),
}
ROLE_NAMES = {
    "viewer": _l("viewer"),
    "operator": _l("operator"),
    "engineer": _l("engineer"),
    "admin": _l("admin"),
}
SOURCE_LINKS = {"zabbix": _l("Zabbix event"), "alertmanager": _l("Prometheus graph")}
