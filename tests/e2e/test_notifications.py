# ruff: noqa: RUF001  (Russian text in a user's own templates)
"""Notifications reach a real SMTP server and a real HTTP server standing in for Telegram and
people's webhooks; a channel that fails is retried with backoff without holding up the others,
and one that refuses for good is parked as failed, each recorded on the incident."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bridge.services.notifications import Templates
from tests.support.duty import TELEGRAM_TOKEN, Desk, desk
from tests.support.people import add_user

__all__ = ["desk"]


def test_a_failing_channel_is_retried_with_backoff_and_the_others_go_out_at_once(desk: Desk) -> None:
    desk.http.failures[f"/bot{TELEGRAM_TOKEN}/"] = [502, 500]  # Telegram is down for two attempts
    desk.at("2026-11-24 03:00")
    desk.open(title="Depot Wi-Fi down", client="logistics")
    assert desk.mails_to("orlov") == ["[bridge] #1 P3 registered: Depot Wi-Fi down"]  # mail did not wait
    assert desk.http.posted("/bot") == []
    (telegram,) = desk.get("/api/notifications", channel="telegram", incident=1)["items"]
    assert (telegram["status"], telegram["attempts"]) == ("pending", 1)
    assert (
        telegram["last_error"]
        == 'RuntimeError: HTTP 502: {"ok": false, "error_code": 502, "description": "stand-in failure"}'
    )
    assert TELEGRAM_TOKEN not in str(desk.get("/api/notifications"))  # the bot token never shows
    desk.clock.advance(timedelta(seconds=29))
    desk.drain()
    assert desk.get("/api/notifications", incident=1, status="pending")["total"] == 1
    desk.clock.advance(timedelta(seconds=1))  # 30s after the first attempt
    desk.drain()
    assert desk.get("/api/notifications", incident=1, status="pending")["items"][0]["attempts"] == 2
    desk.clock.advance(timedelta(minutes=1))  # then a minute
    desk.drain()
    (sent,) = desk.http.posted("/bot")
    assert sent.path == f"/bot{TELEGRAM_TOKEN}/sendMessage"
    assert sent.body["chat_id"] == "100001"
    assert sent.body["text"].startswith(
        "[bridge] #1 P3 registered: Depot Wi-Fi down\n\nIncident #1 is registered"
    )
    assert desk.timeline(1, "notified") == [
        "notified orlov by email (orlov@desk.example): registration",
        "notified orlov by telegram (100001): registration",
    ]


def test_a_refused_address_is_parked_as_failed_and_said_on_the_timeline(desk: Desk) -> None:
    desk.inbox.refuse.add("morozov@desk.example")
    desk.at("2026-11-24 11:00")
    desk.open(title="Dispatcher console freezes", client="logistics")
    (failed,) = desk.get("/api/notifications", status="failed")["items"]
    assert (failed["person"], failed["channel"], failed["attempts"]) == ("morozov", "email", 1)
    assert desk.timeline(1, "notification_failed") == [
        "could not notify morozov by email after 1 attempts: recipient refused: "
        "{'morozov@desk.example': (550, b'no such user here')}"
    ]


def test_a_person_s_webhook_gets_the_message_as_json(desk: Desk) -> None:
    desk.at("2026-11-24 11:00")
    desk.open(title="Core banking slow", client="bank", priority="P2")
    (hook,) = desk.http.posted("/hooks/novikova")
    assert hook.body == {
        "kind": "registration",
        "incident": 1,
        "person": "novikova",
        "subject": "[bridge] #1 P2 registered: Core banking slow",
        "text": hook.body["text"],
    }
    assert "Acknowledge: Tue 2026-11-24 11:15 MSK" in hook.body["text"]
    assert "Resolve:     Tue 2026-11-24 13:00 MSK" in hook.body["text"]


def test_templates_can_be_overridden_by_the_user(desk: Desk, tmp_path: object) -> None:

    assert isinstance(tmp_path, Path)
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "registration.txt").write_text(
        "Заявка №{{ number }}: {{ title }}\nОтветственный: {{ assignee }}\n{{ link }}\n"
    )

    desk.runtime.services.notifier.templates = Templates(templates)
    desk.at("2026-11-24 11:00")
    desk.open(title="Не печатает касса", client="logistics")
    (mail,) = desk.inbox.mails
    assert mail.subject == "Заявка №1: Не печатает касса"
    assert mail.text == "Ответственный: Pavel Morozov (morozov)\nhttps://bridge.desk.example/incidents/1\n"


def test_a_title_with_line_breaks_still_reaches_the_owner_by_mail(desk: Desk) -> None:
    desk.at("2026-11-24 11:00")
    title = "Disk\rfull\x0bon\x0cdb-01\x85and\u2028db-02"
    desk.open(title=title, client="logistics")
    assert desk.mails_to("morozov") == ["[bridge] #1 P3 registered: Disk full on db-01 and db-02"]
    assert desk.get("/api/notifications", status="failed")["total"] == 0


def test_a_message_the_mail_server_refuses_for_good_is_not_tried_eight_times(desk: Desk) -> None:
    desk.inbox.data_answer = "554 5.6.0 message content refused"
    desk.at("2026-11-24 11:00")
    desk.open(title="Dispatcher console freezes", client="logistics")
    (failed,) = desk.get("/api/notifications", status="failed", channel="email")["items"]
    assert (failed["person"], failed["attempts"]) == ("morozov", 1)
    assert failed["last_error"].startswith("message refused: 554")


def test_each_person_gets_the_registration_message_in_their_own_language(desk: Desk) -> None:
    add_user(desk.runtime, "orlov", locale="en")  # the night shift of logistics reads English
    add_user(desk.runtime, "morozov", locale="ru")  # the day shift Russian
    desk.at("2026-11-24 03:00")
    desk.open(title="Depot Wi-Fi down", client="logistics")
    desk.at("2026-11-24 11:00")
    desk.open(title="Не печатает касса", client="logistics")
    (english,) = [mail for mail in desk.inbox.mails if mail.subject.startswith("[bridge] #1 P3 registered")]
    (russian,) = [mail for mail in desk.inbox.mails if mail.subject.startswith("[bridge] #2 ")]
    assert english.recipients == ["orlov@desk.example"]
    assert english.subject == "[bridge] #1 P3 registered: Depot Wi-Fi down"
    assert english.text.startswith("Incident #1 is registered and you are responsible for it.\n")
    assert russian.recipients == ["morozov@desk.example"]
    assert russian.subject == "[bridge] #2 P3 зарегистрирован: Не печатает касса"
    assert russian.text.startswith("Зарегистрирован инцидент #2, ответственный за него — вы.\n")
    assert "Тип:         инцидент\n" in russian.text
    assert "Ответственный: Pavel Morozov (morozov), " in russian.text
    assert "Реакция до:  вт 2026-11-24 13:00 MSK\n" in russian.text  # the desk's time zone, Russian weekday
    assert "https://bridge.desk.example/incidents/2" in russian.text
    assert desk.timeline(2, "notified")[0] == "notified morozov by email (morozov@desk.example): registration"


def test_a_person_without_a_user_gets_the_desk_s_default_language(desk: Desk) -> None:
    services = desk.runtime.services
    services.notifier.templates = Templates(services.settings.templates_dir, "ru")  # BRIDGE_LOCALE=ru
    add_user(desk.runtime, "orlov", locale="en")  # a user's own locale wins over the default
    desk.at("2026-11-24 03:00")
    desk.open(title="Depot Wi-Fi down", client="logistics")
    desk.at("2026-11-24 11:00")
    desk.open(title="Сервер 1С недоступен", client="logistics")  # morozov has no user
    assert desk.mails_to("orlov")[0] == "[bridge] #1 P3 registered: Depot Wi-Fi down"
    assert "[bridge] #2 P3 зарегистрирован: Сервер 1С недоступен" in desk.mails_to("morozov")


def test_an_operator_s_templates_override_each_language_on_its_own(desk: Desk, tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    (templates / "ru").mkdir(parents=True)
    (templates / "ru" / "registration.txt").write_text("Заявка №{{ number }}: {{ title }}\n{{ link }}\n")
    (templates / "registration.txt").write_text("Ticket {{ number }}: {{ title }}\n{{ link }}\n")
    desk.runtime.services.notifier.templates = Templates(templates)
    add_user(desk.runtime, "morozov", locale="ru")
    add_user(desk.runtime, "orlov", locale="en")
    desk.at("2026-11-24 11:00")
    desk.open(title="Не печатает касса", client="logistics")
    desk.act(1, "assign", to="orlov")
    russian, english = desk.inbox.mails
    assert (russian.recipients, russian.subject) == (["morozov@desk.example"], "Заявка №1: Не печатает касса")
    assert english.recipients == ["orlov@desk.example"]
    assert english.subject.startswith("[bridge] #1 P3 assigned to you")  # no override: the built-in one
    assert english.text.startswith("Incident #1 is now yours")
