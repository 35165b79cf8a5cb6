# ruff: noqa: RUF001  (Russian text)
"""Templates render a message in the language asked for: every kind in every shipped language with
the context bridge gives it, an unknown language in the desk's default, and an operator's
directory overriding each language on its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.services.notifications import BUILTIN_TEMPLATES, Templates
from bridge.ticketing.messages import MessageKind
from bridge.ticketing.roles import LOCALES

INCIDENT = {
    "number": 42,
    "title": "Core banking slow",
    "priority": "P1",
    "status": "acknowledged",
    "type": "service request",
    "client": "bank",
    "line": "L2",
    "description": "Payments time out",
    "assignee": "Pavel Morozov (morozov)",
    "assigned_why": "on duty in schedule day-engineers",
    "ack_due": "Tue 2026-11-24 11:15 MSK",
    "resolve_due": None,
    "opened": "Mon 2026-11-23 10:50 MSK",
    "return_count": 1,
    "reason": "not acknowledged",
    "step": "step 2/4 of default",
    "link": "https://bridge.desk.example/incidents/42",
    "person": "Pavel Morozov",
    "attachments": "",
    "comment": "",
    "address": "someone@example.com",
}
REPORT = {
    "person": "Irina Volkova",
    "client": None,
    "period": "week 2026-11-23 - 2026-11-29",
    "start": "2026-11-23 00:00",
    "end": "2026-11-30 00:00",
    "timezone": "Europe/Moscow",
    "rows": [
        {
            "client": "bank",
            "priority": "P1",
            "count": 3,
            "acknowledged": 3,
            "resolved": 2,
            "ack_median": "4m",
            "ack_p90": "9m",
            "resolve_median": "1h10m",
            "resolve_p90": "3h",
            "ack_breaches": 0,
            "resolve_breaches": 1,
        }
    ],
    "breaches": [{"number": 7, "target": "resolve", "due": "2026-11-24 13:00", "title": "VPN down"}],
}


def context(kind: MessageKind) -> dict[str, Any]:
    return REPORT if kind is MessageKind.SLA_REPORT else INCIDENT


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("kind", list(MessageKind))
def test_every_kind_renders_in_every_language(kind: MessageKind, locale: str) -> None:
    subject, body = Templates().render(kind, context(kind), locale)
    assert subject and "\n" not in subject
    assert body.endswith("\n") and "{{" not in body and "{%" not in body
    russian = any("а" <= letter <= "я" for letter in (subject + body).lower())
    assert russian == (locale == "ru"), (subject, body)


def test_the_russian_registration_reads_as_a_russian_operator_writes_it() -> None:
    subject, body = Templates().render(MessageKind.REGISTRATION, INCIDENT, "ru")
    assert subject == "[bridge] #42 P1 зарегистрирован: Core banking slow"
    assert "Тип:         запрос на обслуживание\n" in body
    assert "Реакция до:  вт 2026-11-24 11:15 MSK\n" in body  # the desk's zone, a Russian weekday
    assert "Решение до:  без срока\n" in body
    assert body.endswith("https://bridge.desk.example/incidents/42\n")


def test_russian_statuses_and_the_report_s_breaches_are_russian() -> None:
    _, escalation = Templates().render(MessageKind.ESCALATION, INCIDENT, "ru")
    assert "Приоритет:   P1 (принят в работу)\n" in escalation
    _, report = Templates().render(MessageKind.SLA_REPORT, REPORT, "ru")
    assert "  #7 решение, срок 2026-11-24 13:00: VPN down\n" in report


def test_a_mail_deadline_says_when_in_russian() -> None:
    received = {**INCIDENT, "resolve_due": "2026-11-24 13:00 MSK (in 2h)"}
    _, body = Templates().render(MessageKind.MAIL_RECEIVED, received, "ru")
    assert "Решить до:   2026-11-24 13:00 MSK (через 2h)\n" in body


def test_no_language_or_an_unknown_one_is_the_default() -> None:
    english = Templates().render(MessageKind.STALE, INCIDENT)
    assert Templates().render(MessageKind.STALE, INCIDENT, "de") == english
    assert (
        Templates(None, "ru")
        .render(MessageKind.STALE, INCIDENT, None)[0]
        .startswith("[bridge] #42 без движения")
    )
    assert Templates(None, "ru").render(MessageKind.STALE, INCIDENT, "en") == english
    assert Templates(None, "xx").default == "en"


def test_an_operator_s_directory_overrides_each_language_on_its_own(tmp_path: Path) -> None:
    (tmp_path / "ru").mkdir()
    (tmp_path / "ru" / "stale.txt").write_text("Заявка №{{ number }} зависла\n{{ link }}\n", encoding="utf-8")
    (tmp_path / "breach.txt").write_text("SLA! #{{ number }}\n{{ link }}\n")
    templates = Templates(tmp_path)
    assert templates.render(MessageKind.STALE, INCIDENT, "ru")[0] == "Заявка №42 зависла"
    assert (
        templates.render(MessageKind.STALE, INCIDENT, "en")[0] == "[bridge] #42 is stale: Core banking slow"
    )
    assert templates.render(MessageKind.BREACH, INCIDENT, "en")[0] == "SLA! #42"
    assert (
        templates.render(MessageKind.BREACH, INCIDENT, "ru")[0]
        == "[bridge] #42 P1 нарушен SLA: Core banking slow"
    )


def test_the_built_in_set_holds_a_directory_per_other_language() -> None:
    assert sorted(p.name for p in BUILTIN_TEMPLATES.iterdir() if p.is_dir()) == ["ru"]


@given(title=st.text(max_size=80), locale=st.sampled_from([*LOCALES, "de", ""]))
def test_any_title_makes_a_one_line_subject_in_any_language(title: str, locale: str) -> None:
    subject, _ = Templates().render(MessageKind.ASSIGNED, {**INCIDENT, "title": title}, locale)
    assert "\n" not in subject and "\r" not in subject
    assert "#42" in subject
