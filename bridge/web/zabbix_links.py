"""The page behind the link bridge stores on every Zabbix problem (`__zbx_bridge_url`, the event
menu's **bridge** entry): it leads to the problem's incident once there is one, and until then
shows what bridge decided about the problem (held by `for:` and when it opens, dropped, in
maintenance...). It signs people in as the console's incident page does: a browser without a
session goes to the login form.

A viewer (a client's representative) sees incidents of their client only; an alert that has no
incident yet belongs to no client, so for a viewer such an event does not exist (404)."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, url_for
from werkzeug.wrappers import Response

from bridge.ticketing.roles import Action
from bridge.web.console.who import person
from bridge.web.context import services

blueprint = Blueprint("zabbix_links", __name__, template_folder="templates")


@blueprint.get("/zabbix/events/<path:instance>/<event_id>")
def zabbix_event(instance: str, event_id: str) -> Response | tuple[str, int]:
    who = person(Action.VIEW)
    event = services().zabbix_events.event(instance, event_id)
    if event.incident is not None:
        return redirect(url_for("console.board.incident", number=event.incident))
    if who.client_scope is not None:
        abort(404)
    page = render_template("zabbix_event.html", event=event, alert=event.alert)
    return page, 200 if event.alert is not None else 404
