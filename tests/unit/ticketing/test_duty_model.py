"""Who owns a new incident, whom each escalation step pages, and the SLA deadlines, on the
example rota (Europe/Moscow: UTC+3 all year)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.priority import Priority
from bridge.schedule.rotation import Override
from bridge.schedule.wallclock import day_of
from bridge.ticketing.rota import EscalationPolicy, Role, Step
from bridge.ticketing.rota_loader import load_rota_file, load_rota_text
from bridge.ticketing.sla import deadlines, percentile

EXAMPLE = Path(__file__).parents[3] / "rules" / "rota.yaml"
ROTA = load_rota_file(EXAMPLE, ZoneInfo("UTC"))
MSK = ZoneInfo("Europe/Moscow")


def msk(text: str) -> datetime:
    """A Moscow wall-clock time as an aware instant."""
    return datetime.fromisoformat(text).replace(tzinfo=MSK)


@pytest.mark.parametrize(
    ("client", "at", "person", "why"),
    [
        ("logistics", "2026-11-20 17:50", "morozov", "assigned engineer of logistics (its business hours)"),
        ("logistics", "2026-11-20 18:00", "kuznetsova", "on duty in schedule day-operators"),
        (
            "retail",
            "2026-11-23 09:00",
            "sokolov",
            "assigned engineer of retail (retail-engineers) (its business hours)",
        ),
        ("retail", "2026-11-21 10:00", "belov", "on duty in schedule weekend-duty"),
        ("retail", "2026-11-21 21:00", "kuznetsova", "on duty in schedule night-operators"),
        (
            "logistics",
            "2026-11-04 12:00",
            "titov",
            "on duty in schedule weekend-duty",
        ),  # a holiday, Wednesday
        (
            "bank",
            "2026-11-22 03:00",
            "kuznetsova",
            "on duty in schedule night-operators",
        ),  # 24/7 SLA, office-hours engineer
        ("bank", "2026-11-24 11:00", "novikova", "assigned engineer of bank (its business hours)"),
        (None, "2026-11-24 11:00", "volkov", "on duty in schedule day-operators"),
        (None, "2026-11-24 03:00", "orlov", "on duty in schedule night-operators"),
    ],
)
def test_a_new_incident_goes_to_the_engineer_in_business_hours_else_to_duty(
    client: str | None, at: str, person: str, why: str
) -> None:
    found = ROTA.responsible_for(client, msk(at))
    assert found is not None
    assert (found.person, found.why) == (person, why)


def test_an_override_covers_a_shift() -> None:
    at = msk("2026-11-24 03:00")
    assert ROTA.responsible_for(None, at).person == "orlov"  # type: ignore[union-attr]
    cover = {"night-operators": (Override("volkov", at - timedelta(hours=1), at + timedelta(hours=1)),)}
    found = ROTA.responsible_for(None, at, cover)
    assert found is not None
    assert (found.person, found.why) == ("volkov", "covering in schedule night-operators")


@pytest.mark.parametrize(
    ("at", "day", "night"),
    [
        ("2026-11-20 09:00", "kuznetsova", None),
        ("2026-11-20 20:59", "kuznetsova", None),
        ("2026-11-20 21:00", None, "orlov"),
        ("2026-11-21 08:59", None, "orlov"),
        ("2026-11-21 21:00", None, "kuznetsova"),  # the night after her Friday
        ("2026-12-31 22:00", None, "kuznetsova"),  # the New Year's Eve swap of the file
    ],
)
def test_operators_work_a_day_then_the_next_night_and_night_operators_cover_only_nights(
    at: str, day: str | None, night: str | None
) -> None:
    on_day, on_night = ROTA.on_duty("day-operators", msk(at)), ROTA.on_duty("night-operators", msk(at))
    assert (on_day and on_day.person, on_night and on_night.person) == (day, night)


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    at=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC))
)
def test_exactly_one_operator_is_on_at_any_time_and_night_operators_only_at_night(at: datetime) -> None:
    on_day, on_night = ROTA.on_duty("day-operators", at), ROTA.on_duty("night-operators", at)
    assert (on_day is None) != (on_night is None)
    hour = at.astimezone(MSK).hour
    assert (on_night is not None) == (hour >= 21 or hour < 9)


instants = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(at=instants, client=st.sampled_from(["retail", "logistics", "bank", None]))
def test_somebody_always_owns_a_new_incident_and_by_the_desk_s_rules(
    at: datetime, client: str | None
) -> None:
    found = ROTA.responsible_for(client, at)
    assert found is not None
    wall = at.astimezone(MSK)
    business = ROTA.calendars["business"]
    day = day_of(at, MSK)
    if client is not None and business.is_open(at):
        assert ROTA.people[found.person].role is Role.ENGINEER
        assert "assigned engineer" in found.why
    elif (wall.weekday() >= 5 or day in business.holidays) and 9 <= wall.hour < 21:
        assert found.person in ("belov", "titov")
    else:
        assert found.person in ("orlov", "kuznetsova", "volkov")


def test_escalation_steps_page_the_operator_engineer_team_lead_then_head_of_it() -> None:
    policy = ROTA.policies["default"]
    at = msk("2026-11-24 03:00")
    paged = [
        [(p.person, p.why) for p in ROTA.targets(step, "kuznetsova", "logistics", at)]
        for step in policy.steps
    ]
    assert paged == [
        [("kuznetsova", "responsible for the incident")],
        [("morozov", "assigned engineer of logistics")],
        [("petrov", "team lead")],
        [("smirnova", "head of IT")],
    ]
    order = []
    position: tuple[int, int] | None = (0, 0)
    while position is not None:
        order.append(position)
        position = policy.after(*position)
    assert order == [(0, 0), (1, 0), (2, 0), (3, 0), (0, 1), (1, 1), (2, 1), (3, 1)]


def test_a_step_pages_everyone_once_whatever_its_targets_overlap() -> None:
    rota = load_rota_text(
        "rota.yaml",
        """
