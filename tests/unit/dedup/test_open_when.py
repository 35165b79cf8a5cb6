"""`open_when: any`: "persistent or recurring". A rule with `for:` and `threshold:` opens when
the group has fired `for:` without a break OR when `threshold:` starts fit in their window,
whichever comes first; `open_when: all` (the default) keeps "count, then hold"."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.dedup.explain import explain
from bridge.dedup.groups import ordinal
from bridge.dedup.loader import load_rules_texts
from bridge.dedup.simulator import Simulator
from bridge.errors import RulesError
from tests.support.alerts import alert, at, simulator
from tests.unit.dedup.test_engine_language_properties import active_at, episodes, occurrences

ANY = """
defaults: {resolve_after: 5m, reopen_within: 0s}
rules:
  - name: ping-loss
    match: {name: PingLoss}
    for: 10m
    threshold: {count: 3, within: 15m}
    open_when: any
"""


def feed(sim: Simulator, history: list[tuple[float, float | None]], name: str = "PingLoss") -> None:
    for start, length in history:
        sim.feed(alert(name, "gw-01", start=start))
        if length is not None:
            sim.advance(at(start + length))
            sim.feed(alert(name, "gw-01", status="resolved", start=start, end=start + length))
    sim.advance(at(history[-1][0] + 24 * 60))


def opened_reason(sim: Simulator) -> str:
    return next(text for _, kind, text in sim.incidents[0].timeline if kind == "opened")


def test_a_blip_that_persists_opens_once_it_has_fired_for_the_hold() -> None:
    sim = simulator(ANY)
    sim.feed(alert("PingLoss", "gw-01", start=0))
    sim.advance(at(9.9))
    assert sim.incidents == []
    sim.advance(at(10))
    assert len(sim.incidents) == 1
    assert sim.incidents[0].opened_at == at(10)
    assert opened_reason(sim) == "rule ping-loss: firing 10m"


def test_recurring_blips_open_on_the_third_start_within_the_window() -> None:
    sim = simulator(ANY)
    feed(sim, [(0, 1), (5, 1), (11, 1)])
    assert len(sim.incidents) == 1
    assert sim.incidents[0].opened_at == at(11)
    assert opened_reason(sim) == "rule ping-loss: 3rd start within 15m"


def test_while_neither_holds_the_alert_waits_and_says_for_what() -> None:
    sim = simulator(ANY)
    decision = sim.feed(alert("PingLoss", "gw-01", start=0))
    assert decision.reason.startswith("waiting: threshold 1 of 3 within 15m, or for 10m: firing since")
    assert "opens at 2026-11-22 10:10:00 UTC if still firing" in decision.reason


def test_all_is_count_then_hold_and_stays_the_default() -> None:
    history: list[tuple[float, float | None]] = [(0, 30.0)]  # one long episode never counts to 3
    for rules in (ANY.replace("open_when: any", "open_when: all"), ANY.replace("    open_when: any\n", "")):
        sim = simulator(rules)
        feed(sim, history)
        assert sim.incidents == []
    sim = simulator(ANY)
    feed(sim, history)
    assert len(sim.incidents) == 1


def test_open_when_is_validated_with_file_and_line() -> None:
    with pytest.raises(RulesError) as raised:
        load_rules_texts(
            {
                "r.yaml": "rules:\n  - name: a\n    for: 5m\n    open_when: any\n  - name: b\n    open_when: some\n"
            }
        )
    text = str(raised.value)
    assert "r.yaml:4: `open_when` says how `for:` and `threshold:` combine: the rule needs both" in text
    assert "r.yaml:6: open_when must be 'all' or 'any', got 'some'" in text


def test_explain_says_whichever_comes_first() -> None:
    rules = load_rules_texts({"r.yaml": ANY})
    lines = explain(rules, alert("PingLoss", "gw-01"), at(0))
    assert (
        "  opens an incident after 3 occurrences within 15m or firing for 10m, whichever comes first "
        "(open_when: any)"
    ) in lines


def test_ordinals_read_as_english() -> None:
    assert [ordinal(n) for n in (1, 2, 3, 4, 11, 12, 13, 21, 22, 101, 111)] == [
        "1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "101st", "111th"
    ]  # fmt: skip


# -- properties ----------------------------------------------------------------------------------


def rules_for(count: int, within: int, hold: int, mode: str | None) -> str:
    return f"""
