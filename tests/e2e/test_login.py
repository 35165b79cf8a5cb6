"""Signing in to the console and out, through the real app: sessions, expiry, throttling, CSRF."""

from __future__ import annotations

from bridge.ticketing.roles import Role
from tests.support.api import Api
from tests.support.people import add_user, log_in


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
