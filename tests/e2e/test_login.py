"""People through the real app, on SQLite and PostgreSQL: signing in and out, expiry,
throttling, CSRF, cookies, personal tokens (shown once, revocable), the admin token, a viewer
who sees their client's incidents only, and the timeline naming who acted."""

from __future__ import annotations

import re
from datetime import timedelta

from bridge.clock import FakeClock
from bridge.services.incidents import NewIncident
from bridge.ticketing.roles import Role
from tests.support.api import Api
from tests.support.app import ADMIN_TOKEN
from tests.support.people import PASSWORD, add_user, issue_token, log_in, login_csrf

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def open_incidents(api: Api) -> None:
    found = api.runtime.services.incidents
    found.open(NewIncident("Till down", client="retail"), "test")  # 1
    found.open(NewIncident("Core banking slow", client="bank"), "test")  # 2
    found.open(NewIncident("Scanner offline", client="retail"), "test")  # 3


def test_a_user_signs_in_and_the_api_knows_them(api: Api) -> None:
    add_user(api.runtime, "ivanov", Role.OPERATOR, name="Ivan Ivanov")
    csrf = log_in(api.client, "ivanov")
    me = api.client.get("/api/me")
    assert me.status_code == 200
    assert me.get_json() == {
        "handle": "ivanov",
        "name": "Ivan Ivanov",
        "role": "operator",
        "client": None,
        "locale": "en",
        "csrf_token": csrf,
    }


