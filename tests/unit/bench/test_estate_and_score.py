"""The labelled estate week and its scorer: the same seed gives the same week, the labels say
what the trace holds, and the scorer counts a hand-made replay as a person would."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bench.estate import HOSTS, STORM_SWITCH, labelled_week
from bench.score import render, score
from bridge.alert import Status
from bridge.replay.trace import record_line
from bridge.sources import parse_delivery


def test_the_same_seed_gives_the_same_week_and_another_seed_another() -> None:
    one, again, other = labelled_week(5), labelled_week(5), labelled_week(6)
    assert [record_line(r) for r in one.deliveries] == [record_line(r) for r in again.deliveries]
    assert json.dumps(one.labels) == json.dumps(again.labels)
    assert [record_line(r) for r in one.deliveries] != [record_line(r) for r in other.deliveries]


def test_a_week_holds_the_estate_and_the_hard_cases_the_issue_names() -> None:
    labels = labelled_week(2).labels
    episodes = labels["episodes"]
    real = [e for e in episodes if e["kind"] == "real"]
    noise = [e for e in episodes if e["kind"] == "noise"]
    assert len(HOSTS) == len(labels["hosts"]) == 40
    assert len(real) == 20 and len(noise) >= 320
    assert all(e["max_delay_s"] for e in real) and all(e["max_delay_s"] is None for e in noise)
    categories = {e["category"] for e in real}
    assert {"persistent-ping-loss", "recurring-blips", "switch-storm", "maintenance-overrun"} <= categories
    [storm] = [e for e in real if e["storm"]]
    assert len(storm["alerts"]) == 48
    assert {a["host"] for a in storm["alerts"]} == {h.name for h in HOSTS if h.switch == STORM_SWITCH}
    starts = [datetime.fromisoformat(a["start"]) for a in storm["alerts"]]
    assert max(starts) - min(starts) <= timedelta(minutes=2)
    [overrun] = [e for e in real if e["category"] == "maintenance-overrun"]
    [window] = labels["maintenance"]
    assert overrun["start"] == window["end"]  # a problem from the moment the window ends
    assert min(a["start"] for a in overrun["alerts"]) < window["end"] < overrun["end"]
    noisy = {e["category"] for e in noise}
    assert {"cpu-spike", "ping-blip", "flapping-link", "flapping-service", "info-chatter"} <= noisy
    assert {"watchdog-gap", "maintenance"} <= noisy


def test_every_labelled_alert_fires_and_resolves_in_the_trace_as_labelled() -> None:
    week = labelled_week(3)
    seen: dict[str, list[tuple[Status, datetime, datetime | None]]] = {}
    for recorded in week.deliveries:
        for alert in parse_delivery(recorded.source, recorded.body, recorded.received_at).alerts:
            seen.setdefault(alert.fingerprint, []).append((alert.status, alert.starts_at, alert.ends_at))
    labelled = set()
    for episode in week.labels["episodes"]:
        for alert in episode["alerts"]:
            labelled.add(alert["fingerprint"])
            if alert["name"] == "Watchdog":
                continue
            start, end = datetime.fromisoformat(alert["start"]), datetime.fromisoformat(alert["end"])
            events = [e for e in seen[alert["fingerprint"]] if e[1] == start]
            assert (Status.FIRING, start, None) in events, alert
            assert (Status.RESOLVED, start, end) in events, alert
    assert set(seen) == labelled  # and every alert of the trace is labelled


T = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def at(minutes: float) -> str:
    return (T + timedelta(minutes=minutes)).isoformat()


def episode(id: str, kind: str, alerts: list[tuple[str, float, float]], **more: Any) -> dict[str, Any]:
    """An episode whose alerts are (fingerprint, start minute, end minute)."""
    return {
        "id": id,
        "kind": kind,
        "category": more.pop("category", id),
        "what": id,
        "start": more.pop("start", at(min(a[1] for a in alerts))),
        "end": at(max(a[2] for a in alerts)),
        "max_delay_s": more.pop("max_delay_s", 600 if kind == "real" else None),
        "storm": more.pop("storm", False),
        "alerts": [
            {"fingerprint": f, "host": "h", "name": f, "source": "zabbix", "start": at(s), "end": at(e)}
            for f, s, e in alerts
        ],
    }


def incident(number: int, members: list[tuple[str, float]], resolved: float | None = None) -> dict[str, Any]:
    return {
        "number": number,
        "group_key": f"g{number}",
        "title": f"incident {number}",
        "opened_at": at(members[0][1]) if members else at(0),
        "resolved_at": None if resolved is None else at(resolved),
        "members": [{"at": at(m), "fingerprint": f, "name": f, "host": "h"} for f, m in members],
    }


def test_the_scorer_counts_a_hand_made_replay_as_a_person_would() -> None:
    labels = {
        "seed": 0,
        "episodes": [
            episode("down", "real", [("a", 0, 30)]),  # detected 2 minutes in: in time
            episode("slow", "real", [("b", 0, 60)], max_delay_s=300),  # detected after 20 minutes: late
            episode("lost", "real", [("c", 0, 60)]),  # never
            episode("storm", "real", [("s1", 100, 130), ("s2", 100.5, 130), ("s3", 101, 130)], storm=True),
            # an overrun: its alert fired in the window (joined at 150), the window ended at 160
            episode("overrun", "real", [("o", 140, 200)], start=at(160)),
            episode("spike", "noise", [("n1", 200, 203)]),  # opened an incident
            episode("blip", "noise", [("n2", 210, 211)]),  # held: nothing
            episode("child", "noise", [("n3", 5, 8)]),  # joined incident 1: pages nobody
            episode("same-alert-later", "noise", [("a", 300, 301)]),  # fingerprint a again, later
        ],
    }
    replay = {
        "incidents": [
            incident(1, [("a", 2), ("n3", 5.5)]),
            incident(2, [("b", 20)]),
            incident(3, [("s1", 103), ("s2", 103)]),
            incident(4, [("s3", 104)]),
            incident(5, [("o", 150)], resolved=None),
            incident(6, [("n1", 201)]),
            incident(7, [("zz", 400)]),  # no label explains it
        ]
    }
    figures = score(labels, replay).figures()
    assert (figures["real"], figures["real_in_time"], figures["real_late"], figures["real_missed"]) == (
        5,
        3,
        1,
        1,
    )
    assert [e["id"] for e in figures["late"]] == ["slow"] and figures["late"][0]["delay_s"] == 1200.0
    assert [e["id"] for e in figures["missed"]] == ["lost"]
    assert (figures["noise"], figures["noise_incidents"], figures["noise_incident_pct"]) == (4, 1, 25.0)
    assert figures["incidents_per_storm"] == [2]
    assert (figures["incidents"], figures["unlabelled_incidents"]) == (7, 1)
    # delays: down 120 s, slow 1200 s, storm 180 s (from 100 to 103), overrun 0 s (open at 160)
    assert figures["delay_median_s"] == 150.0
    assert figures["delay_p90_s"] == pytest.approx(180 + 0.7 * (1200 - 180))  # between the 3rd and 4th
    text = render(figures)
    assert "real outages        5: 3 in time, 1 late, 1 missed" in text
    assert "noise episodes      4: 1 became incidents (25.0%)" in text


def test_an_incident_resolved_before_an_overrun_began_does_not_detect_it() -> None:
    labels = {"episodes": [episode("overrun", "real", [("o", 140, 200)], start=at(160))]}
    replay = {"incidents": [incident(1, [("o", 141)], resolved=150)]}
    assert score(labels, replay).figures()["real_missed"] == 1


def test_a_lost_heartbeat_belongs_to_the_watchdog_gap() -> None:
    gap = episode("watchdog-gap", "noise", [("alertmanager:wd", 60, 120)])
    gap["alerts"][0]["name"] = "Watchdog"
    beat = incident(1, [])
    beat.update(title="Heartbeat lost: Watchdog", opened_at=at(150), group_key="watchdog|name=Watchdog")
    figures = score({"episodes": [gap]}, {"incidents": [beat]}).figures()
    assert (figures["noise_incidents"], figures["unlabelled_incidents"]) == (1, 0)
