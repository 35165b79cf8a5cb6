"""The people service on SQLite and PostgreSQL: users, passwords, sessions and their expiry,
throttling, personal tokens."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from bridge.clock import FakeClock
from bridge.db.engine import create_db_engine, make_session_factory
from bridge.db.models import PersonalToken, User, WebSession
from bridge.db.queries import Paging
from bridge.errors import Conflict, NotFound, PayloadError, TooManyAttempts, Unauthenticated
from bridge.services.people import TOKEN_PREFIX, NewUser, PeopleService
from bridge.settings import Settings
from bridge.ticketing.roles import Role
from tests.support.people import FAST_HASHER, PASSWORD

ADDRESS = "192.0.2.7"


@pytest.fixture
def people(database_url: str, clock: FakeClock) -> Iterator[PeopleService]:
    settings = Settings(database_url=database_url)
    engine = create_db_engine(database_url)
    yield PeopleService(make_session_factory(engine), clock, settings, FAST_HASHER)
    engine.dispose()


def add(people: PeopleService, handle: str, role: Role = Role.OPERATOR, client: str | None = None) -> None:
    people.add(NewUser(handle, handle.title(), role, client, "en", PASSWORD), "test")


def test_a_user_is_added_listed_and_their_password_is_stored_hashed(people: PeopleService) -> None:
    add(people, "ivanov")
    add(people, "client1", Role.VIEWER, "retail")
    page = people.list(Paging(10, 0))
    assert [(u.handle, u.role, u.client) for u in page.items] == [
        ("client1", Role.VIEWER, "retail"),
        ("ivanov", Role.OPERATOR, None),
    ]
    with people.sessions() as session:
        stored = session.scalars(select(User.password_hash)).all()
    assert all(h is not None and h.startswith("$argon2id$") and PASSWORD not in h for h in stored)


@pytest.mark.parametrize(
    ("new", "field"),
    [
        (NewUser("admin", "x", Role.ADMIN, password=PASSWORD), "handle"),  # the admin token's name
        (NewUser("bridge", "x", Role.ADMIN, password=PASSWORD), "handle"),  # bridge's own
        (NewUser("has space", "x", Role.OPERATOR, password=PASSWORD), "handle"),
        (NewUser("v", "x", Role.VIEWER, password=PASSWORD), "client"),  # a viewer needs a client
        (NewUser("o", "x", Role.OPERATOR, client="retail", password=PASSWORD), "client"),
        (NewUser("o", "x", Role.OPERATOR, locale="de", password=PASSWORD), "locale"),
        (NewUser("o", "x", Role.OPERATOR, password="short"), "password"),
    ],
)
def test_a_user_that_cannot_be_is_refused_naming_the_field(
    people: PeopleService, new: NewUser, field: str
) -> None:
    with pytest.raises(PayloadError) as refused:
        people.add(new, "test")
    assert refused.value.field == field


def test_a_handle_is_taken_once(people: PeopleService) -> None:
    add(people, "ivanov")
    with pytest.raises(Conflict):
        add(people, "ivanov")


def test_the_right_password_signs_in_and_a_wrong_one_or_an_unknown_user_is_refused_alike(
    people: PeopleService,
) -> None:
    add(people, "ivanov")
    assert people.authenticate("ivanov", PASSWORD, ADDRESS).role is Role.OPERATOR
    with pytest.raises(Unauthenticated) as wrong:
        people.authenticate("ivanov", "not the password", ADDRESS)
    with pytest.raises(Unauthenticated) as unknown:
        people.authenticate("nobody", PASSWORD, ADDRESS)
    assert str(wrong.value) == str(unknown.value) == "wrong user name or password"


def test_a_session_lives_until_idle_or_its_lifetime_ends(people: PeopleService, clock: FakeClock) -> None:
    add(people, "ivanov")
    opened = people.login("ivanov", PASSWORD, ADDRESS)
    assert people.signed_in(opened.key) is not None
    clock.advance(timedelta(hours=1, minutes=59))  # idle just under 2h
    assert people.signed_in(opened.key) is not None
    clock.advance(timedelta(hours=2))  # idle 2h since the last request
    assert people.signed_in(opened.key) is None
    # active all along, it still ends after 14 hours
    active = people.login("ivanov", PASSWORD, ADDRESS)
    for _ in range(14):
        assert people.signed_in(active.key) is not None
        clock.advance(timedelta(hours=1))
    assert people.signed_in(active.key) is None
    with people.sessions() as session:
        assert session.scalars(select(WebSession)).all() == []  # expired rows are gone


def test_signing_out_disabling_and_a_new_password_end_sessions(people: PeopleService) -> None:
    add(people, "ivanov")
    first = people.login("ivanov", PASSWORD, ADDRESS)
    people.close_session(first.key)
    assert people.signed_in(first.key) is None
    second = people.login("ivanov", PASSWORD, ADDRESS)
    people.set_password("ivanov", "another long password", "test")
    assert people.signed_in(second.key) is None
    third = people.login("ivanov", "another long password", ADDRESS)
    people.disable("ivanov", "test")
    assert people.signed_in(third.key) is None
    with pytest.raises(Unauthenticated):
        people.login("ivanov", "another long password", ADDRESS)
    people.enable("ivanov", "test")
    assert people.login("ivanov", "another long password", ADDRESS).person.handle == "ivanov"


def test_failures_of_one_account_lock_it_for_the_window_even_with_the_right_password(
    people: PeopleService, clock: FakeClock
) -> None:
    add(people, "ivanov")
    for _ in range(5):
        with pytest.raises(Unauthenticated):
            people.authenticate("ivanov", "guess", ADDRESS)
    with pytest.raises(TooManyAttempts) as locked:
        people.authenticate("ivanov", PASSWORD, "198.51.100.1")  # another address, the right password
    assert 0 < locked.value.retry_after <= 15 * 60
    clock.advance(timedelta(minutes=15, seconds=1))
    assert people.authenticate("ivanov", PASSWORD, ADDRESS).handle == "ivanov"


def test_failures_from_one_address_lock_the_address_whatever_the_account(people: PeopleService) -> None:
    add(people, "ivanov")
    for n in range(20):
        with pytest.raises(Unauthenticated):
            people.authenticate(f"guess{n}", "guess", ADDRESS)
    with pytest.raises(TooManyAttempts):
        people.authenticate("ivanov", PASSWORD, ADDRESS)
    assert people.authenticate("ivanov", PASSWORD, "198.51.100.1").handle == "ivanov"


def test_a_token_acts_as_its_owner_until_revoked_and_is_stored_hashed(
    people: PeopleService, clock: FakeClock
) -> None:
    add(people, "ivanov")
    issued = people.issue_token("ivanov", "grafana", "test")
    assert issued.token.startswith(TOKEN_PREFIX)
    person = people.token_person(issued.token)
    assert person is not None and person.handle == "ivanov"
    with people.sessions() as session:
        (row,) = session.scalars(select(PersonalToken)).all()
    assert issued.token not in row.token_sha256 and row.last_used_at == clock.now()
    (listed,) = people.list_tokens("ivanov").items
    assert (listed.name, listed.owner, listed.revoked_at) == ("grafana", "ivanov", None)
    people.revoke_token(issued.id, "test")
    assert people.token_person(issued.token) is None
    assert people.token_person(TOKEN_PREFIX + "made-up") is None
    assert people.token_person("") is None


def test_a_disabled_owner_s_tokens_stop_working(people: PeopleService) -> None:
    add(people, "ivanov")
    issued = people.issue_token("ivanov", "script", "test")
    people.disable("ivanov", "test")
    assert people.token_person(issued.token) is None


def test_revoking_someone_else_s_token_as_owner_is_not_found(people: PeopleService) -> None:
    add(people, "ivanov")
    add(people, "petrov")
    issued = people.issue_token("ivanov", "script", "test")
    with pytest.raises(NotFound):
        people.revoke_token(issued.id, "petrov", owner="petrov")
    assert people.token_person(issued.token) is not None


def test_promoting_a_viewer_drops_their_client(people: PeopleService) -> None:
    add(people, "client1", Role.VIEWER, "retail")
    user = people.update("client1", "test", role=Role.OPERATOR)
    assert (user.role, user.client) == (Role.OPERATOR, None)
    with pytest.raises(PayloadError):
        people.update("client1", "test", role=Role.VIEWER)  # back to viewer: which client?
    user = people.update("client1", "test", role=Role.VIEWER, client="bank")
    assert (user.role, user.client) == (Role.VIEWER, "bank")
