"""The console's other pages: on duty (with overrides), alerts (with silences and maintenance),
rules (with a reload), reports (SLA, with charts and CSV), people (admin), and the language
switch. Each view parses, calls one service, renders or redirects."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import date, datetime, time, timedelta

from flask import Blueprint, Response, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext
from werkzeug.wrappers import Response as BaseResponse

from bridge.db.queries import Paging
from bridge.errors import BridgeError, NotFound, PayloadError
from bridge.services.console import ReportsPage
from bridge.services.people import NewUser
from bridge.services.telegram import LinkCode
from bridge.ticketing.roles import ADMIN_HANDLE, Action, Role
from bridge.web import requests as args
from bridge.web.console import charts, i18n, who
from bridge.web.console.notices import failure_status
from bridge.web.context import services
from bridge.web.report_format import noise_csv, proactive_csv, sla_csv

blueprint = Blueprint("ops", __name__)

SILENCE_LENGTHS = ("30m", "1h", "2h", "4h", "8h", "1d", "3d", "7d")
REPORT_DAYS = 7


def _done(key: str, endpoint: str) -> BaseResponse:
    """Back to the page, saying what was done (post/redirect/get)."""
    return redirect(url_for(endpoint, done=key), 303)


def _failed(exc: BridgeError, page: Callable[[], str]) -> BaseResponse:
    """The page again, saying why the form was refused (401, 403 and 404 go as they are)."""
    status = failure_status(exc)
    if status in (401, 403, 404):
        raise exc
    g.console_error = str(exc)
    return make_response(page(), status)


# -- on duty ------------------------------------------------------------------------------------


@blueprint.get("/duty")
def duty() -> str:
    person = who.person(Action.VIEW_OPERATIONS)
    return render_template(
        "console/duty.html", duty=services().console.duty(), can_override=who.may_override(person)
    )


@blueprint.post("/duty/overrides")
def add_override() -> BaseResponse:
    person = who.person(Action.OVERRIDE)
    form = request.form
    try:
        starts_at = _local_time(form.get("starts_at", ""), "starts_at")
        ends_at = args.end_time(
            form.get("ends_at", ""), "ends_at", starts_at or services().clock.now(), "the override"
        )
        services().oncall.create_override(
            form.get("schedule", ""),
            form.get("person", ""),
            starts_at,
            ends_at,
            form.get("reason", "").strip(),
            person.handle,
        )
    except BridgeError as exc:
        return _failed(exc, duty)
    return _done("override-added", "console.ops.duty")


@blueprint.post("/duty/overrides/<number:override_id>/cancel")
def cancel_override(override_id: int) -> BaseResponse:
    person = who.person(Action.OVERRIDE)
    try:
        services().oncall.cancel_override(override_id, person.handle)
    except BridgeError as exc:
        return _failed(exc, duty)
    return _done("override-cancelled", "console.ops.duty")


# -- alerts and silences ------------------------------------------------------------------------


@blueprint.get("/alerts")
def alerts() -> str:
    person = who.person(Action.VIEW_OPERATIONS)
    silence_from = request.args.get("silence", "")
    chosen = int(silence_from) if silence_from.isascii() and silence_from.isdigit() else None
    overview = services().console.alerts_overview(
        who.visible_clients(person), chosen if who.may_silence(person) else None
    )
    return render_template(
        "console/alerts.html",
        overview=overview,
        can_silence=who.may_silence(person),
        can_expire=who.may_expire_silences(person),
        lengths=SILENCE_LENGTHS,
    )


@blueprint.post("/silences")
def create_silence() -> BaseResponse:
    person = who.person(Action.SILENCE)
    form = request.form
    matchers: dict[str, str] = {}
    for line in form.get("matchers", "").splitlines():
        key, sep, value = line.strip().partition("=")
        if line.strip() and not sep:
            return _failed(PayloadError("matchers", f"not key=value: {line.strip()[:80]!r}"), alerts)
        if sep:
            matchers[key.strip()] = value.strip()
    try:
        now = services().clock.now()
        ends_at = args.end_time(form.get("length", "2h"), "length", now, "the silence")
        comment = form.get("comment", "").strip()
        if not comment:
            raise PayloadError("comment", "say why (it shows on every alert the silence holds back)")
        services().silences.create(matchers, None, ends_at, person.handle, comment)
    except BridgeError as exc:
        return _failed(exc, alerts)
    return _done("silence-created", "console.ops.alerts")


@blueprint.post("/silences/<number:silence_id>/expire")
def expire_silence(silence_id: int) -> BaseResponse:
    person = who.person(Action.MANAGE_SILENCES)
    try:
        services().silences.expire(silence_id, person.handle)
    except BridgeError as exc:
        return _failed(exc, alerts)
    return _done("silence-expired", "console.ops.alerts")


# -- rules --------------------------------------------------------------------------------------


@blueprint.get("/rules")
def rules() -> str:
    person = who.person(Action.VIEW_OPERATIONS)
    return render_template(
        "console/rules.html", status=services().console.rules_status(), can_reload=who.may_reload(person)
    )


@blueprint.post("/rules/reload")
def reload_rules() -> BaseResponse:
    person = who.person(Action.RULES_RELOAD)
    reloaded = services().rules.reload(person.handle)
    return _done("rules-reloaded" if reloaded else "rules-refused", "console.ops.rules")


# -- reports ------------------------------------------------------------------------------------


def _period() -> tuple[datetime, datetime, str | None, date, date]:
    """`?from=YYYY-MM-DD&to=YYYY-MM-DD&client=...`: whole days in bridge's zone, `to` included."""
    zone = services().settings.zone
    today = services().clock.now().astimezone(zone).date()
    first = _day(request.args.get("from"), today - timedelta(days=REPORT_DAYS - 1))
    last = _day(request.args.get("to"), today)
    if last < first:
        first, last = last, first
    start = datetime.combine(first, time(0), zone)
    end = datetime.combine(last + timedelta(days=1), time(0), zone)
    client = request.args.get("client") or None
    return start, end, client, first, last


