"""What a page says after a form: "done" notices come back in the redirect's query string as a
known key (so a link cannot make a page say anything else), refusals are rendered on the spot."""

from __future__ import annotations

from flask import Flask, g, request
from flask_babel import lazy_gettext as _l

from bridge.errors import BridgeError
from bridge.web.console.i18n import ACTION_NAMES
from bridge.web.errors import STATUS

DONE = {
    **{key: _l("Done: %(action)s.", action=name) for key, name in ACTION_NAMES.items()},
    "type": _l("Type changed."),
    "override-added": _l("Override added."),
    "override-cancelled": _l("Override cancelled."),
    "silence-created": _l("Silence created."),
    "silence-expired": _l("Silence expired."),
    "rules-reloaded": _l("Rules reloaded."),
    "rules-refused": _l("Reload refused: the last good rules stay in force."),
    "user-added": _l("User added."),
    "user-changed": _l("User changed."),
    "token-revoked": _l("Token revoked."),
    "telegram-unlinked": _l("Telegram account unlinked."),
}


def failure_status(exc: BridgeError) -> int:
    """The HTTP status the app gives `exc` (400 for a mistake in the form, 409 for a conflict)."""
    for kind, status in STATUS.items():
        if isinstance(exc, kind):
            return status
    return 500


def _error() -> str | None:
    found = g.get("console_error")
    return str(found) if found else None


def _done() -> str | None:
    found = DONE.get(request.args.get("done", ""))
    return str(found) if found is not None else None


def install(app: Flask) -> None:
    app.jinja_env.globals["console_error"] = _error
    app.jinja_env.globals["console_done"] = _done
