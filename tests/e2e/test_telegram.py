"""Acting from Telegram, against the local stand-in for the Bot API (getUpdates with offset and
timeout, sendMessage with message ids, editMessageText, answerCallbackQuery): pages carry
buttons; a press acts as the linked bridge user, lands in the timeline via Telegram and edits
the page; strangers, other clients' viewers, repeated updates and over-eager fingers change
nothing; a reply to a page is a comment; linking is a one-time code from the console."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bridge.clock import FakeClock
from bridge.db.models import TelegramUpdate
from bridge.integrations.telegram import CallbackPress
from bridge.services.telegram import NOT_ALLOWED, NOT_LINKED, TelegramDesk
from bridge.ticketing.roles import Role
from tests.support.app import ADMIN_TOKEN, AM_TOKEN, build_runtime
from tests.support.duty import RULES, TELEGRAM_TOKEN, Desk, running_desk
from tests.support.payloads import am_alert, am_notification
from tests.support.people import add_user, issue_token, log_in
from tests.support.receivers import Request

ORLOV = 100001  # Oleg Orlov, operator, on the night shift: his chat id is his account's id
KUZNETSOVA = 100002
STRANGER = 555_000_111


@pytest.fixture
def desk(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Desk]:
    with running_desk(database_url, tmp_path, clock, RULES, telegram_poll_seconds=1) as running:
        yield running


def bot(desk: Desk) -> TelegramDesk:
    found = desk.runtime.services.telegram
    assert found is not None
    return found


def poll(desk: Desk) -> int:
    """One long poll by this process (it holds the lease alone), then the worker's round."""
    taken = bot(desk).poll_once("test-poller")
    assert taken is not None, "another poller holds the lease"
    desk.drain()
    return taken


def sent(desk: Desk, method: str, chat: int | None = None) -> list[Request]:
    found = desk.http.posted(f"/bot{TELEGRAM_TOKEN}/{method}")
    return [r for r in found if chat is None or str(r.body["chat_id"]) == str(chat)]


def answers(desk: Desk) -> list[str]:
    return [r.body["text"] for r in sent(desk, "answerCallbackQuery")]


def buttons(request: Request) -> list[str]:
    markup = request.body.get("reply_markup") or {"inline_keyboard": []}
    return [b["text"] for row in markup["inline_keyboard"] for b in row]


def page_of(desk: Desk, chat: int, incident: int, kind: str = "registered") -> Request:
    """The page about `incident` sent to `chat` (its answer holds the message id)."""
    (found,) = [
        r
        for r in sent(desk, "sendMessage", chat)
        if f"#{incident} " in r.body["text"] and kind in r.body["text"]
    ]
    return found


