"""Acting from a notification mail: the Acknowledge and Escalate links of the mails a real SMTP
server receives, followed through the HTTP app (Flask's client, cookies kept like a browser's),
on SQLite and PostgreSQL. A link works once, until it expires, only as the person it was sent
to, only from the page bridge showed (CSRF), and a GET never acts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from itsdangerous import URLSafeSerializer
from werkzeug.test import TestResponse

from bridge.clock import FakeClock
from bridge.db.models import MailLink
from bridge.services.mail_links import SALT, LinkAction
from bridge.ticketing.roles import Role
from tests.support.duty import BASE_URL, RULES, Desk, running_desk
from tests.support.people import add_user, log_in, people, session_csrf

SECRET = "test-secret-key-that-is-long-enough-0123456789"
LINK = re.compile(
    r"^\s*(Acknowledge|Escalate|Принять в работу|Эскалировать):\s+(https://\S+/mail-link/\S+?)\r?$", re.M
)
CONFIRM = re.compile(r'name="link_csrf" value="([0-9a-f]+)"')


@pytest.fixture
def desk(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Desk]:
    with running_desk(database_url, tmp_path, clock, RULES, secret_key=SECRET) as running:
        yield running


def links(mail_text: str) -> dict[str, str]:
    """The action links of a mail, as paths of the app ({"ack": "/mail-link/..."})."""
    names = {
        "Acknowledge": "ack",
        "Escalate": "escalate",
        "Принять в работу": "ack",
        "Эскалировать": "escalate",
    }
    return {names[name]: url.removeprefix(BASE_URL) for name, url in LINK.findall(mail_text)}


def p1(desk: Desk) -> tuple[int, str, dict[str, str]]:
    """A P1 opened at night: its number, the person it went to, the links of their mail."""
    desk.at("2026-11-24 03:00")
    incident = desk.open(title="Payment gateway down", priority="P1", client="bank")
    number, person = incident["number"], incident["assignee"]
    (mail,) = [m for m in desk.inbox.mails if m.recipients == [f"{person}@desk.example"]]
    return number, person, links(mail.message.get_body(("plain",)).get_content())


def confirm_page(client: FlaskClient, path: str) -> tuple[TestResponse, str]:
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = CONFIRM.search(page.text)
    assert found is not None, page.text
    return page, found.group(1)


def confirm(client: FlaskClient, path: str, **form: str) -> TestResponse:
    _, token = confirm_page(client, path)
    return client.post(path, data={"link_csrf": token, **form})


def status(desk: Desk, number: int) -> str:
    return str(desk.incident(number)["status"])


def used(desk: Desk) -> list[str]:
    with desk.runtime.services.sessions() as session:
        return [row.action for row in session.query(MailLink).filter(MailLink.used_at.is_not(None))]


def test_an_operator_acknowledges_a_p1_from_the_link_in_the_mail_smtp_received(desk: Desk) -> None:
    number, person, found = p1(desk)
    assert set(found) == {"ack", "escalate"}
    client = desk.client.application.test_client()  # a phone's browser: no session
    page, _ = confirm_page(client, found["ack"])
    assert "Payment gateway down" in page.text and "P1" in page.text
    assert status(desk, number) == "open"  # opening the page did nothing

    desk.clock.advance(timedelta(minutes=4))  # found the phone, read the mail
    done = confirm(client, found["ack"])
    desk.drain()
    desk.at("2026-11-24 03:25")  # past the acknowledge target and the policy's next steps

    assert done.status_code == 200, done.text
    assert 'data-outcome="acted"' in done.text
    assert status(desk, number) == "acknowledged"
    timeline = desk.incident(number)["timeline"]
    print(f"\nincident #{number} timeline:")
    for entry in timeline:
        via = f"via {entry['via']}" if entry["via"] else "via -"
        print(f"  {entry['at']}  {entry['actor']:<10} {via:<12} {entry['kind']:<14} {entry['text']}")
    ack = [e for e in timeline if e["kind"] == "acknowledged"]
    assert [(e["actor"], e["text"], e["via"]) for e in ack] == [
        (person, f"acknowledged by {person}", "e-mail")
    ]
    after = timeline[timeline.index(ack[0]) + 1 :]
    assert [e for e in after if e["kind"] == "paged"] == []  # the acknowledgement stopped escalation
    assert desk.incident(number)["ack_breached_at"] is None
    assert used(desk) == ["ack"]


def test_a_get_never_acts_however_often_the_link_is_opened(desk: Desk) -> None:
    number, _, found = p1(desk)
    client = desk.client.application.test_client()
    for _ in range(3):
        assert client.get(found["ack"]).status_code == 200
        assert client.head(found["escalate"]).status_code == 200
    assert status(desk, number) == "open"
    assert used(desk) == []
    assert desk.timeline(number, "acknowledged", "escalated") == []


def test_a_link_works_once(desk: Desk) -> None:
    number, _, found = p1(desk)
    client = desk.client.application.test_client()
    _, token = confirm_page(client, found["ack"])
    assert client.post(found["ack"], data={"link_csrf": token}).status_code == 200
    again = client.post(found["ack"], data={"link_csrf": token})
    assert again.status_code == 410 and 'data-problem="used"' in again.text
    assert client.get(found["ack"]).status_code == 410
    assert len(desk.timeline(number, "acknowledged")) == 1


def test_an_expired_link_changes_nothing(desk: Desk) -> None:
    number, _, found = p1(desk)
    client = desk.client.application.test_client()
    _, token = confirm_page(client, found["ack"])
    desk.clock.advance(timedelta(hours=24))  # BRIDGE_MAIL_LINK_LIFETIME's default
    refused = client.post(found["ack"], data={"link_csrf": token})
    assert refused.status_code == 410 and 'data-problem="expired"' in refused.text
    assert client.get(found["ack"]).status_code == 410
    assert status(desk, number) == "open"
    assert used(desk) == []


def test_a_link_long_expired_and_forgotten_still_says_it_expired(desk: Desk) -> None:
    number, _, found = p1(desk)
    desk.clock.advance(timedelta(days=9))
    desk.act(number, "escalate")  # more mails: issuing links forgets the long-expired ones
    with desk.runtime.services.sessions() as session:
        assert (
            session.get(MailLink, URLSafeSerializer(SECRET, salt=SALT).loads(found["ack"][11:])["l"]) is None
        )
    page = desk.client.application.test_client().get(found["ack"])
    assert page.status_code == 410 and 'data-problem="expired"' in page.text


def test_a_link_almost_expired_still_works(desk: Desk) -> None:
    number, _, found = p1(desk)
    desk.clock.advance(timedelta(hours=24) - timedelta(seconds=1))
    assert confirm(desk.client.application.test_client(), found["ack"]).status_code == 200
    assert status(desk, number) == "acknowledged"


@pytest.mark.parametrize(
    "change",
    [
        lambda token: token[:-5] + ("A" if token[-5] != "A" else "B") + token[-4:],  # the signature
        lambda token: token[:10] + ("x" if token[10] != "x" else "y") + token[11:],  # the payload
        lambda token: token[: len(token) // 2],  # cut short
        lambda token: URLSafeSerializer("another-key-" * 4, salt=SALT).dumps(
            URLSafeSerializer(SECRET, salt=SALT).loads(token)
        ),  # the same content signed with another key
    ],
    ids=["signature", "payload", "cut", "other-key"],
)
def test_a_tampered_link_is_refused_and_changes_nothing(desk: Desk, change: Any) -> None:
    number, _, found = p1(desk)
    client = desk.client.application.test_client()
    _, real_csrf = confirm_page(client, found["ack"])
    tampered = "/mail-link/" + change(found["ack"].removeprefix("/mail-link/"))
    page = client.get(tampered)
    assert page.status_code == 400 and 'data-problem="tampered"' in page.text
    posted = client.post(tampered, data={"link_csrf": real_csrf})
    assert posted.status_code in (400, 403)
    assert status(desk, number) == "open"


def test_another_recipients_link_is_refused(desk: Desk) -> None:
    number, person, found = p1(desk)
    services = desk.runtime.services
    payload = URLSafeSerializer(SECRET, salt=SALT).loads(found["ack"].removeprefix("/mail-link/"))
    other = "kuznetsova" if person != "kuznetsova" else "volkov"
    expires = desk.clock.now() + timedelta(hours=1)
    forged = services.mail_links.sign(
        payload["l"], number, other, LinkAction.ACK, expires
    )  # a leaked key's work
    client = desk.client.application.test_client()
    page = client.get(f"/mail-link/{forged}")
    assert page.status_code == 403 and 'data-problem="not_yours"' in page.text
    assert status(desk, number) == "open"


def test_someone_else_signed_in_in_that_browser_is_refused(desk: Desk) -> None:
    number, person, found = p1(desk)
    other = "kuznetsova" if person != "kuznetsova" else "volkov"
    add_user(desk.runtime, other, Role.OPERATOR)
    client = desk.client.application.test_client()
    log_in(client, other)
    page = client.get(found["ack"])
    assert page.status_code == 403 and 'data-problem="not_yours"' in page.text
    assert status(desk, number) == "open"


def test_the_recipient_signed_in_is_taken_to_the_console_incident(desk: Desk) -> None:
    number, person, found = p1(desk)
    add_user(desk.runtime, person, Role.OPERATOR)
    client = desk.client.application.test_client()
    log_in(client, person)
    done = confirm(client, found["ack"], csrf_token=session_csrf(client))
    assert done.status_code == 303
    assert done.headers["Location"].endswith(f"/incidents/{number}")
    assert status(desk, number) == "acknowledged"


@pytest.mark.parametrize("presented", ["", "0" * 64], ids=["without", "wrong"])
def test_a_confirmation_without_the_pages_csrf_token_is_refused(desk: Desk, presented: str) -> None:
    number, _, found = p1(desk)
    client = desk.client.application.test_client()
    confirm_page(client, found["ack"])
    refused = client.post(found["ack"], data={"link_csrf": presented} if presented else {})
    assert refused.status_code == 403 and 'data-problem="bad_csrf"' in refused.text
    assert status(desk, number) == "open"
    assert used(desk) == []


def test_a_csrf_token_from_another_browser_is_refused(desk: Desk) -> None:
    """A page elsewhere that read the link cannot make the recipient's browser confirm: the
    token is bound to the nonce cookie of the browser that loaded the page."""
    number, _, found = p1(desk)
    attacker = desk.client.application.test_client()
    _, token = confirm_page(attacker, found["ack"])
    victim = desk.client.application.test_client()
    victim.get(found["ack"])
    refused = victim.post(found["ack"], data={"link_csrf": token})
    assert refused.status_code == 403
    assert status(desk, number) == "open"


def test_a_disabled_person_or_one_whose_role_no_longer_allows_it_is_refused(desk: Desk) -> None:
    number, person, found = p1(desk)
    add_user(desk.runtime, person, Role.VIEWER, client="bank")  # a viewer may not acknowledge
    client = desk.client.application.test_client()
    page = client.get(found["ack"])
    assert page.status_code == 403 and 'data-problem="not_allowed"' in page.text
    people(desk.runtime).update(person, "admin", role=Role.OPERATOR)
    people(desk.runtime).disable(person, "admin")
    page = client.get(found["ack"])
    assert page.status_code == 403 and 'data-problem="disabled"' in page.text
    assert status(desk, number) == "open"


def test_a_link_bridge_never_issued_is_unknown(desk: Desk) -> None:
    number, person, _ = p1(desk)
    expires = desk.clock.now() + timedelta(hours=1)
    forged = desk.runtime.services.mail_links.sign("no-such-link", number, person, LinkAction.ACK, expires)
    page = desk.client.application.test_client().get(f"/mail-link/{forged}")
    assert page.status_code == 404 and 'data-problem="unknown"' in page.text


def test_an_incident_acknowledged_already_answers_with_its_state(desk: Desk) -> None:
    number, _, found = p1(desk)
    desk.act(number, "ack")  # someone took it in the console meanwhile
    client = desk.client.application.test_client()
    page = client.get(found["ack"])
    assert page.status_code == 200 and 'data-outcome="already"' in page.text
    assert 'name="link_csrf"' not in page.text  # nothing to confirm
    desk.act(number, "resolve", comment="fixed")
    page = client.get(found["escalate"])
    assert page.status_code == 200 and 'data-outcome="already"' in page.text and "resolved" in page.text
    assert len(desk.timeline(number, "acknowledged")) == 1


def test_the_incident_acknowledged_between_page_and_confirmation_is_answered_not_failed(desk: Desk) -> None:
    number, _, found = p1(desk)
    client = desk.client.application.test_client()
    _, token = confirm_page(client, found["ack"])
    desk.act(number, "ack")
    answer = client.post(found["ack"], data={"link_csrf": token})
    assert answer.status_code == 200 and 'data-outcome="already"' in answer.text
    assert len(desk.timeline(number, "acknowledged")) == 1


def test_the_escalate_link_escalates_as_the_recipient(desk: Desk) -> None:
    number, person, found = p1(desk)
    assert confirm(desk.client.application.test_client(), found["escalate"]).status_code == 200
    desk.drain()
    assert desk.timeline(number, "escalated") == [f"escalated by {person}"]


def test_confirmations_are_rate_limited_per_person(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    with running_desk(database_url, tmp_path, clock, RULES, secret_key=SECRET, mail_link_max_uses=2) as desk:
        number, _, found = p1(desk)
        client = desk.client.application.test_client()
        _, token = confirm_page(client, found["ack"])
        for _ in range(2):
            assert client.post(found["ack"], data={"link_csrf": "0" * 64}).status_code == 403
        limited = client.post(found["ack"], data={"link_csrf": token})
        assert limited.status_code == 429 and limited.headers["Retry-After"]
        assert status(desk, number) == "open"
        desk.clock.advance(timedelta(minutes=10))
        assert client.post(found["ack"], data={"link_csrf": token}).status_code == 200


def test_a_russian_reader_gets_russian_links_and_page(desk: Desk) -> None:
    add_user(desk.runtime, "orlov", Role.OPERATOR, locale="ru")  # on duty that night
    desk.at("2026-11-24 03:00")
    incident = desk.open(title="Шлюз платежей недоступен", priority="P1", client="bank")
    person = incident["assignee"]
    assert person == "orlov"
    mails = [m for m in desk.inbox.mails if m.recipients == [f"{person}@desk.example"]]
    text = mails[-1].message.get_body(("plain",)).get_content()
    assert "Принять в работу:" in text
    found = links(text)
    page = desk.client.application.test_client().get(found["ack"], headers={"Accept-Language": "ru"})
    assert page.status_code == 200 and "Подтвердить" in page.text and "по почте" in page.text


def test_without_a_secret_key_mails_carry_no_links(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    with running_desk(database_url, tmp_path, clock, RULES) as desk:
        desk.at("2026-11-24 03:00")
        desk.open(title="Payment gateway down", priority="P1", client="bank")
        assert desk.inbox.mails
        assert all(
            "/mail-link/" not in m.message.get_body(("plain",)).get_content() for m in desk.inbox.mails
        )
        assert desk.client.get("/mail-link/anything").status_code == 404


def test_only_mail_carries_links_other_channels_do_not(desk: Desk) -> None:
    p1(desk)
    desk.drain()
    sent = desk.http.requests  # the Telegram stand-in and people's webhooks
    assert sent
    assert all("/mail-link/" not in str(r.body) for r in sent)


def test_the_api_never_shows_a_mails_link_tokens(desk: Desk) -> None:
    """A viewer of the client reads the incident's notifications: with the tokens they could act as
    the engineer the mail went to."""
    number, _, found = p1(desk)
    token = found["ack"].removeprefix("/mail-link/")
    detail = desk.incident(number)
    bodies = [n["body"] for n in detail["notifications"] if n["channel"] == "email"]
    assert bodies and all("/mail-link/***" in body for body in bodies)
    listed = desk.get("/api/notifications", incident=number)["items"]
    assert token not in str(detail) and token not in str(listed)
