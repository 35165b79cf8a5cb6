"""The console's pages through the real app (Flask's client, SQLite and PostgreSQL): each role
sees and may do what its rights say, every change needs the session's CSRF token, a viewer sees
only their client's incidents, monitoring text stays text. The browser tests
(tests/e2e/test_console_browser.py) drive the same pages in chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from bridge.clock import FakeClock
from bridge.web.app import create_app
from tests.support.api import Api
from tests.support.app import AM_TOKEN
from tests.support.console import VIEWER, console_runtime, console_settings, firing
from tests.support.people import log_in


@pytest.fixture
def desk(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Api]:
    runtime = console_runtime(console_settings(database_url, tmp_path), clock)
    yield Api(create_app(runtime=runtime).test_client(), runtime)
    runtime.close()


def open_incidents(api: Api) -> None:
    now = api.runtime.services.clock.now()
    assert (
        api.alertmanager(
            firing("HostDown", host="core-01", customer="retail", severity="critical", now=now)
        ).status_code
        == 202
    )
    assert api.alertmanager(firing("DiskFull", host="db-03", customer="bank", now=now)).status_code == 202
    assert (
        api.alertmanager(
            firing("HighLatency", host="app-02", customer="logistics", severity="warning", now=now)
        ).status_code
        == 202
    )
    api.drain()
    api.runtime.services.clock.advance(timedelta(minutes=15))  # db-03's maintenance begins


def page(client: FlaskClient, path: str, status: int = 200) -> str:
    response = client.get(path)
    assert response.status_code == status, (path, response.status_code, response.get_data(as_text=True)[:300])
    return response.get_data(as_text=True)


def incident_numbers(html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr class="row-link" data-number="(\d+)"', html)]


def test_a_browser_not_signed_in_is_sent_to_the_login_form(desk: Api) -> None:
    for path in ("/", "/incidents/1", "/duty", "/alerts", "/rules", "/reports", "/people"):
        response = desk.client.get(path)
        assert response.status_code == 303, path
        assert response.headers["Location"].startswith("/login?next=")


def test_the_board_lists_open_incidents_most_urgent_first(desk: Api) -> None:
    open_incidents(desk)
    log_in(desk.client, "orlov")
    html = page(desk.client, "/")
    numbers = incident_numbers(html)
    assert sorted(numbers) == [1, 2, 3]
    assert numbers[0] == 1  # the P1 first
    assert '<span class="prio P1">P1</span>' in html
    assert 'class="badge maintenance"' in html  # db-03 is in its maintenance window
    assert "Oleg Orlov" in html  # the person signed in, by their name
    assert incident_numbers(page(desk.client, "/?mine=1")) == []  # Dmitry Belov owns them all
    only_bank = incident_numbers(page(desk.client, "/?client=bank"))
    assert only_bank == [2]
    rows = desk.client.get("/board/rows?priority=P1")
    assert rows.status_code == 200 and rows.headers["X-Board-Total"] == "1"
    assert incident_numbers(rows.get_data(as_text=True)) == [1]


def test_an_operator_works_an_incident_and_the_timeline_names_them(desk: Api) -> None:
    open_incidents(desk)
    csrf = log_in(desk.client, "orlov")
    for action, data in [
        ("ack", {}),
        ("comment", {"comment": "looking <b>now</b>"}),
        ("escalate", {}),
        ("resolve", {"comment": "rebooted"}),
        ("close", {}),
    ]:
        response = desk.client.post(f"/incidents/1/{action}", data={"csrf_token": csrf, **data})
        assert response.status_code == 303, (action, response.get_data(as_text=True)[:300])
        assert response.headers["Location"] == f"/incidents/1?done={action}"
    html = page(desk.client, "/incidents/1?done=close")
    assert "Done: Confirm closure." in html
    timeline = html.split('id="timeline"')[1]
    for kind in ("acknowledged", "comment", "escalated", "resolved", "closed"):
        assert re.search(
            rf'<tr data-kind="{kind}"><td><time>[^<]+</time></td><td class="who" title="orlov">Oleg Orlov</td>',
            timeline,
        ), kind
    assert "looking &lt;b&gt;now&lt;/b&gt;" in timeline


def test_an_operator_reclassifies_and_reassigns(desk: Api) -> None:
    open_incidents(desk)
    csrf = log_in(desk.client, "orlov")
    response = desk.client.post("/incidents/3/type", data={"csrf_token": csrf, "type": "service_request"})
    assert response.status_code == 303
    response = desk.client.post("/incidents/3/assign", data={"csrf_token": csrf, "to": "belov", "line": "L2"})
    assert response.status_code == 303
    shown = desk.incident(3)
    assert (shown["type"], shown["assignee"], shown["line"]) == ("service_request", "belov", "L2")
    html = page(desk.client, "/incidents/3")
    assert '<tr data-kind="type">' in html and "service request" in html


def test_a_change_without_the_csrf_token_is_refused(desk: Api) -> None:
    open_incidents(desk)
    log_in(desk.client, "orlov")
    response = desk.client.post("/incidents/1/ack", data={})
    assert response.status_code == 403
    assert desk.incident(1)["status"] == "open"


def test_a_refused_action_shows_the_page_with_the_reason(desk: Api) -> None:
    open_incidents(desk)
    csrf = log_in(desk.client, "orlov")
    response = desk.client.post("/incidents/1/close", data={"csrf_token": csrf})
    assert response.status_code == 409
    assert 'class="flash error"' in response.get_data(as_text=True)


def test_a_viewer_sees_only_their_client_and_acts_only_as_a_viewer(desk: Api) -> None:
    open_incidents(desk)
    csrf = log_in(desk.client, VIEWER)
    assert incident_numbers(page(desk.client, "/")) == [2]
    assert incident_numbers(page(desk.client, "/?client=retail")) == []
    page(desk.client, "/incidents/1", 404)  # another client's: as if there were none
    html = page(desk.client, "/incidents/2")
    assert 'data-action="priority"' in html and 'data-action="cancel"' in html
    assert 'data-action="ack"' not in html and 'data-action="escalate"' not in html
    assert desk.client.post("/incidents/2/ack", data={"csrf_token": csrf}).status_code == 403
    assert (
        desk.client.post("/incidents/1/comment", data={"csrf_token": csrf, "comment": "x"}).status_code == 404
    )
    response = desk.client.post("/incidents/2/priority", data={"csrf_token": csrf, "priority": "P4"})
    assert response.status_code == 303
    assert desk.incident(2)["priority"] == "P4"
    for path in ("/duty", "/alerts", "/rules", "/people", "/reports/noise.csv"):
        assert desk.client.get(path).status_code == 403, path
    reports = page(desk.client, "/reports?client=retail")  # their own client's, whatever they ask
    assert "retail" not in reports.split('id="proactive"')[1] and "Noise" not in reports


def test_monitoring_text_stays_text(desk: Api) -> None:
    now = desk.runtime.services.clock.now()
    body = firing("Evil", host="web-9", customer="retail", now=now, note="<script>alert(1)</script>")
    body["alerts"][0]["generatorURL"] = "javascript:alert(document.cookie)"
    assert desk.alertmanager(body).status_code == 202
    desk.drain()
    log_in(desk.client, "orlov")
    html = page(desk.client, "/incidents/1")
    assert "<script>alert(1)</script>" not in html
    assert "note=&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert 'href="javascript:' not in html
    assert "<script>" not in html.replace('<script src="/static/', "")


def test_the_pages_of_each_role(desk: Api) -> None:
    open_incidents(desk)
    log_in(desk.client, "belov")
    duty = page(desk.client, "/duty")
    assert "day-operators" in duty and "Add an override" in duty
    rules = page(desk.client, "/rules")
    assert "everything-else" in rules and "Reload rules" in rules
    alerts = page(desk.client, "/alerts?silence=1")
    assert "Create silence" in alerts and "db-night-work" in alerts
    reports = page(desk.client, "/reports")
    assert reports.count("<svg") == 3 and 'id="proactive"' in reports and "Noise" in reports
    for kind, header in [("sla", "client,priority"), ("proactive", "client,monitoring"), ("noise", "")]:
        csv = desk.client.get(f"/reports/{kind}.csv")
        assert csv.status_code == 200 and csv.mimetype == "text/csv", kind
        assert csv.get_data(as_text=True).startswith(header), kind
    assert desk.client.get("/people").status_code == 403
    admin = desk.client.application.test_client()
    log_in(admin, "chief")
    people = page(admin, "/people")
    assert "bank-rep" in people and "Add a user" in people


def test_the_russian_console(desk: Api) -> None:
    open_incidents(desk)
    log_in(desk.client, "ivanova")
    html = page(desk.client, "/")
    assert '<html lang="ru"' in html
    assert "Открытые инциденты" in html
    assert AM_TOKEN not in html


def test_every_console_page_allows_only_its_own_scripts(desk: Api) -> None:
    log_in(desk.client, "orlov")
    response = desk.client.get("/")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert re.findall(r"<script[^>]*>", response.get_data(as_text=True)) == [
        '<script src="/static/theme.js">',
        '<script src="/static/console.js" defer>',
    ]
    with desk.client.get("/static/console.js") as script:
        assert script.status_code == 200 and b"keydown" in script.data


def form_fields(html: str, form_id: str) -> dict[str, str]:
    """The values a browser would send from the form with `form_id` (inputs and textareas)."""
    form = html.split(f'id="{form_id}"', 1)[1].split("</form>", 1)[0]
    fields = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form))
    fields.update(re.findall(r'<textarea[^>]*name="([^"]+)"[^>]*>([^<]*)</textarea>', form))
    fields.update(re.findall(r'<select name="([^"]+)">.*?<option selected>([^<]+)</option>', form, re.S))
    return {k: v.replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">") for k, v in fields.items()}


def test_an_engineer_silences_an_alert_in_two_clicks_and_expires_it(desk: Api) -> None:
    open_incidents(desk)
    log_in(desk.client, "belov")
    alerts = page(desk.client, "/alerts")
    (silence_link,) = re.findall(
        r'href="(/alerts\?silence=\d+)#new-silence"[^>]*>Silence', alerts.split("HighLatency", 1)[1]
    )[:1]
    html = page(desk.client, silence_link)  # click one
    fields = form_fields(html, "new-silence")
    assert "name=HighLatency" in fields["matchers"] and "customer=logistics" in fields["matchers"]
    response = desk.client.post("/silences", data=fields)  # click two
    assert response.status_code == 303 and response.headers["Location"] == "/alerts?done=silence-created"
    (silence,) = desk.get("/api/silences", state="active")["items"]
    assert silence["matchers"]["name"] == "HighLatency" and silence["author"] == "belov"
    html = page(desk.client, "/alerts?done=silence-created")
    assert "Silence created." in html
    csrf = fields["csrf_token"]
    response = desk.client.post(f"/silences/{silence['id']}/expire", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert desk.get("/api/silences", state="active")["items"] == []


def test_an_engineer_adds_and_cancels_an_override(desk: Api) -> None:
    csrf = log_in(desk.client, "belov")
    data = {
        "csrf_token": csrf,
        "schedule": "night-operators",
        "person": "volkov",
        "ends_at": "12h",
        "reason": "swap",
    }
    assert desk.client.post("/duty/overrides", data=data).status_code == 303
    html = page(desk.client, "/duty?done=override-added")
    assert "Override added." in html and "swap" in html
    (override,) = desk.runtime.services.oncall.list_overrides()
    assert (override.person, override.author) == ("volkov", "belov")
    refused = desk.client.post("/duty/overrides", data={**data, "person": "nobody-here"})
    assert refused.status_code == 400 and "unknown person" in refused.get_data(as_text=True)
    assert (
        desk.client.post(f"/duty/overrides/{override.id}/cancel", data={"csrf_token": csrf}).status_code
        == 303
    )
    assert desk.runtime.services.oncall.list_overrides()[0].cancelled_at is not None


def test_a_refused_reload_shows_where_the_rules_are_wrong(desk: Api) -> None:
    csrf = log_in(desk.client, "belov")
    rules = desk.runtime.settings.rules_dir / "rules.yaml"
    rules.write_text(rules.read_text() + "  - name: broken\n    match: {severity: [oops]}\n")
    response = desk.client.post("/rules/reload", data={"csrf_token": csrf})
    assert response.status_code == 303 and response.headers["Location"] == "/rules?done=rules-refused"
    html = page(desk.client, "/rules?done=rules-refused")
    assert 'id="rules-error"' in html
    assert re.search(r'<span class="mono">[^<]*rules\.yaml:\d+</span>', html)
    operator = desk.client.application.test_client()
    token = log_in(operator, "orlov")
    assert operator.post("/rules/reload", data={"csrf_token": token}).status_code == 403


def test_an_admin_manages_people_and_tokens(desk: Api) -> None:
    csrf = log_in(desk.client, "chief")
    new = {"csrf_token": csrf, "handle": "volkov", "name": "Viktor Volkov", "role": "operator", "locale": "ru",
           "password": "a long enough password"}  # fmt: skip
    assert desk.client.post("/people", data=new).status_code == 303
    issued = desk.client.post("/people/volkov/tokens", data={"csrf_token": csrf, "name": "laptop"})
    assert issued.status_code == 200 and issued.headers["Cache-Control"] == "no-store"
    (token,) = re.findall(r'<p class="mono">(bridge_pat_[^<]+)</p>', issued.get_data(as_text=True))
    assert (
        desk.client.application.test_client()
        .get("/api/incidents", headers={"Authorization": f"Bearer {token}"})
        .status_code
        == 200
    )
    assert token not in page(desk.client, "/people")  # shown once
    (info,) = desk.runtime.services.people.list_tokens("volkov").items
    assert desk.client.post(f"/people/tokens/{info.id}/revoke", data={"csrf_token": csrf}).status_code == 303
    assert (
        desk.client.application.test_client()
        .get("/api/incidents", headers={"Authorization": f"Bearer {token}"})
        .status_code
        == 401
    )
    assert desk.client.post("/people/volkov/disable", data={"csrf_token": csrf}).status_code == 303
    assert desk.runtime.services.people.get("volkov").disabled_at is not None


def test_an_operator_opens_an_incident_by_hand_and_a_viewer_cannot(desk: Api) -> None:
    csrf = log_in(desk.client, "orlov")
    assert 'id="new-incident"' in page(desk.client, "/")
    data = {"csrf_token": csrf, "title": "Shop tills <offline>", "priority": "P2", "type": "incident",
            "client": "retail", "reporter": "store 12"}  # fmt: skip
    response = desk.client.post("/incidents", data=data)
    assert response.status_code == 303 and response.headers["Location"] == "/incidents/1"
    shown = desk.incident(1)
    assert (shown["title"], shown["priority"], shown["client"]) == ("Shop tills <offline>", "P2", "retail")
    assert "Shop tills &lt;offline&gt;" in page(desk.client, "/incidents/1")
    refused = desk.client.post("/incidents", data={**data, "client": "nosuchclient"})
    assert refused.status_code == 400 and "unknown client" in refused.get_data(as_text=True)
    viewer = desk.client.application.test_client()
    token = log_in(viewer, VIEWER)
    assert 'id="new-incident"' not in page(viewer, "/")
    assert viewer.post("/incidents", data={**data, "csrf_token": token}).status_code == 403
