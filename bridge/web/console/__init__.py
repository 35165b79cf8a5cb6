"""The operator console: server-rendered pages for people (board, incident, on duty, alerts,
rules, reports, people), behind the console sign-in of `bridge.web.auth` and `bridge.web.login`.

Pages are Jinja templates (autoescaped) with one stylesheet and one plain script served from
bridge/web/static; no inline script, so the Content-Security-Policy allows scripts from bridge
itself only. Every change is a POST form carrying the session's CSRF token.
"""

from __future__ import annotations

from flask import Blueprint, Flask

from bridge.ticketing.roles import ADMIN_HANDLE
from bridge.web.auth import current_person
from bridge.web.console import board, formatting, i18n, mail_links, notices, ops
from bridge.web.security import allow_own_scripts

blueprint = Blueprint("console", __name__)
blueprint.register_blueprint(board.blueprint)
blueprint.register_blueprint(ops.blueprint)
blueprint.register_blueprint(mail_links.blueprint)
blueprint.before_request(allow_own_scripts)  # the console's pages run /static/console.js


def _locale() -> str:
    """A signed-in person's saved language; else the switch's cookie or the browser's choice."""
    person = current_person()
    saved = person.locale if person is not None and person.handle != ADMIN_HANDLE else None
    return i18n.chosen_locale(saved)


def _person() -> dict[str, object]:
    return {"person": current_person()}


def install(app: Flask) -> None:
    """Languages, the templates' formatting helpers and notices, and the console's pages."""
    i18n.install(app, _locale)
    formatting.install(app, app.extensions["bridge"].settings.zone)
    notices.install(app)
    app.context_processor(_person)
    app.register_blueprint(blueprint)
