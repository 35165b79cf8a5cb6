"""The reports part of rota.yaml (night hours, the SLA mail, clients' contacts): loaded from the
example, every mistake reported as file:line; and the calendar questions asked of it (which night
an instant belongs to, which period's mail is due), as properties over instants and time zones
with and without daylight saving time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.errors import RulesError
from bridge.schedule.wallclock import wall_to_utc
from bridge.ticketing.report_settings import (
    DEFAULT_NIGHT,
    Contact,
    Night,
    Recipients,
    ReportPeriod,
    last_period,
    night_of,
    period_starting,
    send_time,
)
from bridge.ticketing.rota_loader import load_rota_file, load_rota_text

EXAMPLE = Path(__file__).parents[3] / "rules" / "rota.yaml"
MSK = ZoneInfo("Europe/Moscow")
ZONES = st.sampled_from(
    [ZoneInfo("Europe/Moscow"), ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York"), UTC]
)
INSTANTS = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1)).map(
    lambda d: d.replace(tzinfo=UTC)
)
CLOCKS = st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45]))
PEOPLE = """\
people:
  ann: {name: Ann, role: head_of_it, email: ann@desk.example}
  bob: {name: Bob, role: operator}
"""


def test_the_example_rota_mails_the_sla_report_weekly_and_monthly_to_the_head_and_the_clients() -> None:
    rota = load_rota_file(EXAMPLE, UTC)
    assert rota.reports.night == Night(time(21), time(9))
    mail = rota.reports.sla_mail
    assert mail is not None
    assert mail.periods == (ReportPeriod.WEEKLY, ReportPeriod.MONTHLY)
    assert (mail.send_at, mail.to, mail.people) == (time(8), (Recipients.HEAD_OF_IT, Recipients.CLIENTS), ())
    assert rota.clients["bank"].contact == Contact("Bank service desk", "servicedesk@bank.example")


def test_without_a_reports_section_the_night_is_21_to_9_and_no_mail_goes_out() -> None:
    rota = load_rota_text("rota.yaml", PEOPLE, UTC)
    assert rota.reports.night == DEFAULT_NIGHT and rota.reports.sla_mail is None


def test_report_recipients_may_be_people_by_handle() -> None:
    text = PEOPLE + 'reports:\n  sla_mail: {every: monthly, at: "07:30", to: [bob, ann]}\n'
    mail = load_rota_text("rota.yaml", text, UTC).reports.sla_mail
    assert mail is not None
    assert (mail.periods, mail.send_at, mail.to, mail.people) == (
        (ReportPeriod.MONTHLY,),
        time(7, 30),
        (),
        ("bob", "ann"),
    )


def test_every_mistake_in_the_reports_section_is_reported_with_its_line() -> None:
    text = (
        PEOPLE
        + """\
clients:
  acme: {contact: {name: Acme, email: not-an-address}}
  beta: {contact: {name: Beta}}
  gamma: {contact: {name: Gamma, email: it@gamma.example, phone: 123}}
reports:
  nights: "22:00-06:00"
  night: "22-06"
  sla_mail:
    every: [weekly, quarterly]
    at: "8am"
    to: [head_of_it, client, annn]
