"""The page behind the link bridge stores on every Zabbix problem (`__zbx_bridge_url`, the event
menu's **bridge** entry): it leads to the problem's incident once there is one, and until then
shows what bridge decided about the problem (held by `for:` and when it opens, dropped, in
maintenance...). It signs people in as the incident page does, and moves with it."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from werkzeug.wrappers import Response

from bridge.web import pages
from bridge.web.context import services

blueprint = Blueprint("zabbix_links", __name__, template_folder="templates")
blueprint.before_request(pages._authenticate)  # the incident page's sign-in, whatever it becomes


@blueprint.get("/zabbix/events/<path:instance>/<event_id>")
def zabbix_event(instance: str, event_id: str) -> Response | tuple[str, int]:
    event = services().zabbix_events.event(instance, event_id)
    if event.incident is not None:
        return redirect(url_for("pages.incident_page", number=event.incident))
    page = render_template("zabbix_event.html", event=event, alert=event.alert)
    return page, 200 if event.alert is not None else 404
