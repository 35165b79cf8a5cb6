"""rota.yaml: the example loads as the small support desk it describes, and mistakes are reported
as file:line: reason with did-you-mean, all at once."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bridge.errors import RulesError
from bridge.priority import Priority
from bridge.services.live import LiveRota
from bridge.ticketing.rota import Role, TargetKind
from bridge.ticketing.rota_loader import load_rota_file, load_rota_text
from tests.support.files import FakeMonotonic, reload_settled

EXAMPLE = Path(__file__).parents[3] / "rules" / "rota.yaml"
UTC = ZoneInfo("UTC")


def test_the_example_rota_is_a_small_support_desk_in_moscow() -> None:
    rota = load_rota_file(EXAMPLE, UTC)
    assert str(rota.tz) == "Europe/Moscow"
    roles = [p.role for p in rota.people.values()]
    assert roles.count(Role.OPERATOR) == 3
    assert roles.count(Role.TEAM_LEAD) == 1
    assert roles.count(Role.HEAD_OF_IT) == 1
    assert rota.schedules["day-operators"].layers[0].members == ("orlov", "kuznetsova", "volkov")
    assert rota.schedules["night-operators"].layers[0].members == ("volkov", "orlov", "kuznetsova")
    assert [str(w) for w in rota.schedules["night-operators"].layers[0].windows] == ["daily 21:00-09:00"]
    assert rota.schedules["weekend-duty"].layers[0].members == ("belov", "titov")
    engineers = {
        rota.clients["logistics"].engineer,
        rota.clients["bank"].engineer,
        *rota.schedules["retail-engineers"].layers[0].members,
    }
    assert engineers == {"morozov", "novikova", "sokolov", "lebedeva"}  # 4 engineers, 3 clients
    assert set(rota.clients) == {"retail", "logistics", "bank"}
    steps = rota.policies["default"].steps
    assert [t.kind for step in steps for t in step.targets] == [
        TargetKind.RESPONSIBLE,
        TargetKind.ASSIGNED_ENGINEER,
        TargetKind.ROLE,
        TargetKind.ROLE,
    ]
    assert rota.policies["default"].repeat == 2
    # P1 and P2 run around the clock (the file says so, and it is their default), the rest in
    # the client's calendar.
    assert {p: rota.sla[p].always for p in Priority} == {
        Priority.P1: True,
        Priority.P2: True,
        Priority.P3: False,
        Priority.P4: False,
        Priority.P5: False,
    }
    assert rota.sla_for("bank", Priority.P2).always  # the bank's own P2 targets, around the clock too


def test_every_mistake_is_reported_with_its_line_and_a_suggestion() -> None:
    text = """\
timezone: Europe/Moskow
people:
  ann: {name: Ann, role: enginer, email: not-an-address}
  bob: {name: Bob, role: operator}
teams:
  ops: {lead: bobb, members: [ann]}
schedules:
  nights:
    members: [ann, bobb]
    handoff: "25:00"
    shift: weekl
    windows: ["mon-fri 9-18"]
escalation:
  default:
    steps:
      - {notify: {schedul: nights}}
      - {notify: {person: an}, wait: 10}
clients:
  acme: {engineer: ann, calendar: biz, colour: red}
responsible: [assigned_enginer]
"""
    with pytest.raises(RulesError) as raised:
        load_rota_text("rota.yaml", text, UTC)
    assert [str(p) for p in raised.value.problems] == [
        "rota.yaml:1: unknown time zone 'Europe/Moskow' (did you mean 'Europe/Moscow'?)",
        "rota.yaml:3: unknown role 'enginer' (did you mean 'engineer'?)",
        "rota.yaml:3: 'not-an-address' is not an e-mail address",
        "rota.yaml:6: unknown person 'bobb' (did you mean 'bob'?)",
        "rota.yaml:9: unknown person 'bobb' (did you mean 'bob'?)",
        "rota.yaml:10: '25:00' is not a time of day (HH:MM, quote it: \"09:00\")",
        "rota.yaml:11: shift must be daily, weekly or a number of days such as 3d, not 'weekl'",
        "rota.yaml:12: 'mon-fri 9-18': 9 is not a time of day (HH:MM, 00:00-24:00)",
        "rota.yaml:16: unknown target kind 'schedul' (did you mean 'schedule'?)",
        "rota.yaml:17: unknown person 'an' (did you mean 'ann'?)",
        "rota.yaml:17: duration '10' needs a unit, e.g. 10m (units: s, m, h, d, w)",
        "rota.yaml:19: unknown client key 'colour' (allowed: engineer, calendar, engineer_hours, sla, policy, contact)",
        "rota.yaml:19: unknown calendar 'biz' (allowed: 24/7)",
        "rota.yaml:20: unknown target 'assigned_enginer'; one of responsible, assigned_engineer, or "
        "{schedule|person|team|role: name} (did you mean 'assigned_engineer'?)",
    ]


def test_sla_targets_accept_business_days_and_none() -> None:
    rota = load_rota_text(
        "rota.yaml",
        "sla:\n  P4: {ack: 2 business days, resolve: none}\n  P1: {ack: 5m, resolve: 20m, always: true}\n",
        UTC,
    )

    assert rota.sla[Priority.P4].ack is not None and rota.sla[Priority.P4].ack.business_days == 2
    assert rota.sla[Priority.P4].resolve is None
    assert rota.sla[Priority.P1].always


def test_a_bad_edit_keeps_the_last_good_rota_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "rota.yaml").write_text(EXAMPLE.read_text())
    ticks = FakeMonotonic()
    live = LiveRota(tmp_path, UTC, monotonic=ticks)
    good = live.rota.version
    (tmp_path / "rota.yaml").write_text(EXAMPLE.read_text().replace("role: team_lead", "role: boss"))
    assert reload_settled(live, ticks) is False
    assert live.rota.version == good
    assert live.last_error is not None
    assert "unknown role 'boss'" in str(live.last_error)
    assert live.reload_if_changed() is None  # the same bad file is not read again every tick
    (tmp_path / "rota.yaml").write_text(EXAMPLE.read_text().replace("Igor Petrov", "Igor P. Petrov"))
    assert reload_settled(live, ticks) is True
    assert live.rota.version != good
    assert live.last_error is None
    assert live.rota.people["petrov"].name == "Igor P. Petrov"


def test_without_a_rota_file_bridge_runs_with_nobody_on_duty(tmp_path: Path) -> None:
    live = LiveRota(tmp_path, UTC)
    assert live.rota.people == {}
    assert live.rota.version == "none"


def test_a_persons_telegram_account_is_a_number_belonging_to_one_person() -> None:
    text = """timezone: UTC
people:
  ann: {name: Ann, role: operator, telegram: "42", telegram_id: 42}
  bob: {name: Bob, role: operator, telegram_id: "43"}
  cid: {name: Cid, role: operator, telegram_id: 42}
  dan: {name: Dan, role: operator, telegram_id: "@dan"}
"""
    with pytest.raises(RulesError) as raised:
        load_rota_text("rota.yaml", text, UTC)
    assert [str(p) for p in raised.value.problems] == [
        "rota.yaml:5: Telegram account 42 is already ann's",
        "rota.yaml:6: telegram_id (the Telegram account's numeric user id) must be a whole number >= 1",
    ]
    fine = load_rota_text("rota.yaml", text.rsplit("\n  cid", 1)[0] + "\n", UTC)
    assert (fine.people["ann"].telegram_id, fine.people["bob"].telegram_id) == (42, 43)
