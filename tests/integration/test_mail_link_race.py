"""Two confirmations of one mail link at the same moment (a double tap, a retried POST, two
devices) act once, on SQLite and PostgreSQL: the link's row is taken by a conditional update in
the transaction of the action."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bridge.clock import FakeClock
from bridge.errors import LinkRefused
from bridge.services.mail_links import LinkOutcome, LinkProblem
from tests.e2e.test_mail_links import SECRET, p1
from tests.support.duty import RULES, Desk, running_desk

TAPS = 6


@pytest.fixture
def desk(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Desk]:
    with running_desk(database_url, tmp_path, clock, RULES, secret_key=SECRET) as running:
        yield running


@pytest.mark.parametrize("action", ["ack", "escalate"])
def test_simultaneous_confirmations_of_one_link_act_once(desk: Desk, action: str) -> None:
    number, person, found = p1(desk)
    links = desk.runtime.services.mail_links
    token = found[action].removeprefix("/mail-link/")
    csrf = links.confirm_token(token, "nonce")
    start = threading.Barrier(TAPS)
    outcomes: list[LinkOutcome | LinkRefused] = []
    lock = threading.Lock()

    def tap() -> None:
        start.wait()
        try:
            result: LinkOutcome | LinkRefused = links.use(token, "nonce", csrf)
        except LinkRefused as exc:
            result = exc
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=tap) for _ in range(TAPS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(outcomes) == TAPS
    acted = [o for o in outcomes if isinstance(o, LinkOutcome) and o.acted]
    assert len(acted) == 1
    for other in outcomes:
        if other is acted[0]:
            continue
        # Refused as used, or (the incident already acknowledged) answered with its state.
        assert (isinstance(other, LinkRefused) and other.problem == LinkProblem.USED) or (
            isinstance(other, LinkOutcome) and not other.acted
        ), other
    verb = "acknowledged" if action == "ack" else "escalated"
    assert desk.timeline(number, verb) == [f"{verb} by {person}"]
