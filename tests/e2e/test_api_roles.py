"""Every API endpoint against every role, generated from the app's own route list: a person whose
role lacks the endpoint's right gets 403, one whose role has it gets past the door (whatever the
endpoint then says of the empty request), nobody gets 401, and a change made with a console
session but without its CSRF token gets 403. A route that `permissions.ENDPOINTS` does not
declare fails here before it can ship open.

The permission check does not depend on the database, so this runs on SQLite only; the people
service itself is tested on both (tests/integration/test_people.py)."""

from __future__ import annotations

import itertools
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.routing import Rule

from bridge.clock import FakeClock
from bridge.services.incidents import NewIncident
from bridge.ticketing.lifecycle import IncidentAction
from bridge.ticketing.roles import RIGHTS, Role
from bridge.web.api.permissions import ENDPOINTS, ByArgument, endpoint_of, needed
from bridge.web.app import create_app
from bridge.worker.runtime import Runtime
from tests.conftest import START
from tests.support.app import ADMIN_TOKEN, build_runtime, make_settings, write_rules
from tests.support.people import add_user, issue_token, log_in

_ARGUMENT = re.compile(r"<(?:(?P<converter>[a-z]+):)?(?P<name>\w+)>")


@dataclass(frozen=True)
class Desk:
    app: Flask
    runtime: Runtime
    tokens: dict[str, str]  # who -> bearer token
    victim_token: int  # a token id the admin may revoke


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Desk]:
    directory = tmp_path_factory.mktemp("roles")
    shutil.copy(sqlite_template, directory / "bridge.db")
    settings = make_settings(f"sqlite:///{directory / 'bridge.db'}", write_rules(directory / "rules"))
    runtime = build_runtime(settings, FakeClock(START))
    app = create_app(runtime=runtime)
    incidents = runtime.services.incidents
    incidents.open(NewIncident("Till down", client="retail"), "test")  # 1: the viewer's client's
    incidents.open(NewIncident("Core banking slow", client="bank"), "test")  # 2: another client's
    add_user(runtime, "client1", Role.VIEWER, client="retail")
    add_user(runtime, "op1", Role.OPERATOR)
    add_user(runtime, "eng1", Role.ENGINEER)
    add_user(runtime, "adm1", Role.ADMIN)
    tokens = {handle: issue_token(runtime, handle) for handle in ("client1", "op1", "eng1", "adm1")}
    tokens["admin-token"] = ADMIN_TOKEN
    victim = runtime.services.people.issue_token("op1", "to be revoked", "test").id
    yield Desk(app, runtime, tokens, victim)
    runtime.close()


ROLES = {"client1": Role.VIEWER, "op1": Role.OPERATOR, "eng1": Role.ENGINEER, "adm1": Role.ADMIN}
ROLES["admin-token"] = Role.ADMIN


def api_rules(app: Flask) -> list[Rule]:
    return sorted((r for r in app.url_map.iter_rules() if r.rule.startswith("/api/")), key=lambda r: r.rule)


def requests_of(rule: Rule, desk: Desk) -> Iterator[tuple[str, str, dict[str, object]]]:
    """Each method of `rule` with concrete paths: every incident action for ``<action>``."""
    choices: dict[str, list[object]] = {
        "number": [1],
        "action": [a.value for a in IncidentAction],
        "handle": ["op1"],
        "token_id": [desk.victim_token],
        "silence_id": [1],
        "override_id": [1],
    }
    names = [m.group("name") for m in _ARGUMENT.finditer(rule.rule)]
    for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
        for values in itertools.product(*(choices[name] for name in names)):
            view_args = dict(zip(names, values, strict=True))
            path = _ARGUMENT.sub(lambda m, a=view_args: str(a[m.group("name")]), rule.rule)  # type: ignore[misc]
            yield method, path, view_args


def call(client: FlaskClient, method: str, path: str, headers: dict[str, str]) -> tuple[int, str]:
    response = client.open(path, method=method, headers=headers, json={} if method != "GET" else None)
    body = response.get_json(silent=True) or {}
    return response.status_code, str(body.get("error", ""))


