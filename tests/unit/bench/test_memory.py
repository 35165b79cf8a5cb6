"""bench/memory.py's workload is what its docstring says: 50 alerts a notification, mostly repeats
and resolves of the estate, one new alert, and later that new alert's resolve."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from bench.memory import ESTATE_GROUPS, RESOLVE_AFTER, body
from bridge.alert import Source, Status
from bridge.sources import parse_delivery

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def alerts(n: int) -> list[tuple[str, Status]]:
    return [(a.fingerprint, a.status) for a in parse_delivery(Source.ALERTMANAGER, body(n), NOW).alerts]


def test_every_notification_holds_50_alerts_48_of_the_estate() -> None:
    for n in (0, 1, ESTATE_GROUPS, RESOLVE_AFTER, 5 * RESOLVE_AFTER + 3):
        got = alerts(n)
        assert len(got) == 50
        assert sum(1 for fingerprint, _ in got if "estate" in fingerprint) == 48


def test_a_new_alert_fires_once_and_resolves_200_notifications_later() -> None:
    n = 3 * RESOLVE_AFTER + 7
    fired = alerts(n)[48]
    assert fired[1] is Status.FIRING and "new" in fired[0]
    assert alerts(n + RESOLVE_AFTER)[49] == (fired[0], Status.RESOLVED)
    seen = Counter(f for m in range(n - RESOLVE_AFTER, n + RESOLVE_AFTER) for f, _ in alerts(m) if "new" in f)
    assert seen[fired[0]] == 1  # fired once in that span (its resolve comes at n + 200)


def test_one_estate_alert_in_20_resolves_each_round_and_fires_again_the_next() -> None:
    rounds = [
        [a for n in range(r * ESTATE_GROUPS, (r + 1) * ESTATE_GROUPS) for a in alerts(n) if "estate" in a[0]]
        for r in (0, 1)
    ]
    assert [len({f for f, _ in estate}) for estate in rounds] == [4800, 4800]
    resolved = [{f for f, s in estate if s is Status.RESOLVED} for estate in rounds]
    assert [len(r) for r in resolved] == [240, 240]
    assert not resolved[0] & resolved[1]