"""
    )
    with pytest.raises(RulesError) as raised:
        load_rota_text("rota.yaml", text, UTC)
    assert [str(p) for p in raised.value.problems] == [
        "rota.yaml:5: 'not-an-address' is not an e-mail address",
        "rota.yaml:6: a contact needs an `email:`",
        "rota.yaml:7: unknown contact key 'phone' (allowed: name, email)",
        "rota.yaml:9: unknown reports key 'nights' (did you mean 'night'?)",
        "rota.yaml:10: night must be a span of local time such as \"21:00-09:00\", not '22-06'",
        "rota.yaml:12: unknown report period 'quarterly' (allowed: weekly, monthly)",
        "rota.yaml:13: '8am' is not a time of day (HH:MM, quote it: \"09:00\")",
        "rota.yaml:14: unknown recipient 'client': head_of_it, clients or a person's handle (did you mean 'clients'?)",
        "rota.yaml:14: unknown recipient 'annn': head_of_it, clients or a person's handle (did you mean 'ann'?)",
    ]


# -- nights ---------------------------------------------------------------------------------------


def test_a_night_is_named_by_the_date_it_began_on() -> None:
    night = Night(time(21), time(9))
    assert night_of(datetime(2026, 11, 24, 2, 0, tzinfo=MSK), MSK, night).isoformat() == "2026-11-23"  # type: ignore[union-attr]
    assert night_of(datetime(2026, 11, 24, 21, 0, tzinfo=MSK), MSK, night).isoformat() == "2026-11-24"  # type: ignore[union-attr]
    assert night_of(datetime(2026, 11, 24, 9, 0, tzinfo=MSK), MSK, night) is None
    assert night_of(datetime(2026, 11, 24, 20, 59, tzinfo=MSK), MSK, night) is None
    early = Night(time(0), time(6))
    assert night_of(datetime(2026, 11, 24, 5, 59, tzinfo=MSK), MSK, early).isoformat() == "2026-11-24"  # type: ignore[union-attr]


@given(INSTANTS, st.sampled_from([MSK, UTC]), CLOCKS, CLOCKS)
def test_an_instant_lies_inside_the_night_it_is_given_and_a_daytime_one_inside_none(
    at: datetime, tz: ZoneInfo, start: time, end: time
) -> None:
    """(Zones without DST: in a DST fold the repeated hour is night both times, by the wall clock.)"""
    night = Night(start, end)
    began = night_of(at, tz, night)
    local = at.astimezone(tz).date()

    def inside(day: date) -> bool:
        ends_on = day if start < end else day + timedelta(days=1)  # equal: 24 hours from `start`
        return wall_to_utc(day, start, tz) <= at < wall_to_utc(ends_on, end, tz)

    nights = [day for day in (local - timedelta(days=1), local) if inside(day)]
    assert nights == ([] if began is None else [began])


# -- periods of the SLA mail ----------------------------------------------------------------------


def test_the_week_is_mailed_on_monday_and_the_month_on_the_first_at_the_set_time() -> None:
    at = datetime(2026, 12, 1, 8, 0, tzinfo=MSK)
    week = last_period(ReportPeriod.WEEKLY, at, MSK, time(8))
    assert (week.key, str(week)) == ("weekly:2026-11-23", "week 2026-11-23 - 2026-11-29")
    month = last_period(ReportPeriod.MONTHLY, at, MSK, time(8))
    assert (month.key, str(month)) == ("monthly:2026-11-01", "November 2026")
    assert month.start == datetime(2026, 11, 1, tzinfo=MSK) and month.end == datetime(2026, 12, 1, tzinfo=MSK)
    before = last_period(ReportPeriod.MONTHLY, at - timedelta(minutes=1), MSK, time(8))
    assert before.key == "monthly:2026-10-01"  # November's mail is not due until 08:00
    december = period_starting(ReportPeriod.MONTHLY, datetime(2026, 12, 1).date(), MSK)
    assert december.end == datetime(2027, 1, 1, tzinfo=MSK)


@given(INSTANTS, ZONES, CLOCKS, st.sampled_from(list(ReportPeriod)))
def test_the_period_due_is_the_latest_whose_send_time_has_come(
    at: datetime, tz: ZoneInfo, send_at: time, kind: ReportPeriod
) -> None:
    period = last_period(kind, at, tz, send_at)
    assert period.start < period.end <= send_time(period, tz, send_at)
    assert send_time(period, tz, send_at) <= at
    following = period_starting(kind, period.end.astimezone(tz).date(), tz)
    assert following.start == period.end  # periods tile time without gaps or overlaps
    assert send_time(following, tz, send_at) > at
    assert period.start.astimezone(tz).time() == time(0)  # local midnight (no zone here shifts at 00:00)
    if kind is ReportPeriod.WEEKLY:
        assert (
            period.first_day.weekday() == 0 and 167 <= (period.end - period.start) / timedelta(hours=1) <= 169
        )
    else:
        assert period.first_day.day == 1
