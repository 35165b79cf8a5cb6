"""The board (open incidents, most urgent first, refreshed in place) and the incident page with
the actions the person's role allows. Each action is a POST form calling the incident service
with the person's handle as actor; success goes back where the person was (post/redirect/get),
a refusal shows the page again with the reason."""

from __future__ import annotations

from flask import Blueprint, Response, g, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from bridge.errors import BridgeError, PayloadError
from bridge.priority import SUPPORT_LINES, Priority
from bridge.services.console import BOARD_STATUSES, BoardFilter
from bridge.services.incidents import NewIncident
from bridge.ticketing.lifecycle import Change, IncidentAction, IncidentStatus, IncidentType
from bridge.ticketing.roles import Action, needed_for
from bridge.web.auth import require_person
from bridge.web.console import who
from bridge.web.console.notices import failure_status
from bridge.web.context import services

blueprint = Blueprint("board", __name__)

POLL_MS = 5_000
"""How often an open board asks for its rows again."""

TYPE_ACTION = "type"
"""The incident page's action that makes an incident a service or change request (or back)."""


def _board_context(person: who.Person) -> dict[str, object]:
    args = request.args
    statuses = [s for s in args.getlist("status") if s in {st.value for st in IncidentStatus}]
    priorities = [p for p in args.getlist("priority") if p in {pr.value for pr in Priority}]
    lines = [line for line in args.getlist("line") if line in SUPPORT_LINES]
    clients = [c for c in args.getlist("client") if c]
    mine = args.get("mine") == "1"
    wanted = BoardFilter(
        status=statuses or BOARD_STATUSES,
        priority=priorities,
        client=clients,
        line=lines,
        assignee=person.handle if mine else None,
        visible_clients=who.visible_clients(person),
    )
    return {
        "board": services().console.board(wanted),
        "chosen": {
            "status": statuses,
            "priority": priorities,
            "client": clients,
            "line": lines,
            "mine": mine,
        },
        "can_ack": who.may(person, IncidentAction.ACK),
        "can_escalate": who.may(person, IncidentAction.ESCALATE),
        "can_open": person.may(Action.OPEN_INCIDENT),
        "types": [t.value for t in IncidentType],
    }


@blueprint.get("/")
def board() -> str:
    person = who.person(Action.VIEW)
    context = _board_context(person)
    query = request.query_string.decode()
    return render_template(
        "console/board.html",
        **context,
        statuses=[s.value for s in IncidentStatus],
        priorities=[p.value for p in Priority],
        lines=SUPPORT_LINES,
        rows_url=url_for("console.board.board_rows") + (f"?{query}" if query else ""),
        poll_ms=POLL_MS,
    )


@blueprint.post("/incidents")
def open_incident() -> BaseResponse:
    """Open an incident by hand (a phone call, a mail): same owner, SLA and escalation rules."""
    person = who.person(Action.OPEN_INCIDENT)
    form = request.form
    try:
        new = NewIncident(
            title=form.get("title", "").strip(),
            priority=Priority(form.get("priority") or "P3"),
            type=IncidentType(form.get("type") or "incident"),
            client=form.get("client") or None,
            description=form.get("description", "").strip(),
            reporter=form.get("reporter", "").strip() or None,
        )
        if not new.title:
            raise PayloadError("title", "say what happened")
        opened = services().incidents.open(new, person.handle)
    except ValueError:
        raise PayloadError("priority", "a priority P1..P5 and a type from the form") from None
    except BridgeError as exc:
        if failure_status(exc) in (401, 403, 404):
            raise
        g.console_error = str(exc)
        return make_response(board(), failure_status(exc))
    return redirect(url_for("console.board.incident", number=opened.number), 303)


@blueprint.get("/board/rows")
def board_rows() -> Response:
    """The board's rows alone, for the page to swap in place (same filters as the page)."""
    person = require_person(Action.VIEW)  # a poll whose session ended gets 401, not a login form
    context = _board_context(person)
    response = make_response(render_template("console/board_rows.html", **context))
    response.headers["X-Board-Total"] = str(context["board"].total)  # type: ignore[attr-defined]
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/incidents/<number:number>")
def incident(number: int) -> str:
    person = who.person(Action.VIEW)
    detail = services().incidents.detail(number, only_client=person.client_scope)
    allowed = {a.value for a in who.allowed_actions(person, detail.incident.status)}
    if person.may(Action.CHANGE_TYPE) and not detail.incident.status.final:
        allowed.add(TYPE_ACTION)
    rota_people = services().rota.rota.people
    return render_template(
        "console/incident.html",
        detail=detail,
        now=services().clock.now(),
        allowed=allowed,
        priorities=[p.value for p in Priority],
        lines=SUPPORT_LINES,
        types=[t.value for t in IncidentType],
        people=sorted((handle, p.name) for handle, p in rota_people.items()),
        can_silence=who.may_silence(person),
    )


@blueprint.post("/incidents/<number:number>/<action>")
def incident_action(number: int, action: str) -> BaseResponse:
    """One action from the incident page or a board shortcut."""
    person = who.person()
    form = request.form
    comment = form.get("comment", "").strip()
    try:
        if action == TYPE_ACTION:
            require_person(Action.CHANGE_TYPE)
            kind = IncidentType(form.get("type", ""))
            services().incidents.retype(number, kind, person.handle, comment, only_client=person.client_scope)
        else:
            chosen = IncidentAction(action)
            change = _change(form.get("to"), form.get("line"), form.get("priority"))
            for needed in needed_for(chosen, change):
                require_person(needed)
            if chosen is IncidentAction.COMMENT and not comment:
                raise PayloadError("comment", "write the comment first")
            services().incidents.act(
                number, chosen, person.handle, comment, change, only_client=person.client_scope
            )
    except ValueError:
        raise PayloadError("action", f"unknown action or type {action!r}") from None
    except BridgeError as exc:
        if failure_status(exc) in (401, 403, 404):
            raise
        g.console_error = str(exc)
        return make_response(incident(number), failure_status(exc))
    back = _back()
    return redirect(back or url_for("console.board.incident", number=number, done=action), 303)


def _change(to: str | None, line: str | None, priority: str | None) -> Change:
    if priority and priority not in {p.value for p in Priority}:
        raise PayloadError("priority", f"one of {', '.join(p.value for p in Priority)}")
    return Change(to or None, (line or "").upper() or None, Priority(priority) if priority else None)


def _back() -> str | None:
    """Where the form asked to go back to (the board, for a shortcut), if it is a path here."""
    wanted = request.form.get("next", "")
    if wanted.startswith("/") and not wanted.startswith("//") and "\\" not in wanted:
        return wanted
    return None