people:
  a: {name: A, role: operator}
  b: {name: B, role: team_lead}
teams:
  all: {lead: b, members: [a, b]}
schedules:
  s: {members: [a]}
escalation:
  default: {steps: [{notify: [responsible, {team: all}, {schedule: s}, {role: team_lead}]}]}
""",
        ZoneInfo("UTC"),
    )
    step: Step = rota.policies["default"].steps[0]
    paged = rota.targets(step, "a", None, datetime(2026, 1, 1, tzinfo=UTC))
    assert [(p.person, p.why) for p in paged] == [
        ("a", "responsible for the incident"),
        ("b", "member of team all"),
    ]
    assert EscalationPolicy("p", (step,), repeat=1).after(0, 0) is None


@pytest.mark.parametrize(
    ("client", "priority", "opened", "ack", "resolve"),
    [
        # A P3 opened on Friday 17:50 is due on Monday, not Saturday.
        ("logistics", Priority.P3, "2026-11-20 17:50", "2026-11-23 10:50", "2026-11-23 17:50"),
        # Opened at night: a P3's clock starts at 09:00...
        ("logistics", Priority.P3, "2026-11-24 03:00", "2026-11-24 11:00", "2026-11-24 18:00"),
        # ...a P2's and a P1's run around the clock, in business hours or not.
        ("logistics", Priority.P2, "2026-11-24 03:00", "2026-11-24 03:30", "2026-11-24 07:00"),
        (None, Priority.P1, "2026-11-20 19:39", "2026-11-20 19:54", "2026-11-20 20:09"),  # Friday evening
        ("retail", Priority.P1, "2026-12-31 23:00", "2026-12-31 23:15", "2026-12-31 23:30"),  # a holiday
        # The New Year holidays: 31 Dec to 8 Jan, then Saturday and Sunday.
        ("retail", Priority.P3, "2026-12-30 17:00", "2027-01-11 10:00", "2027-01-11 17:00"),
        # Over a holiday in the middle of a week (4 November, Wednesday).
        ("retail", Priority.P4, "2026-11-03 12:00", "2026-11-05 12:00", "2026-11-11 12:00"),
        # The bank's 24/7 contract with its own targets: the clock never stops.
        ("bank", Priority.P2, "2026-11-21 23:50", "2026-11-22 00:05", "2026-11-22 01:50"),
        ("bank", Priority.P1, "2026-12-31 23:55", "2027-01-01 00:10", "2027-01-01 00:25"),
    ],
)
def test_sla_deadlines_count_service_time_in_the_client_s_calendar(
    client: str, priority: Priority, opened: str, ack: str, resolve: str
) -> None:
    due = deadlines(ROTA, client, priority, msk(opened))
    assert due.ack == msk(ack)
    assert due.resolve == msk(resolve)


def test_p5_has_no_deadlines_and_always_ignores_the_calendar() -> None:
    due = deadlines(ROTA, "retail", Priority.P5, msk("2026-11-20 17:50"))
    assert (due.ack, due.resolve) == (None, None)
    rota = load_rota_text(
        "rota.yaml",
        'calendars: {office: {hours: ["mon-fri 09:00-18:00"]}}\ndefault_calendar: office\n'
        "sla: {P3: {ack: 15m, resolve: 30m, always: true}}\n",
        ZoneInfo("UTC"),
    )
    saturday = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
    assert deadlines(rota, None, Priority.P3, saturday).ack == saturday + timedelta(minutes=15)
    assert deadlines(rota, None, Priority.P4, saturday).ack == datetime(2026, 11, 23, 18, 0, tzinfo=UTC)


OFFICE = 'calendars: {office: {hours: ["mon-fri 09:00-18:00"]}}\ndefault_calendar: office\n'
FRIDAY_EVENING = datetime(2026, 11, 20, 19, 39, tzinfo=UTC)
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sla", "client", "priority", "ack"),
    [
        # Without a word in the file, P1 and P2 run around the clock, P3 in the calendar.
        ("", None, Priority.P1, FRIDAY_EVENING + timedelta(minutes=15)),
        ("", None, Priority.P2, FRIDAY_EVENING + timedelta(minutes=30)),
        ("", None, Priority.P3, MONDAY + timedelta(hours=2)),
        # Targets of the file's own keep running around the clock...
        ("sla: {P1: {ack: 1h, resolve: 2h}}\n", None, Priority.P1, FRIDAY_EVENING + timedelta(hours=1)),
        # ...unless it says otherwise, for everyone or for one client.
        (
            "sla: {P1: {ack: 1h, resolve: 2h, always: false}}\n",
            None,
            Priority.P1,
            MONDAY + timedelta(hours=1),
        ),
        (
            "clients: {shop: {sla: {P2: {ack: 1h, resolve: 8h, always: false}}}}\n",
            "shop",
            Priority.P2,
            MONDAY + timedelta(hours=1),
        ),
        (
            "clients: {shop: {sla: {P2: {ack: 1h, resolve: 8h, always: false}}}}\n",
            None,
            Priority.P2,
            FRIDAY_EVENING + timedelta(minutes=30),
        ),
    ],
)
def test_p1_and_p2_run_around_the_clock_unless_the_file_says_otherwise(
    sla: str, client: str | None, priority: Priority, ack: datetime
) -> None:
    rota = load_rota_text("rota.yaml", OFFICE + sla, ZoneInfo("UTC"))
    assert deadlines(rota, client, priority, FRIDAY_EVENING).ack == ack


def test_percentiles_interpolate_between_ranks() -> None:
    assert percentile([], 0.9) is None
    assert percentile([5.0], 0.9) == 5.0
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 0.9) == pytest.approx(9.1)
