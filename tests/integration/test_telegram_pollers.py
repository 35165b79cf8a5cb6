"""Two bridge processes against one PostgreSQL and one bot: one long-polls at a time (the lease),
and an update that reaches both anyway (leases that overlapped, a webhook retried into two web
processes) acts once: its update id is written in the transaction of its effect."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bridge.clock import FakeClock
from bridge.db.models import TelegramPoller, TelegramUpdate
from bridge.integrations.telegram import CallbackPress, TextMessage
from bridge.services.telegram import Outcome, TelegramDesk
from bridge.ticketing.roles import Role
from bridge.worker.runtime import Runtime
from tests.conftest import _truncate
from tests.support.app import build_runtime
from tests.support.duty import RULES, TELEGRAM_TOKEN, Desk, running_desk
from tests.support.people import add_user

ORLOV = 100001

pytestmark = pytest.mark.postgres


@pytest.fixture
def two(postgres_database: str, tmp_path: Path, clock: FakeClock) -> Iterator[tuple[Desk, Runtime]]:
    """A desk, and a second process (runtime) on the same database, bot and rota."""
    _truncate(postgres_database)
    with running_desk(postgres_database, tmp_path, clock, RULES, telegram_poll_seconds=1) as desk:
        other = build_runtime(desk.runtime.settings, clock)
        try:
            yield desk, other
        finally:
            other.close()


def telegram(runtime: Runtime) -> TelegramDesk:
    assert runtime.services.telegram is not None
    return runtime.services.telegram


def linked_orlov_with_incidents(desk: Desk, count: int) -> list[int]:
    add_user(desk.runtime, "orlov", Role.OPERATOR)
    code = telegram(desk.runtime).new_link_code("orlov").code
    assert telegram(desk.runtime).take(desk_text(1, f"/start {code}")) is Outcome.LINKED
    desk.at("2026-11-24 03:00")
    return [int(desk.open(title=f"Depot {n} offline", client="logistics")["number"]) for n in range(count)]


def desk_text(update_id: int, text: str) -> TextMessage:
    return TextMessage(update_id, ORLOV, ORLOV, text, None)


def acks(desk: Desk, number: int) -> int:
    return [e["kind"] for e in desk.incident(number)["timeline"]].count("acknowledged")


def test_two_pollers_take_each_press_once(two: tuple[Desk, Runtime]) -> None:
    desk, other = two
    numbers = linked_orlov_with_incidents(desk, 6)
    for number in numbers:
        desk.http.telegram.press(ORLOV, f"ack:{number}", chat_id=ORLOV, message_id=1)
    pollers = [desk.runtime.telegram, other.telegram]
    assert pollers[0] is not None and pollers[1] is not None
    for poller in pollers:
        poller.start()
    try:
        desk.http.wait_for(
            f"/bot{TELEGRAM_TOKEN}/answerCallbackQuery", lambda found: len(found) >= len(numbers)
        )
    finally:
        for poller in pollers:
            poller.stop()
    assert [acks(desk, number) for number in numbers] == [1] * len(numbers)
    assert len(desk.http.posted(f"/bot{TELEGRAM_TOKEN}/answerCallbackQuery")) == len(numbers)
    with desk.runtime.services.sessions() as session:
        assert session.scalar(select(func.count()).select_from(TelegramUpdate)) == len(numbers) + 1
        poller_row = session.get(TelegramPoller, 1)
        assert poller_row is not None and poller_row.holder is None  # given back on stop


def test_one_update_reaching_both_processes_at_once_acts_once(two: tuple[Desk, Runtime]) -> None:
    desk, other = two
    (number,) = linked_orlov_with_incidents(desk, 1)
    press = CallbackPress(800_001, "q-race", ORLOV, f"ack:{number}", ORLOV, 1)
    desks = [telegram(desk.runtime), telegram(other)] * 4
    start = threading.Barrier(len(desks))
    outcomes: list[Outcome] = []
    lock = threading.Lock()

    def take(bot: TelegramDesk) -> None:
        start.wait()
        outcome = bot.take(press)
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=take, args=(bot,)) for bot in desks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(outcomes) == sorted([Outcome.ACTED] + [Outcome.DUPLICATE] * (len(desks) - 1))
    assert acks(desk, number) == 1