def test_the_session_cookie_is_httponly_lax_and_secure_behind_https(api: Api) -> None:
    add_user(api.runtime, "ivanov")
    token = login_csrf(api.client)
    response = api.client.post("/login", data={"handle": "ivanov", "password": PASSWORD, "csrf_token": token})
    (cookie,) = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("bridge_session=")]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain http (the test's base URL is unset)
    assert "Max-Age=50400" in cookie  # the 14-hour lifetime
    secure_settings = api.runtime.services.settings.with_overrides(base_url="https://bridge.example")
    assert secure_settings.cookies_secure
    assert not secure_settings.with_overrides(secure_cookies=False).cookies_secure


def test_a_wrong_password_shows_the_form_again_and_sets_no_session(api: Api) -> None:
    add_user(api.runtime, "ivanov")
    token = login_csrf(api.client)
    response = api.client.post("/login", data={"handle": "ivanov", "password": "nope", "csrf_token": token})
    assert response.status_code == 401
    assert "wrong user name or password" in response.get_data(as_text=True)
    assert not any(c.startswith("bridge_session=") for c in response.headers.getlist("Set-Cookie"))
    assert api.client.get("/api/me").status_code == 401


def test_the_login_form_refuses_a_post_without_its_csrf_token(api: Api) -> None:
    add_user(api.runtime, "ivanov")
    login_csrf(api.client)  # the cookie is there, the field is not
    response = api.client.post("/login", data={"handle": "ivanov", "password": PASSWORD})
    assert response.status_code == 403
    forged = api.client.post("/login", data={"handle": "ivanov", "password": PASSWORD, "csrf_token": "x"})
    assert forged.status_code == 403
    fresh = api.client.application.test_client()  # no cookie at all
    assert (
        fresh.post("/login", data={"handle": "ivanov", "password": PASSWORD, "csrf_token": ""}).status_code
        == 403
    )


def test_after_signing_in_the_browser_goes_back_where_it_was_but_never_off_site(api: Api) -> None:
    add_user(api.runtime, "ivanov")
    for asked, landed in [
        ("/incidents/1?tab=timeline", "/incidents/1?tab=timeline"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("", "/"),
    ]:
        client = api.client.application.test_client()
        token = login_csrf(client)
        response = client.post(
            "/login", data={"handle": "ivanov", "password": PASSWORD, "csrf_token": token, "next": asked}
        )
        assert (response.status_code, response.headers["Location"]) == (303, landed), asked


def test_signing_in_again_replaces_the_session_held_before(api: Api) -> None:
    add_user(api.runtime, "ivanov")
    add_user(api.runtime, "petrov")
    csrf = log_in(api.client, "ivanov")
    before = api.client.get_cookie("bridge_session")
    assert before is not None
    form = {"handle": "petrov", "password": PASSWORD, "csrf_token": csrf}  # signed in: the session's token
    assert api.client.post("/login", data=form).status_code == 303
    after = api.client.get_cookie("bridge_session")
    assert after is not None and after.value != before.value
    old = api.client.application.test_client()
    old.set_cookie("bridge_session", before.value)
    assert old.get("/api/me").status_code == 401
    assert api.client.get("/api/me").get_json()["handle"] == "petrov"


def test_signing_out_deletes_the_session_so_the_cookie_opens_nothing(api: Api) -> None:
    add_user(api.runtime, "ivanov")
    csrf = log_in(api.client, "ivanov")
    cookie = api.client.get_cookie("bridge_session")
    assert cookie is not None
    assert api.client.post("/logout").status_code == 403  # without the CSRF token: refused
    response = api.client.post("/logout", data={"csrf_token": csrf})
    assert (response.status_code, response.headers["Location"]) == (303, "/login")
    assert api.client.get("/api/me").status_code == 401
    replayed = api.client.application.test_client()
    replayed.set_cookie("bridge_session", cookie.value)  # a copy of the old cookie
    assert replayed.get("/api/me").status_code == 401


def test_a_session_ends_after_idling_and_after_its_lifetime(api: Api, clock: FakeClock) -> None:
    add_user(api.runtime, "ivanov")
    log_in(api.client, "ivanov")
    clock.advance(timedelta(hours=2))
    assert api.client.get("/api/me").status_code == 401
    page = api.client.get("/incidents/1")
    assert (page.status_code, page.headers["Location"]) == (303, "/login?next=/incidents/1")
    log_in(api.client, "ivanov")
    for _ in range(13):
        clock.advance(timedelta(hours=1))
        assert api.client.get("/api/me").status_code == 200
    clock.advance(timedelta(hours=1))
    assert api.client.get("/api/me").status_code == 401


def test_repeated_failures_are_throttled_with_429_and_retry_after(api: Api, clock: FakeClock) -> None:
    add_user(api.runtime, "ivanov")
    token = login_csrf(api.client)
    form = {"handle": "ivanov", "password": "guess", "csrf_token": token}
    assert [api.client.post("/login", data=form).status_code for _ in range(5)] == [401] * 5
    locked = api.client.post("/login", data={**form, "password": PASSWORD})
    assert locked.status_code == 429
    assert locked.headers["Retry-After"] == "900"
    assert "too many failed sign-ins" in locked.get_data(as_text=True)
    clock.advance(timedelta(minutes=15))
    assert api.client.post("/login", data={**form, "password": PASSWORD}).status_code == 303


def test_a_personal_token_is_shown_once_acts_as_its_owner_and_can_be_revoked(api: Api) -> None:
    open_incidents(api)
    add_user(api.runtime, "ivanov", Role.OPERATOR)
    csrf = log_in(api.client, "ivanov")
    created = api.client.post("/api/me/tokens", json={"name": "my script"}, headers={"X-CSRF-Token": csrf})
    assert created.status_code == 201
    token = created.get_json()["token"]
    assert token.startswith("bridge_pat_")
    listed = api.client.get("/api/me/tokens").get_json()["items"]
    assert [t["name"] for t in listed] == ["my script"]
    assert token not in str(listed) and token not in str(
        api.client.get("/api/tokens", headers=ADMIN).get_json()
    )
    script = api.client.application.test_client()  # no cookie: the token alone
    acked = script.post("/api/incidents/1/ack", json={"comment": "from my script"}, headers=bearer(token))
    assert acked.status_code == 200
    timeline = script.get("/api/incidents/1", headers=bearer(token)).get_json()["timeline"]
    assert (timeline[-1]["actor"], timeline[-1]["text"]) == (
        "ivanov",
        "acknowledged by ivanov: from my script",
    )
    token_id = listed[0]["id"]
    revoked = api.client.delete(f"/api/me/tokens/{token_id}", headers={"X-CSRF-Token": csrf})
    assert revoked.status_code == 200 and revoked.get_json()["revoked_at"] is not None
    assert script.get("/api/incidents", headers=bearer(token)).status_code == 401


def test_the_admin_token_still_works_and_acts_as_admin(api: Api) -> None:
    open_incidents(api)
    assert api.client.post("/api/incidents/2/ack", json={}, headers=ADMIN).status_code == 200
    assert api.incident(2)["timeline"][-1]["actor"] == "admin"
    assert api.client.get("/api/me", headers=ADMIN).get_json()["role"] == "admin"


def test_a_viewer_sees_their_client_s_incidents_only_and_another_s_is_404(api: Api) -> None:
    open_incidents(api)
    add_user(api.runtime, "client1", Role.VIEWER, client="retail")
    token = issue_token(api.runtime, "client1")
    listed = api.client.get("/api/incidents", headers=bearer(token)).get_json()
    assert (listed["total"], [i["number"] for i in listed["items"]]) == (2, [3, 1])
    asked = api.client.get("/api/incidents?client=bank", headers=bearer(token)).get_json()
    assert asked["total"] == 0
    other = api.client.get("/api/incidents/2", headers=bearer(token))
    missing = api.client.get("/api/incidents/99", headers=bearer(token))
    assert (other.status_code, other.get_json()) == (
        404,
        {"error": "no incident 2", "detail": {"code": "not_found"}},
    )
    assert missing.status_code == 404
    before = api.incident(2)["timeline"]
    commented = api.client.post("/api/incidents/2/comment", json={"comment": "x"}, headers=bearer(token))
    assert (commented.status_code, commented.get_json()["error"]) == (404, "no incident 2")
    assert api.incident(2)["timeline"] == before  # nothing written
    report = api.client.get("/api/reports/sla?client=bank", headers=bearer(token))
    assert report.status_code == 400
    assert api.client.get("/api/incidents/1", headers=bearer(token)).get_json()["my_actions"] == [
        "priority",
        "comment",
        "cancel",
    ]
    # and on the page
    log_in(api.client, "client1")
    assert api.client.get("/incidents/2").status_code == 404
    assert api.client.get("/incidents/1").status_code == 200


def test_a_viewer_acts_as_the_desk_allows_a_client_and_no_further(api: Api) -> None:
    open_incidents(api)
    add_user(api.runtime, "client1", Role.VIEWER, client="retail")
    token = issue_token(api.runtime, "client1")

    def act(action: str, **body: str) -> int:
        return api.client.post(f"/api/incidents/1/{action}", json=body, headers=bearer(token)).status_code

    assert act("ack") == 403
    assert act("priority", priority="P1") == 200
    assert act("comment", comment="still down at the shop") == 200
    assert act("assign", to="ivanov") == 403
    assert act("assign", line="L2") == 403
    assert (
        api.client.post("/api/incidents/1/line", json={"line": "L2"}, headers=bearer(token)).status_code
        == 403
    )
    api.act(1, "resolve", "rebooted")
    assert act("reject", comment="it is not working") == 200
    api.act(1, "resolve", "replaced the disk")
    assert act("close") == 200
    timeline = api.incident(1)["timeline"]
    assert [(e["actor"], e["kind"]) for e in timeline if e["actor"] == "client1"] == [
        ("client1", "priority"),
        ("client1", "comment"),
        ("client1", "rejected"),
        ("client1", "closed"),
    ]
    assert act("cancel") == 409  # closed: allowed to a viewer, not in this status


def test_an_operator_changes_line_and_type_by_their_own_endpoints(api: Api) -> None:
    open_incidents(api)
    add_user(api.runtime, "ivanov", Role.OPERATOR)
    token = issue_token(api.runtime, "ivanov")
    line = api.client.post(
        "/api/incidents/1/line", json={"line": "l2", "comment": "disk"}, headers=bearer(token)
    )
    assert (line.status_code, line.get_json()["line"]) == (200, "L2")
    kind = api.client.post("/api/incidents/1/type", json={"type": "service_request"}, headers=bearer(token))
    assert (kind.status_code, kind.get_json()["type"]) == (200, "service_request")
    again = api.client.post("/api/incidents/1/type", json={"type": "service_request"}, headers=bearer(token))
    assert again.status_code == 409
    bad = api.client.post("/api/incidents/1/type", json={"type": "bug"}, headers=bearer(token))
    assert (bad.status_code, bad.get_json()["detail"]) == (400, {"code": "bad_request", "field": "type"})
    texts = [(e["actor"], e["text"]) for e in api.incident(1)["timeline"][-2:]]
    assert texts == [
        ("ivanov", "line L1 -> L2 by ivanov: disk"),
        ("ivanov", "type incident -> service request by ivanov"),
    ]


def test_an_admin_manages_users_and_tokens_through_the_api(api: Api) -> None:
    created = api.client.post(
        "/api/users",
        json={"handle": "petrov", "role": "engineer", "password": "a long enough one"},
        headers=ADMIN,
    )
    assert created.status_code == 201
    assert created.get_json()["role"] == "engineer" and "password_hash" not in created.get_json()
    issued = api.client.post("/api/users/petrov/tokens", json={"name": "ci"}, headers=ADMIN).get_json()
    assert api.client.get("/api/me", headers=bearer(issued["token"])).get_json()["handle"] == "petrov"
    disabled = api.client.patch("/api/users/petrov", json={"disabled": True}, headers=ADMIN)
    assert disabled.get_json()["disabled_at"] is not None
    assert api.client.get("/api/me", headers=bearer(issued["token"])).status_code == 401
    users = api.client.get("/api/users", headers=ADMIN).get_json()
    assert [u["handle"] for u in users["items"]] == ["petrov"] and users["total"] == 1
    duplicate = api.client.post("/api/users", json={"handle": "petrov", "role": "operator"}, headers=ADMIN)
    assert duplicate.status_code == 409


def test_an_error_body_is_the_same_shape_everywhere(api: Api) -> None:
    for response, code in [
        (api.client.get("/api/incidents"), "unauthenticated"),
        (api.client.get("/api/incidents/999", headers=ADMIN), "not_found"),
        (api.client.get("/api/incidents?limit=0", headers=ADMIN), "bad_request"),
        (api.client.get("/nowhere"), "not_found"),
    ]:
        body = response.get_json()
        assert set(body) == {"error", "detail"} and body["detail"]["code"] == code
        assert isinstance(body["error"], str) and body["error"]


def test_every_time_the_api_gives_is_iso_8601_with_an_offset(api: Api) -> None:
    open_incidents(api)
    body = api.incident(1)
    times = [v for v in [body["opened_at"], *(e["at"] for e in body["timeline"])] if v]
    assert times and all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", t) for t in times
    )
