"""Whatever a client sends the API, the answer is a 4xx in JSON saying what is wrong, never a 500:
numbers too large for the database, digits that are not ASCII, times out of range, unknown filter
words, texts no database stores; and `q` searches for what it says, `%` and `_` included. Run on
SQLite and PostgreSQL through the real app."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import TestResponse

from tests.support.api import Api
from tests.support.app import ADMIN_TOKEN
from tests.support.duty import Desk, desk
from tests.support.payloads import captured

__all__ = ["desk"]

BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
HUGE = "99999999999999999999"  # > 2**63
JUST_TOO_BIG = str(2**63)
FULLWIDTH_ONE = "\uff11"
ARABIC_ONE = "\u0661"


def call(api: Api, method: str, path: str, body: Any = None, **headers: str) -> TestResponse:
    data = None if body is None else json.dumps(body)
    return api.client.open(
        path,
        method=method,
        data=data,
        headers={**BEARER, **headers, **({"Content-Type": "application/json"} if data else {})},
    )


@pytest.fixture
def one_incident(api: Api) -> Api:
    assert api.alertmanager(captured("alertmanager/01-firing-single.json").body_raw).status_code == 202
    api.drain()
    assert api.incident(1)["number"] == 1
    return api


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "error"),
    [
        ("GET", f"/api/incidents/{HUGE}", None, 404, f"no incident {HUGE}"),
        ("GET", f"/api/incidents/{JUST_TOO_BIG}", None, 404, f"no incident {JUST_TOO_BIG}"),
        ("GET", f"/api/incidents/{2**63 - 1}", None, 404, f"no incident {2**63 - 1}"),
        ("GET", "/api/incidents/0", None, 404, "no incident 0"),
        ("GET", f"/api/incidents/{FULLWIDTH_ONE}", None, 404, "no such endpoint"),
        ("GET", f"/api/incidents/{ARABIC_ONE}", None, 404, "no such endpoint"),
        ("GET", "/api/incidents/" + "9" * 5000, None, 404, "no such endpoint"),
        ("POST", f"/api/incidents/{HUGE}/ack", {}, 404, f"no incident {HUGE}"),
        ("POST", f"/api/incidents/{FULLWIDTH_ONE}/ack", {}, 404, "no such endpoint"),
        ("GET", f"/api/silences/{HUGE}", None, 404, f"no silence {HUGE}"),
        ("DELETE", f"/api/silences/{HUGE}", None, 404, f"no silence {HUGE}"),
        ("DELETE", f"/api/oncall/overrides/{HUGE}", None, 404, f"no override {HUGE}"),
        ("GET", f"/api/incidents?offset={HUGE}", None, 400, None),
        ("GET", f"/api/incidents?offset={JUST_TOO_BIG}", None, 400, None),
        ("GET", "/api/incidents?offset=-1", None, 400, None),
        ("GET", f"/api/incidents?limit={FULLWIDTH_ONE}0", None, 400, None),
        ("GET", "/api/incidents?limit=%2B5", None, 400, None),
        ("GET", "/api/incidents?limit=" + "9" * 5000, None, 400, None),
        ("GET", f"/api/alerts?incident={HUGE}", None, 400, None),
        ("GET", f"/api/alerts?incident={ARABIC_ONE}", None, 400, None),
        ("GET", f"/api/alerts?incident={FULLWIDTH_ONE}", None, 400, None),
        ("GET", f"/api/notifications?incident={HUGE}", None, 400, None),
        ("GET", f"/api/silences?offset={HUGE}", None, 400, None),
        ("POST", "/api/intake/retry", {"ids": [int(HUGE)]}, 400, None),
        ("POST", "/api/intake/retry", {"ids": [0]}, 400, None),
        ("POST", "/api/intake/retry", {"ids": [True]}, 400, None),
        (
            "GET",
            "/api/oncall?at=9999-12-31T23:00:00Z",
            None,
            400,
            "at: must be between 1970-01-01 and 2999-12-31",
        ),
        ("GET", "/api/oncall?at=9999-12-31T23:00:00-05:00", None, 400, None),
        ("GET", "/api/oncall?at=0001-01-01T00:00:00%2B05:00", None, 400, None),
        ("GET", "/api/oncall/shifts?from=9999-12-30T00:00:00Z", None, 400, None),
        ("GET", "/api/oncall/shifts?to=9999-12-31T23:59:59Z", None, 400, None),
        ("GET", "/api/reports/sla?to=9999-12-31T23:00:00Z", None, 400, None),
        ("GET", "/api/reports/sla?from=0001-01-01T00:00:00Z", None, 400, None),
        (
            "POST",
            "/api/silences",
            {"matchers": {"host": "db-01"}, "ends_at": "9" * 20 + "d", "comment": "x"},
            400,
            "ends_at: too long",
        ),
        (
            "POST",
            "/api/silences",
            {"matchers": {"host": "db-01"}, "ends_at": "9999-12-31T23:00:00Z", "comment": "x"},
            400,
            None,
        ),
        (
            "POST",
            "/api/oncall/overrides",
            {"schedule": "x", "person": "y", "starts_at": "9999-12-31T22:00:00-05:00", "ends_at": "1h"},
            400,
            None,
        ),
    ],
)
def test_numbers_and_times_out_of_range_are_4xx(
    one_incident: Api, method: str, path: str, body: Any, status: int, error: str | None
) -> None:
    response = call(one_incident, method, path, body)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    if error is not None:
        assert response.get_json()["error"] == error


def test_the_largest_offset_is_a_page_past_the_end(one_incident: Api) -> None:
    page = one_incident.get("/api/incidents", offset=str(2**63 - 1))
    assert (page["items"], page["total"]) == ([], 1)


def test_the_incident_page_takes_no_foreign_digits_either(one_incident: Api) -> None:
    basic = "Basic " + base64.b64encode(f"me:{ADMIN_TOKEN}".encode()).decode()
    assert one_incident.client.get("/incidents/1", headers={"Authorization": basic}).status_code == 200
    for path in (f"/incidents/{FULLWIDTH_ONE}", f"/incidents/{HUGE}"):
        response = one_incident.client.get(path, headers={"Authorization": basic})
        assert response.status_code == 404 and response.is_json


@pytest.mark.parametrize(
    ("path", "error"),
    [
        (
            "/api/incidents?status=opne",
            "status: unknown 'opne'; one of open, acknowledged, stale, resolved, closed, cancelled",
        ),
        ("/api/incidents?status=open,opne", None),
        ("/api/incidents?priority=P9", "priority: unknown 'P9'; one of P1, P2, P3, P4, P5"),
        ("/api/incidents?type=bug", "type: unknown 'bug'; one of incident, service_request, change_request"),
        ("/api/alerts?status=burning", "status: unknown 'burning'; one of firing, resolved"),
        ("/api/alerts?decision=maybe", None),
        ("/api/intake?status=stuck", "status: unknown 'stuck'; one of pending, done, failed"),
        ("/api/outbox?status=lost", "status: unknown 'lost'; one of pending, running, done, failed"),
        ("/api/notifications?status=read", None),
        ("/api/notifications?channel=sms", "channel: unknown 'sms'; one of email, telegram, webhook"),
        ("/api/silences?state=asleep", "state: unknown 'asleep'; one of active, pending, expired"),
    ],
)
def test_unknown_filter_words_are_400_listing_the_known_ones(api: Api, path: str, error: str | None) -> None:
    response = api.client.get(path, headers=BEARER)
    assert response.status_code == 400
    if error is not None:
        assert response.get_json()["error"] == error
    else:
        assert response.get_json()["error"].split(":")[0] == path.split("?")[1].split("=", maxsplit=1)[0]


def test_filter_words_that_exist_still_filter(one_incident: Api) -> None:
    assert one_incident.get("/api/incidents", status="open,acknowledged", priority="p1")["total"] == 1
    assert one_incident.get("/api/incidents", status="closed")["total"] == 0
    assert one_incident.get("/api/alerts", status="firing", decision="incident")["total"] == 1
    assert one_incident.get("/api/notifications", channel="email,webhook")["total"] == 0


def test_q_matches_percent_underscore_and_backslash_literally(api: Api) -> None:
    for title in ("CPU at 100% on web-01", "disk_full on db-01", "plain title", "path C:\\temp full"):
        assert call(api, "POST", "/api/incidents", {"title": title}).status_code == 201

    def found(q: str) -> list[str]:
        return [i["title"] for i in api.incidents(q=q)]

    assert found("%") == ["CPU at 100% on web-01"]
    assert found("_") == ["disk_full on db-01"]
    assert found("\\") == ["path C:\\temp full"]
    assert found("0%") == ["CPU at 100% on web-01"]
    assert found("k_f") == ["disk_full on db-01"]
    assert found("k%f") == []
    assert found("PLAIN") == ["plain title"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/incidents", {"title": "a\x00b"}, "title"),
        ("/api/incidents", {"title": "a\ud800b"}, "title"),
        ("/api/incidents", {"title": "ok", "reporter": "x" * 201}, "reporter"),
        ("/api/incidents", {"title": "ok", "client": "x" * 201}, "client"),
        ("/api/incidents/1/comment", {"comment": "a\x00b"}, "comment"),
        ("/api/incidents/1/comment", {}, "comment"),
        ("/api/incidents/1/comment", {"comment": " \n "}, "comment"),
        ("/api/silences", {"matchers": {"host": "a\x00"}, "ends_at": "1h", "comment": "x"}, "matchers.host"),
        (
            "/api/silences",
            {"matchers": {"host": "a"}, "ends_at": "1h", "comment": "x", "author": "y" * 201},
            "author",
        ),
    ],
)
def test_bodies_no_database_can_store_are_400_naming_the_field(
    one_incident: Api, path: str, body: dict[str, Any], field: str
) -> None:
    response = call(one_incident, "POST", path, body)
    assert response.status_code == 400, response.get_json()
    assert response.get_json()["error"].startswith(f"{field}: ")


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000 + b"]" * 100_000, b'{"title": ' + b"9" * 5000 + b"}", b"\xff\xfe", b"not json"],
)
def test_bodies_that_are_not_json_objects_are_400(api: Api, raw: bytes) -> None:
    response = api.client.post(
        "/api/incidents", data=raw, headers={**BEARER, "Content-Type": "application/json"}
    )
    assert (response.status_code, response.get_json()["error"].split(":")[0]) == (400, "body")


def test_query_texts_with_nul_are_400(one_incident: Api) -> None:
    for path in (
        "/api/incidents?q=a%00",
        "/api/alerts?q=%00",
        "/api/incidents?client=%00",
        "/api/reports/sla?client=%00",
    ):
        response = one_incident.client.get(path, headers=BEARER)
        assert response.status_code == 400, path


def test_a_missing_comment_is_400_not_409(one_incident: Api) -> None:
    response = one_incident.act(1, "comment")
    assert (response.status_code, response.get_json()["error"]) == (400, "comment: a comment needs text")


def test_an_incident_opened_for_a_client_the_rota_does_not_know_is_400(desk: Desk) -> None:
    response = desk.post("/api/incidents", {"title": "Till is down", "client": "retial"})
    assert (response.status_code, response.get_json()) == (
        400,
        {
            "error": "client: unknown client 'retial'; one of bank, logistics, retail",
            "detail": {"code": "bad_request", "field": "client"},
        },
    )
    assert desk.get("/api/incidents")["total"] == 0
    assert desk.open(title="Till is down", client="retail")["client"] == "retail"


def test_without_clients_in_the_rota_any_client_may_be_named(api: Api) -> None:
    response = call(api, "POST", "/api/incidents", {"title": "Printer", "client": "anyone"})
    assert (response.status_code, response.get_json()["client"]) == (201, "anyone")


QUERY_NAMES = ["limit", "offset", "status", "priority", "type", "q", "client", "assignee", "incident",
               "decision", "channel", "state", "at", "from", "to", "schedule"]  # fmt: skip
GET_PATHS = [
    "/api/incidents",
    "/api/alerts",
    "/api/intake",
    "/api/outbox",
    "/api/notifications",
    "/api/silences",
    "/api/oncall",
    "/api/oncall/shifts",
    "/api/oncall/overrides",
    "/api/reports/sla",
    "/api/rules",
]
NASTY = st.sampled_from(
    [
        "",
        "0",
        "-1",
        "1e3",
        HUGE,
        JUST_TOO_BIG,
        FULLWIDTH_ONE,
        ARABIC_ONE,
        "\x00",
        "%",
        "_",
        "\\",
        "P1",
        "open",
        "9999-12-31T23:00:00Z",
        "9999-12-31T23:00:00-05:00",
        "0001-01-01T00:00:00+05:00",
        "2026-12-04T10:00:00Z",
        "2026-12-04T10:00:00",
        "1" * 5000,
        "\u2028",
    ]
) | st.text(max_size=30)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(GET_PATHS), params=st.dictionaries(st.sampled_from(QUERY_NAMES), NASTY, max_size=4)
)
def test_no_query_string_gets_a_500(one_incident: Api, path: str, params: dict[str, str]) -> None:
    response = one_incident.client.get(path, query_string=params, headers=BEARER)
    assert response.status_code < 500, (path, params, response.get_data(as_text=True))
    assert response.is_json


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | NASTY | st.just("\ud800"),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(NASTY, children, max_size=3),
    max_leaves=8,
)
POST_PATHS = [
    "/api/incidents",
    "/api/incidents/1/comment",
    "/api/incidents/1/assign",
    "/api/incidents/1/priority",
    "/api/incidents/1/ack",
    "/api/silences",
    "/api/oncall/overrides",
    "/api/intake/retry",
]
BODY_KEYS = ["title", "priority", "type", "client", "description", "reporter", "route", "line", "comment",
             "to", "matchers", "starts_at", "ends_at", "author", "schedule", "person", "reason", "ids", "all"]  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    path=st.sampled_from(POST_PATHS),
    body=st.dictionaries(st.sampled_from(BODY_KEYS), JSON_VALUES, max_size=5),
)
def test_no_json_body_gets_a_500(one_incident: Api, path: str, body: dict[str, Any]) -> None:
    response = one_incident.client.post(path, json=body, headers=BEARER)
    assert response.status_code < 500, (path, body, response.get_data(as_text=True))
    assert response.is_json
