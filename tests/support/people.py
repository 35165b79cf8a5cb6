"""People for tests: add a user of a role (with cheap argon2 parameters, so a test signs in in
milliseconds), sign a Flask test client in through the real login form, issue a personal token.

    person = add_user(runtime, "ivanov", Role.OPERATOR)
    csrf = log_in(client, "ivanov")        # the client now carries the session cookie
    client.post("/api/incidents/1/ack", json={}, headers={"X-CSRF-Token": csrf})
"""

from __future__ import annotations

import re
from functools import cached_property

from argon2 import PasswordHasher
from flask.testing import FlaskClient

from bridge.services.people import NewUser, PeopleService
from bridge.services.wiring import Services
from bridge.ticketing.roles import Person, Role
from bridge.worker.runtime import Runtime

PASSWORD = "correct horse battery"
"""Every test user's password, unless a test says otherwise."""

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
"""argon2id, cheap: a test's hashes need no strength."""

_CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')


def people(runtime: Runtime | Services) -> PeopleService:
    """The people service of `runtime`, switched to the cheap hasher (once, before first use)."""
    services = runtime.services if isinstance(runtime, Runtime) else runtime
    name = "people"
    attribute = type(services).__dict__[name]
    assert isinstance(attribute, cached_property)
    if name not in services.__dict__:
        services.__dict__[name] = PeopleService(
            services.sessions, services.clock, services.settings, FAST_HASHER
        )
    found = services.__dict__[name]
    assert isinstance(found, PeopleService)
    return found


def add_user(
    runtime: Runtime | Services,
    handle: str,
    role: Role = Role.OPERATOR,
    *,
    client: str | None = None,
    name: str | None = None,
    locale: str = "en",
    password: str | None = PASSWORD,
) -> Person:
    """A user of `role` (a viewer needs `client`) who signs in with `password`."""
    new = NewUser(handle, name or handle.title(), role, client, locale, password)
    return people(runtime).add(new, "test")


def login_csrf(client: FlaskClient) -> str:
    """The CSRF token of the login form (the client keeps its cookie)."""
    page = client.get("/login")
    assert page.status_code == 200, page.status_code
    found = _CSRF_INPUT.search(page.get_data(as_text=True))
    assert found, "the login form has no csrf_token field"
    return found.group(1)


def log_in(client: FlaskClient, handle: str, password: str = PASSWORD) -> str:
    """Sign `client` in through the login form; returns the session's CSRF token for changes
    (form field ``csrf_token`` or header ``X-CSRF-Token``)."""
    token = login_csrf(client)
    response = client.post("/login", data={"handle": handle, "password": password, "csrf_token": token})
    assert response.status_code == 303, (response.status_code, response.get_data(as_text=True)[:500])
    return session_csrf(client)


def session_csrf(client: FlaskClient) -> str:
    """The CSRF token of the signed-in session: the one the pages put in their forms."""
    response = client.get("/api/me")
    assert response.status_code == 200, response.status_code
    token = response.get_json()["csrf_token"]
    assert isinstance(token, str)
    return token


def issue_token(runtime: Runtime | Services, handle: str, name: str = "test") -> str:
    """A personal token acting as `handle` (shown once: keep it)."""
    return people(runtime).issue_token(handle, name, "test").token