def test_every_api_route_declares_its_permission_and_nothing_else_is_declared(desk: Desk) -> None:
    routes = {
        f"{m} {r.rule}" for r in api_rules(desk.app) for m in (r.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert sorted(routes - set(ENDPOINTS)) == []  # undeclared: refused to everyone, and fails here
    assert sorted(set(ENDPOINTS) - routes) == []  # declared but gone: the table lies


@pytest.mark.parametrize("who", list(ROLES))
def test_each_role_passes_exactly_the_endpoints_its_rights_allow(desk: Desk, who: str) -> None:
    role = ROLES[who]
    client = desk.app.test_client()
    headers = {"Authorization": f"Bearer {desk.tokens[who]}"}
    wrong, checked = [], 0
    for rule in api_rules(desk.app):
        for method, path, view_args in requests_of(rule, desk):
            endpoint = endpoint_of(method, rule.rule)
            assert endpoint is not None, f"{method} {rule.rule}"
            allowed = needed(endpoint, view_args) in RIGHTS[role]
            status, error = call(client, method, path, headers)
            checked += 1
            if allowed and status in (401, 403):
                wrong.append(f"{method} {path}: {role} refused {status} {error}")
            if not allowed and status != 403:
                wrong.append(f"{method} {path}: {role} let in ({status})")
    assert wrong == []
    assert checked >= len(ENDPOINTS) + len(IncidentAction) - 1


def test_nobody_gets_past_any_endpoint(desk: Desk) -> None:
    client = desk.app.test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Bearer bridge_pat_made-up"}):
        for rule in api_rules(desk.app):
            for method, path, _ in requests_of(rule, desk):
                assert call(client, method, path, headers) == (401, "missing or wrong API token"), (
                    method,
                    path,
                )


def test_a_change_through_a_session_without_its_csrf_token_is_refused_everywhere(desk: Desk) -> None:
    client = desk.app.test_client()
    csrf = log_in(client, "adm1")  # may do anything: only the CSRF check can refuse
    refused = 0
    for rule in api_rules(desk.app):
        for method, path, _ in requests_of(rule, desk):
            if method == "GET":
                continue
            for headers in ({}, {"X-CSRF-Token": "forged"}):
                status, error = call(client, method, path, headers)
                assert (status, error) == (403, "missing or wrong CSRF token: reload the page and try again")
                refused += 1
    assert refused > 20
    # with the token, the same session acts: as its person
    status, _ = call(client, "POST", "/api/incidents/1/comment", {"X-CSRF-Token": csrf})
    assert status == 400  # past the door: a comment needs text
    response = client.post(
        "/api/incidents/1/comment", json={"comment": "on it"}, headers={"X-CSRF-Token": csrf}
    )
    assert response.status_code == 200
    detail = client.get("/api/incidents/1").get_json()
    assert detail["timeline"][-1]["actor"] == "adm1"


def test_what_a_client_s_viewer_may_reach_is_this_list(desk: Desk) -> None:
    """Pinned, so a changed right in the table is a visible change here too."""
    reachable = sorted(
        key
        for key, endpoint in ENDPOINTS.items()
        if not isinstance(endpoint.needs, ByArgument) and endpoint.needs in RIGHTS[Role.VIEWER]
    )
    assert reachable == [
        "DELETE /api/me/telegram",  # a viewer comments from Telegram by replying
        "DELETE /api/me/tokens/<number:token_id>",
        "GET /api/docs",
        "GET /api/incidents",
        "GET /api/incidents/<number:number>",
        "GET /api/me",
        "GET /api/me/tokens",
        "GET /api/openapi.json",
        "GET /api/reports/sla",
        "POST /api/me/telegram/link",
        "POST /api/me/tokens",
    ]
    actions = ENDPOINTS["POST /api/incidents/<number:number>/<action>"].needs
    assert isinstance(actions, ByArgument)
    assert sorted(a for a, right in actions.actions.items() if right in RIGHTS[Role.VIEWER]) == [
        "cancel",
        "close",
        "comment",
        "priority",
        "reject",
    ]