def _day(raw: str | None, default: date) -> date:
    try:
        return date.fromisoformat(raw) if raw else default
    except ValueError:
        raise PayloadError("from", f"a day as YYYY-MM-DD, got {(raw or '')[:20]!r}") from None


def _query() -> str:
    query = request.query_string.decode()
    return f"?{query}" if query else ""


def _report_scope(chosen: str | None) -> tuple[who.Person, str | None, list[str]]:
    """Who asks, the client a report is about (a viewer: always theirs), the clients to choose from."""
    person = who.person(Action.VIEW_REPORTS)
    scope = person.client_scope
    if scope is not None:
        return person, scope, [scope]
    return person, chosen, sorted(services().rota.rota.clients)


@blueprint.get("/reports")
def reports() -> str:
    start, end, chosen, first, last = _period()
    person, client, clients = _report_scope(chosen)
    found = services().console.reports(start, end, client, noise=person.may(Action.VIEW_OPERATIONS))
    return render_template(
        "console/reports.html",
        found=found,
        first=first,
        last=last,
        client=client or "",
        clients=clients,
        charts=_charts(found),
        query=_query(),
    )


CSV_KINDS = ("sla", "proactive", "noise")


@blueprint.get("/reports/<kind>.csv")
def reports_csv(kind: str) -> Response:
    """One report of the page as a CSV download (the same columns as the API's ``format=csv``)."""
    if kind not in CSV_KINDS:
        raise NotFound(f"no report {kind!r}; one of {', '.join(CSV_KINDS)}")
    start, end, chosen, first, last = _period()
    person, client, _ = _report_scope(chosen)
    if kind == "noise" and not person.may(Action.VIEW_OPERATIONS):
        who.person(Action.VIEW_OPERATIONS)  # 403
    found = services().console.reports(start, end, client, noise=kind == "noise")
    if found.noise is not None:
        body = noise_csv(found.noise)
    else:
        body = sla_csv(found.sla) if kind == "sla" else proactive_csv(found.proactive)
    response = Response(body, mimetype="text/csv")
    name = f"bridge-{kind}-{first.isoformat()}-{last.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


def _charts(found: ReportsPage) -> list[charts.Chart]:
    by_priority: dict[str, list[int]] = {}
    for row in found.sla.rows:
        counts = by_priority.setdefault(row.priority.value, [0, 0])
        counts[0] += row.count
        counts[1] += row.ack_breaches + row.resolve_breaches
    made = [
        charts.bar_chart(
            gettext("Incidents by priority (red: SLA breaches)"),
            [
                (p, [(max(n - b, 0), ""), (min(b, n), "bad")], f"{n}")
                for p, (n, b) in sorted(by_priority.items())
            ],
        ),
        charts.bar_chart(
            gettext("Monitoring incidents: resolved before anyone reported them (green), reported (red)"),
            [
                (
                    row.client,
                    [
                        (row.resolved_unreported, "ok"),
                        (row.reported, "bad"),
                        (max(row.monitoring - row.resolved_unreported - row.reported, 0), ""),
                    ],
                    f"{row.monitoring}",
                )
                for row in found.proactive.rows
            ],
        ),
    ]
    if found.noise is not None:
        made.append(
            charts.bar_chart(
                gettext("Noisiest alerts"),
                [(n.key, [(n.alerts, "")], f"{n.alerts}") for n in found.noise.noisiest_names[:10]],
            )
        )
    return made


# -- people ------------------------------------------------------------------------------------

USERS_SHOWN = 500


@blueprint.get("/people")
def people(issued: object = None) -> str:
    who.person(Action.MANAGE_USERS)
    found = services().people
    return render_template(
        "console/people.html",
        users=found.list(Paging(USERS_SHOWN)).items,
        tokens=found.list_tokens().items,
        roles=[r.value for r in Role],
        locales=i18n.LOCALES,
        clients=sorted(services().rota.rota.clients),
        handles=sorted(services().rota.rota.people),
        issued=issued,
    )