def link(desk: Desk, handle: str, account: int) -> None:
    """`handle` gets a code from the API and sends `/start <code>` from `account`."""
    token = issue_token(desk.runtime, handle)
    response = desk.client.post("/api/me/telegram/link", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.get_json()
    desk.http.telegram.text(account, response.get_json()["command"])
    poll(desk)
    assert (
        sent(desk, "sendMessage", account)[-1]
        .body["text"]
        .startswith("Linked: this Telegram account acts as")
    )


def timeline(desk: Desk, number: int) -> list[tuple[str, str, str | None]]:
    return [(e["kind"], e["actor"], e["via"]) for e in desk.incident(number)["timeline"]]


def p1_at_night(desk: Desk) -> int:
    """A P1 from Alertmanager at 03:00 on a Tuesday: the night operator (Orlov) is paged."""
    desk.at("2026-11-24 03:00")
    alert = am_alert(
        "HostDown", starts_at="2026-11-24T00:00:00Z", host="wh-01", customer="logistics", severity="critical"
    )
    response = desk.client.post(
        "/webhooks/alertmanager", json=am_notification(alert), headers={"Authorization": f"Bearer {AM_TOKEN}"}
    )
    assert response.status_code == 202
    desk.drain()
    (incident,) = desk.get("/api/incidents")["items"]
    assert incident["priority"] == "P1"
    return int(incident["number"])


def test_an_operator_acknowledges_a_p1_from_the_telegram_button(desk: Desk) -> None:
    add_user(desk.runtime, "orlov", Role.OPERATOR, name="Oleg Orlov")
    link(desk, "orlov", ORLOV)
    number = p1_at_night(desk)
    page = page_of(desk, ORLOV, number)
    assert buttons(page) == ["Acknowledge", "Escalate", "Resolve", "Open in console"]
    assert (
        page.body["reply_markup"]["inline_keyboard"][1][0]["url"]
        == f"https://bridge.desk.example/incidents/{number}"
    )
    assert all(
        len(b["callback_data"].encode()) <= 64 for b in page.body["reply_markup"]["inline_keyboard"][0]
    )

    desk.clock.advance(timedelta(minutes=3))
    desk.http.telegram.press(ORLOV, f"ack:{number}", chat_id=ORLOV, message_id=page.answer["message_id"])
    assert poll(desk) == 1

    incident = desk.incident(number)
    assert (incident["status"], incident["acknowledged_at"]) == ("acknowledged", "2026-11-24T00:03:00Z")
    (acked,) = [e for e in incident["timeline"] if e["kind"] == "acknowledged"]
    assert (acked["actor"], acked["via"]) == ("orlov", "telegram")
    assert answers(desk) == [f"#{number} acknowledged by Oleg Orlov."]
    (edit,) = sent(desk, "editMessageText", ORLOV)
    assert edit.body["message_id"] == page.answer["message_id"]
    assert edit.body["text"].startswith(page.body["text"])
    assert edit.body["text"].endswith("✅ Acknowledged by Oleg Orlov via Telegram at 2026-11-24 03:03 MSK")
    assert buttons(edit) == ["Escalate", "Resolve", "Open in console"]  # what still makes sense
    console = desk.client.get(f"/incidents/{number}", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert '<span class="muted via">via Telegram</span>' in console.get_data(as_text=True)
    names = {u["handle"]: u["name"] for u in desk.get("/api/users")["items"]}
    print(f"\ntimeline of #{number} (P1), acknowledged from the Telegram button:")
    for e in incident["timeline"]:
        who = names.get(e["actor"], e["actor"])
        print(f"  {e['at']}  {who:<10} via {e['via'] or '-':<9} {e['kind']:<14} {e['text'][:80]}")


def test_a_strangers_press_changes_nothing_and_reveals_nothing(desk: Desk) -> None:
    add_user(desk.runtime, "orlov", Role.OPERATOR)
    number = p1_at_night(desk)
    page = page_of(desk, ORLOV, number)
    before = timeline(desk, number)
    # The page was forwarded; a stranger presses its buttons (and makes up data of their own).
    for data in (f"ack:{number}", f"resolve:{number}", "ack:99", "drop table;"):
        desk.http.telegram.press(STRANGER, data, chat_id=STRANGER, message_id=page.answer["message_id"])
    desk.http.telegram.text(STRANGER, "please close it", reply_to=page.answer["message_id"])
    assert poll(desk) == 5
    assert timeline(desk, number) == before
    assert desk.incident(number)["status"] == "open"
    assert answers(desk) == [NOT_LINKED] * 4
    assert [r.body["text"] for r in sent(desk, "sendMessage", STRANGER)] == [NOT_LINKED]
    assert sent(desk, "editMessageText") == []


def test_an_account_in_the_rota_acts_without_a_code_and_roles_and_clients_still_hold(
    desk: Desk, tmp_path: Path
) -> None:
    rota = desk.rules_dir / "rota.yaml"
    text = rota.read_text()
    text = text.replace('telegram: "100002"}', 'telegram: "100002", telegram_id: 100002}')
    rota.write_text(text)
    assert desk.runtime.services.rota.reload("test")
    add_user(desk.runtime, "kuznetsova", Role.VIEWER, client="retail")  # a viewer of another client
    number = p1_at_night(desk)  # logistics
    desk.http.telegram.press(KUZNETSOVA, f"ack:{number}", chat_id=KUZNETSOVA, message_id=1)
    desk.http.telegram.text(
        KUZNETSOVA, "hello?", reply_to=page_of(desk, ORLOV, number).answer["message_id"], chat_id=ORLOV
    )
    poll(desk)
    assert answers(desk) == [NOT_ALLOWED]  # the same words as for an incident that does not exist
    assert desk.incident(number)["status"] == "open"
    desk.runtime.services.people.update("kuznetsova", "test", client="logistics")
    desk.http.telegram.press(KUZNETSOVA, f"ack:{number}", chat_id=KUZNETSOVA, message_id=1)
    poll(desk)
    assert answers(desk)[-1] == "Your role (viewer) may not ack incidents."
    assert desk.incident(number)["status"] == "open"


def test_an_action_already_taken_answers_the_state(desk: Desk) -> None:
    add_user(desk.runtime, "orlov", Role.OPERATOR)
    link(desk, "orlov", ORLOV)
    number = p1_at_night(desk)
    message = page_of(desk, ORLOV, number).answer["message_id"]
    desk.act(number, "ack")  # someone else, from the console
    desk.http.telegram.press(ORLOV, f"ack:{number}", chat_id=ORLOV, message_id=message)
    poll(desk)
    assert answers(desk) == [f"#{number} is acknowledged already; nothing done."]
    assert [k for k, _, _ in timeline(desk, number)].count("acknowledged") == 1
    desk.act(number, "resolve")
    desk.http.telegram.press(ORLOV, f"escalate:{number}", chat_id=ORLOV, message_id=message)
    poll(desk)
    assert answers(desk)[-1] == f"#{number} is resolved already; nothing done."
    assert buttons(sent(desk, "editMessageText")[-1]) == ["Open in console"]


def test_a_reply_to_a_page_becomes_a_comment_by_that_person_via_telegram(desk: Desk) -> None:
    add_user(desk.runtime, "orlov", Role.OPERATOR)
    link(desk, "orlov", ORLOV)
    number = p1_at_night(desk)
    message = page_of(desk, ORLOV, number).answer["message_id"]
    desk.http.telegram.text(ORLOV, "On my way, 20 minutes.", reply_to=message)
    desk.http.telegram.text(ORLOV, "Not a reply to anything.")
    poll(desk)
    (comment,) = [e for e in desk.incident(number)["timeline"] if e["kind"] == "comment"]
    assert (comment["actor"], comment["via"]) == ("orlov", "telegram")
    assert "On my way, 20 minutes." in comment["text"]
    said = [r.body["text"] for r in sent(desk, "sendMessage", ORLOV)][-2:]
    assert said[0] == f"Comment added to #{number}."
    assert said[1].startswith("This is bridge's bot.")


def test_a_link_code_works_once_and_not_after_it_expires(desk: Desk) -> None:
    add_user(desk.runtime, "orlov", Role.OPERATOR)
    client = desk.client
    csrf = log_in(client, "orlov")
    page = client.post("/me/telegram/link", data={"csrf_token": csrf}).get_data(as_text=True)
    code = page.split("/start ", 1)[1].split("<", 1)[0].strip()
    desk.http.telegram.text(ORLOV, f"/start {code}")
    desk.http.telegram.text(KUZNETSOVA, f"/start {code}")  # used: no good for anyone else
    poll(desk)
    assert sent(desk, "sendMessage", KUZNETSOVA)[-1].body["text"].startswith("That code is not valid")
    assert bot(desk).linked_account("orlov") == ORLOV
    assert "Telegram account 100001 act as you" in client.get("/me").get_data(as_text=True)

    code = bot(desk).new_link_code("orlov").code
    desk.clock.advance(timedelta(minutes=10))  # BRIDGE_TELEGRAM_LINK_TTL
    desk.http.telegram.text(KUZNETSOVA, f"/start {code}")
    poll(desk)
    assert sent(desk, "sendMessage", KUZNETSOVA)[-1].body["text"].startswith("That code is not valid")
    desk.http.telegram.text(ORLOV, "/unlink")
    poll(desk)
    assert bot(desk).linked_account("orlov") is None


def test_presses_beyond_the_rate_limit_do_nothing(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    with running_desk(
        database_url, tmp_path, clock, RULES, telegram_poll_seconds=1, telegram_presses_per_minute=3
    ) as desk:
        add_user(desk.runtime, "orlov", Role.OPERATOR)
        first = p1_at_night(desk)
        second = desk.open(title="Scanner offline", client="logistics", priority="P1")["number"]
        link(desk, "orlov", ORLOV)  # the /start counts: 2 left this minute
        for number in (first, first, second, second):
            desk.http.telegram.press(ORLOV, f"ack:{number}", chat_id=ORLOV, message_id=1)
        poll(desk)
        assert answers(desk) == [
            f"#{first} acknowledged by Orlov.",
            f"#{first} is acknowledged already; nothing done.",
            "Too many actions from this account; try again in a minute.",
            "Too many actions from this account; try again in a minute.",
        ]
        assert desk.incident(second)["status"] == "open"
        desk.clock.advance(timedelta(minutes=1))
        desk.http.telegram.press(ORLOV, f"ack:{second}", chat_id=ORLOV, message_id=1)
        poll(desk)
        assert desk.incident(second)["status"] == "acknowledged"


def test_a_restarted_poller_neither_replays_nor_loses_presses(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    with running_desk(database_url, tmp_path, clock, RULES, telegram_poll_seconds=1) as desk:
        add_user(desk.runtime, "orlov", Role.OPERATOR)
        link(desk, "orlov", ORLOV)
        number = p1_at_night(desk)
        message = page_of(desk, ORLOV, number).answer["message_id"]
        desk.http.telegram.press(ORLOV, f"ack:{number}", chat_id=ORLOV, message_id=message)
        poll(desk)
        # The process dies before its next getUpdates: Telegram never heard the new offset and
        # still holds the press. Meanwhile the operator presses Resolve.
        assert len(desk.http.telegram.pending) == 1
        desk.http.telegram.press(ORLOV, f"resolve:{number}", chat_id=ORLOV, message_id=message)
        state_before = [r.body for r in sent(desk, "answerCallbackQuery")]
        desk.runtime.close()

        # A new process on the same database and the same bot.
        restarted = build_runtime(desk.runtime.settings, clock)
        desk.runtime = restarted
        try:
            poll(desk)
            detail = restarted.services.incidents.detail(number)
        finally:
            restarted.close()
        # Only the resolve was taken: the ack was not done twice, nor answered twice.
        assert [r.body["text"] for r in sent(desk, "answerCallbackQuery")][len(state_before) :] == [
            f"#{number} resolved by Orlov."
        ]
        assert [(e.kind, e.actor) for e in detail.timeline if e.via == "telegram"] == [
            ("acknowledged", "orlov"),
            ("resolved", "orlov"),
        ]


def test_an_update_taken_twice_acts_once(desk: Desk) -> None:
    """A webhook retried, or two pollers whose leases overlapped: the update id decides."""
    add_user(desk.runtime, "orlov", Role.OPERATOR)
    link(desk, "orlov", ORLOV)
    number = p1_at_night(desk)
    press = CallbackPress(9_000_001, "q1", ORLOV, f"ack:{number}", ORLOV, 1)
    assert bot(desk).take(press).value == "acted"
    assert bot(desk).take(press).value == "duplicate"
    assert [k for k, _, _ in timeline(desk, number)].count("acknowledged") == 1
    assert bot(desk).offset() == 9_000_002


def test_with_a_webhook_telegram_posts_updates_that_carry_its_secret(
    database_url: str, tmp_path: Path, clock: FakeClock
) -> None:
    secret = "w3bh00k-s3cret"
    with running_desk(
        database_url, tmp_path, clock, RULES, telegram_updates="webhook", telegram_webhook_secret=secret
    ) as desk:
        add_user(desk.runtime, "orlov", Role.OPERATOR)
        number = p1_at_night(desk)
        code = bot(desk).new_link_code("orlov").code
        path, header = f"/webhooks/telegram/{secret}", {"X-Telegram-Bot-Api-Secret-Token": secret}
        start = {
            "update_id": 5,
            "message": {
                "message_id": 3,
                "from": {"id": ORLOV},
                "chat": {"id": ORLOV},
                "text": f"/start {code}",
            },
        }
        assert desk.client.post(path, json=start, headers=header).get_json() == {
            "ok": True,
            "outcome": "linked",
        }
        press = {
            "update_id": 6,
            "callback_query": {
                "id": "q",
                "from": {"id": ORLOV},
                "message": {"message_id": 1, "chat": {"id": ORLOV}},
                "data": f"ack:{number}",
            },
        }
        assert desk.client.post(path, json=press).status_code == 403  # no secret header
        assert (
            desk.client.post(
                path, json=press, headers={"X-Telegram-Bot-Api-Secret-Token": "guess"}
            ).status_code
            == 403
        )
        assert desk.client.post("/webhooks/telegram/guess", json=press, headers=header).status_code == 404
        assert desk.incident(number)["status"] == "open"
        assert desk.client.post(path, json=press, headers=header).get_json()["outcome"] == "acted"
        assert (
            desk.client.post(path, json=press, headers=header).get_json()["outcome"] == "duplicate"
        )  # a retry
        assert [k for k, _, via in timeline(desk, number) if via == "telegram"] == ["acknowledged"]
        # The process registers the webhook with Telegram when it starts.
        poller = desk.runtime.telegram
        assert poller is not None
        poller.start()
        (registered,) = desk.http.wait_for(f"/bot{TELEGRAM_TOKEN}/setWebhook", lambda found: len(found) == 1)
        assert registered.body["url"] == f"https://bridge.desk.example{path}"
        assert registered.body["secret_token"] == secret


def test_while_polling_there_is_no_webhook(desk: Desk) -> None:
    press = {"update_id": 6, "callback_query": {"id": "q", "from": {"id": ORLOV}, "data": "ack:1"}}
    assert desk.client.post("/webhooks/telegram/anything", json=press).status_code == 404


def test_a_breach_page_of_an_acknowledged_incident_offers_no_acknowledge(desk: Desk) -> None:
    desk.at("2026-11-22 02:00")  # the bank: 24/7, P1 resolve target 30 minutes
    number = desk.open(title="Card payments declined", client="bank", priority="P1", route="critical")[
        "number"
    ]
    desk.act(number, "ack")
    desk.at("2026-11-22 02:30")
    breach = [r for r in sent(desk, "sendMessage", 100011) if "SLA breached" in r.body["text"]]
    assert [buttons(r) for r in breach] == [["Escalate", "Resolve", "Open in console"]]


def test_a_linked_account_receives_the_pages_of_someone_without_a_telegram_chat(desk: Desk) -> None:
    morozov = 200009  # the logistics engineer: e-mail only in the rota
    add_user(desk.runtime, "morozov", Role.ENGINEER, name="Pavel Morozov")
    link(desk, "morozov", morozov)
    desk.at("2026-11-24 11:00")  # business hours: the client's engineer owns it
    number = desk.open(title="Label printer offline", client="logistics")["number"]
    page = page_of(desk, morozov, number)
    assert buttons(page) == ["Acknowledge", "Escalate", "Resolve", "Open in console"]
    desk.http.telegram.press(morozov, f"ack:{number}", chat_id=morozov, message_id=page.answer["message_id"])
    poll(desk)
    assert answers(desk) == [f"#{number} acknowledged by Pavel Morozov."]
    assert [(k, a) for k, a, via in timeline(desk, number) if via == "telegram"] == [
        ("acknowledged", "morozov")
    ]


def test_updates_taken_are_forgotten_after_two_days(desk: Desk) -> None:
    add_user(desk.runtime, "orlov", Role.OPERATOR)
    link(desk, "orlov", ORLOV)
    desk.clock.advance(timedelta(days=2, minutes=1))
    desk.http.telegram.text(ORLOV, "/help")
    poll(desk)  # and the worker's round, whose periodic job prunes
    with desk.runtime.services.sessions() as session:
        kept = session.scalars(select(TelegramUpdate.at)).all()
    assert kept == [desk.clock.now()]  # the /start went, the /help of a moment ago stays
    assert bot(desk).prune() == 0