defaults: {{resolve_after: 5m, reopen_within: 0s}}
rules:
  - name: gated
    match: {{name: Gated}}
    threshold: {{count: {count}, within: {within}m}}
    for: {hold}m
    {f"open_when: {mode}" if mode else ""}
"""


def run(rules: str, history: list[tuple[int, int | None]]) -> Simulator:
    sim = simulator(rules)
    feed(sim, [(float(s), None if n is None else float(n)) for s, n in history], name="Gated")
    return sim


@settings(max_examples=200, deadline=None)
@given(occurrences(), st.integers(1, 4), st.integers(1, 30), st.integers(1, 15))
def test_any_opens_exactly_once_per_episode_never_early_never_late(
    history: list[tuple[int, int | None]], count: int, within: int, hold: int
) -> None:
    sim = run(rules_for(count, within, hold, "any"), history)
    starts = [s for s, _ in history]
    spans = [span for incident in sim.incidents for span in episodes(incident)]
    for begin, _ in spans:
        minute = (begin - at(0)).total_seconds() / 60
        before = [s for s in starts if s <= minute]
        recurring = any(before[i + count - 1] - before[i] <= within for i in range(len(before) - count + 1))
        persistent = any(
            at(s) + timedelta(minutes=hold) <= begin and (n is None or n >= hold) for s, n in history
        )
        assert recurring or persistent, (begin, history)
    # once per episode: an incident never opens while one is active (reopen_within 0s: every
    # open is a new incident), and a single sustained occurrence gives exactly one incident
    for (_, end), (next_begin, _) in itertools.pairwise(spans):
        assert end is not None and end <= next_begin
    if len(history) == 1 and history[0][1] is None:
        assert len(sim.incidents) == 1
        assert sim.incidents[0].opened_at == at(history[0][0] + (0 if count == 1 else hold))
    # never missed: a persistent occurrence is in an incident by the end of its hold, the
    # count-th start within the window at once
    for start, length in history:
        if length is None or length > hold:
            assert active_at(sim, at(start + hold))
    # (after an incident opened the count starts afresh: the first time only)
    for i in range(count - 1, len(history)):
        if history[i][0] - history[i - count + 1][0] <= within:
            if not any(begin < at(history[i][0]) for begin, _ in spans):
                assert active_at(sim, at(history[i][0])), (i, sim.incidents)
            break


@settings(max_examples=150, deadline=None)
@given(
    occurrences(), st.integers(1, 4), st.integers(1, 30), st.integers(1, 15), st.sampled_from(["any", "all"])
)
def test_the_same_trace_gives_the_same_incidents(
    history: list[tuple[int, int | None]], count: int, within: int, hold: int, mode: str
) -> None:
    first, second = (run(rules_for(count, within, hold, mode), history) for _ in range(2))
    assert [(i.opened_at, i.resolved_at, i.title, i.timeline) for i in first.incidents] == [
        (i.opened_at, i.resolved_at, i.title, i.timeline) for i in second.incidents
    ]


@settings(max_examples=150, deadline=None)
@given(occurrences(), st.integers(1, 4), st.integers(1, 30), st.integers(1, 15))
def test_all_written_out_decides_exactly_as_before(
    history: list[tuple[int, int | None]], count: int, within: int, hold: int
) -> None:
    explicit = run(rules_for(count, within, hold, "all"), history)
    implicit = run(rules_for(count, within, hold, None), history)
    assert [(i.opened_at, i.resolved_at, i.timeline) for i in explicit.incidents] == [
        (i.opened_at, i.resolved_at, i.timeline) for i in implicit.incidents
    ]
    assert explicit.outcomes == implicit.outcomes