@blueprint.post("/people")
def add_user() -> BaseResponse:
    person = who.person(Action.MANAGE_USERS)
    form = request.form
    try:
        new = NewUser(
            handle=form.get("handle", "").strip(),
            name=form.get("name", "").strip(),
            role=_role(form.get("role", "")),
            client=form.get("client") or None,
            locale=form.get("locale") or "en",
            password=form.get("password") or None,
        )
        services().people.add(new, person.handle)
    except BridgeError as exc:
        return _failed(exc, people)
    return _done("user-added", "console.ops.people")


@blueprint.post("/people/<handle>/<change>")
def change_user(handle: str, change: str) -> BaseResponse:
    """`disable`, `enable`, or `role` (with the form's role and client) for one user."""
    person = who.person(Action.MANAGE_USERS)
    found = services().people
    try:
        if change == "disable":
            found.disable(handle, person.handle)
        elif change == "enable":
            found.enable(handle, person.handle)
        elif change == "role":
            role = _role(request.form.get("role", ""))
            found.update(handle, person.handle, role=role, client=request.form.get("client") or None)
        else:
            raise NotFound(f"no such change {change!r}")
    except BridgeError as exc:
        return _failed(exc, people)
    return _done("user-changed", "console.ops.people")


@blueprint.post("/people/<handle>/tokens")
def issue_token(handle: str) -> BaseResponse:
    """A personal token for `handle`: shown on this answer once, never again."""
    person = who.person(Action.MANAGE_TOKENS)
    try:
        issued = services().people.issue_token(handle, request.form.get("name", ""), person.handle)
    except BridgeError as exc:
        return _failed(exc, people)
    response = make_response(people(issued))
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/people/tokens/<number:token_id>/revoke")
def revoke_token(token_id: int) -> BaseResponse:
    person = who.person(Action.MANAGE_TOKENS)
    try:
        services().people.revoke_token(token_id, person.handle)
    except BridgeError as exc:
        return _failed(exc, people)
    return _done("token-revoked", "console.ops.people")


def _role(raw: str) -> Role:
    try:
        return Role(raw)
    except ValueError:
        raise PayloadError("role", f"one of {', '.join(r.value for r in Role)}") from None


# -- my page: Telegram ---------------------------------------------------------------------------


@blueprint.get("/me")
def me(link: LinkCode | None = None) -> str:
    """My own page: the Telegram account my button presses and replies come from, and a code to
    link one."""
    person = who.person()
    desk = services().telegram
    account = None
    if desk is not None and person.handle != ADMIN_HANDLE:
        with suppress(NotFound):
            account = desk.linked_account(person.handle)
    return render_template(
        "console/me.html",
        telegram=desk is not None,
        account=account,
        link=link,
        is_user=person.handle != ADMIN_HANDLE,
        link_minutes=int(services().settings.telegram_link_ttl.total_seconds() // 60),
    )


@blueprint.post("/me/telegram/<change>")
def telegram_account(change: str) -> BaseResponse:
    """`link`: a one-time code for `/start <code>` (shown on this answer only); `unlink`."""
    person = who.person()
    desk = services().telegram
    if desk is None:
        raise NotFound("Telegram is not configured (BRIDGE_TELEGRAM_TOKEN)")
    try:
        if change == "link":
            response = make_response(me(desk.new_link_code(person.handle)))
            response.headers["Cache-Control"] = "no-store"
            return response
        if change != "unlink":
            raise NotFound(f"no such change {change!r}")
        desk.unlink(person.handle)
    except BridgeError as exc:
        return _failed(exc, me)
    return _done("telegram-unlinked", "console.ops.me")


# -- language -----------------------------------------------------------------------------------


@blueprint.post("/locale")
def set_locale() -> BaseResponse:
    """Switch the console's language: saved as the person's locale (a user) and in a cookie."""
    person = who.person()
    code = request.form.get("locale", "")
    wanted = request.form.get("next", "")
    target = wanted if wanted.startswith("/") and not wanted.startswith("//") and "\\" not in wanted else "/"
    response = redirect(target, 303)
    if code in i18n.CODES:
        with suppress(NotFound):  # the admin token is nobody's account: the cookie remembers it
            services().people.update(person.handle, person.handle, locale=code)
        secure = services().settings.cookies_secure
        response.set_cookie(
            i18n.COOKIE, code, max_age=365 * 86400, secure=secure, httponly=True, samesite="Lax"
        )
    return response


def _local_time(raw: str, name: str) -> datetime | None:
    """A datetime-local form value (no zone) in bridge's zone; None for empty."""
    if not raw:
        return None
    try:
        naive = datetime.fromisoformat(raw)
    except ValueError:
        raise PayloadError(name, f"not a date and time: {raw[:30]!r}") from None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=services().settings.zone)
