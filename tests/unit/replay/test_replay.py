"""The replay summary, the trace format, `rules check`'s summary and `explain`, without a database."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bridge.alert import Source
from bridge.dedup.explain import explain
from bridge.dedup.loader import load_rules_texts
from bridge.dedup.matchers import parse_matcher
from bridge.dedup.state import Silence
from bridge.dedup.summary import describe_ruleset
from bridge.errors import TraceError
from bridge.replay.replayer import Replay, settling_time, waiting_kind
from bridge.replay.trace import Recorded, read_trace, record_line, write_trace
from bridge.sources.document import alerts_in
from tests.support.payloads import am_alert, am_notification

T0 = datetime(2026, 11, 23, tzinfo=UTC)

RULES = """
rules:
  - name: chatter
    match: {name: Chatter}
    action: drop
  - name: cpu
    match: {name: HighCPU}
    for: 5m
  - name: ping
    match: {name: PingLoss}
    threshold: {count: 3, within: 15m}
  - name: link
    match: {name: LinkFlap}
    flapping: {changes: 4, within: 30m, below: 2}
  - name: host-down
    match: {name: HostDown}
    group_by: [host]
    inhibits: {match: {severity: "!=critical"}, equal: [host]}
  - name: watchdog
    kind: heartbeat
    match: {name: Watchdog}
    every: 10m
maintenance:
  - name: db-nightly
    match: {host: db-01}
    every: "daily 01:00-02:00"
"""


def delivery(
    at: timedelta, name: str, host: str = "web-01", *, resolved: timedelta | None = None, **labels: str
) -> Recorded:
    start = T0 + at
    status, ends = ("resolved", (T0 + resolved).isoformat()) if resolved is not None else ("firing", None)
    alert = am_alert(
        name,
        status=status,
        starts_at=start.isoformat(),
        ends_at=ends,
        fingerprint=f"{name}-{host}",
        instance=f"{host}:9100",
        **labels,
    )
    received = T0 + (resolved if resolved is not None else at) + timedelta(seconds=10)
    return Recorded(Source.ALERTMANAGER, received, json.dumps(am_notification(alert)).encode())


def run(deliveries: list[Recorded], silences: tuple[Silence, ...] = ()) -> dict[str, object]:
    replay = Replay(load_rules_texts({"r.yaml": RULES}), "candidate", silences, refuse_redeliveries=True)
    for recorded in sorted(deliveries, key=lambda d: d.received_at):
        replay.feed(recorded)
    return replay.finish().as_json()


def test_each_suppression_is_counted_once_by_the_reason_that_held_it() -> None:
    silence = Silence(7, (parse_matcher("host", "web-09"),), T0, T0 + timedelta(hours=6), "ivanov", "")
    summary = run(
        [
            delivery(timedelta(0), "Chatter", severity="warning"),
            delivery(timedelta(0), "Chatter", resolved=timedelta(minutes=1), severity="warning"),
            delivery(timedelta(minutes=1), "HighCPU", severity="high"),  # over in 2m: held by `for`
            delivery(timedelta(minutes=1), "HighCPU", resolved=timedelta(minutes=3), severity="high"),
            delivery(timedelta(minutes=2), "HighCPU", "web-02", severity="high"),  # lasts: opens
            delivery(timedelta(minutes=5), "PingLoss", severity="warning"),  # alone: threshold
            delivery(timedelta(minutes=5), "PingLoss", resolved=timedelta(minutes=6), severity="warning"),
            delivery(timedelta(hours=1, minutes=10), "Disk", "db-01", severity="warning"),  # maintenance
            delivery(
                timedelta(hours=1, minutes=10),
                "Disk",
                "db-01",
                resolved=timedelta(hours=1, minutes=30),
                severity="warning",
            ),
            delivery(timedelta(minutes=30), "Disk", "web-09", severity="warning"),  # silenced
            delivery(timedelta(hours=3), "HostDown", "web-03", severity="critical"),
            delivery(timedelta(hours=3, minutes=1), "Disk", "web-03", severity="warning"),  # inhibited
            delivery(
                timedelta(hours=3, minutes=1),
                "Disk",
                "web-03",
                resolved=timedelta(hours=3, minutes=2),
                severity="warning",
            ),
        ],
        (silence,),
    )
    assert summary["suppressed"] == {
        "dropped": 1,
        "threshold": 1,
        "for": 1,
        "flapping": 0,
        "inhibited": 1,
        "maintenance": 1,
        "silenced": 1,
    }
    assert summary["alerts"] == 13
    opened = [(i["rule"], i["title"]) for i in summary["incidents"]]  # type: ignore[union-attr]
    assert opened == [("cpu", "HighCPU on web-02"), ("host-down", "HostDown on web-03")]
    rules = summary["rules"]
    assert rules["cpu"] == {"alerts": 3, "incidents": 1, "suppressed": 1}  # type: ignore[index]
    # cpu: held 5m from its start; host-down: opened on arrival, 10s after it began
    assert summary["time_to_incident_s"] == {"median": 155.0, "p90": 271.0, "max": 300.0}


def test_a_flapping_incident_absorbs_what_would_have_reopened_it() -> None:
    flaps = []
    for n in range(6):
        start, end = timedelta(minutes=4 * n), timedelta(minutes=4 * n + 1)
        fingerprint_host = "edge-01"
        flaps.append(delivery(start, "LinkFlap", fingerprint_host, severity="warning"))
        flaps.append(delivery(start, "LinkFlap", fingerprint_host, resolved=end, severity="warning"))
    # Each flap is a new occurrence of one Alertmanager alert: the first opens, the rest join.
    summary = run(flaps)
    assert summary["incidents_opened"] == 1
    incident = summary["incidents"][0]  # type: ignore[index]
    assert incident["reopen_count"] == 0
    assert summary["suppressed"]["flapping"] >= 2  # type: ignore[index]


def test_the_end_of_a_history_does_not_lose_a_heartbeat_but_plays_out_holds() -> None:
    summary = run(
        [
            delivery(timedelta(0), "Watchdog", "am", severity="warning"),
            delivery(timedelta(minutes=1), "HighCPU", severity="high"),
        ]
    )
    assert [i["rule"] for i in summary["incidents"]] == ["cpu"]  # type: ignore[union-attr]
    rules = load_rules_texts({"r.yaml": RULES})
    assert settling_time(rules) == timedelta(minutes=35, seconds=1)  # flapping 30m + resolve 5m


def test_redeliveries_in_a_trace_are_skipped_as_the_intake_skips_them() -> None:
    one = delivery(timedelta(0), "HighCPU", severity="high")
    summary = run([one, one])
    assert (summary["deliveries"], summary["redeliveries"], summary["alerts"]) == (1, 1, 1)


def test_unreadable_deliveries_are_counted_and_skipped() -> None:
    broken = Recorded(Source.ZABBIX, T0, b'{"schema": "bridge.zabbix.v1"}')
    summary = run([broken, delivery(timedelta(0), "HighCPU", severity="high")])
    assert (summary["unreadable"], summary["alerts"]) == (1, 1)


@pytest.mark.parametrize(
    ("reason", "kind"),
    [
        ("waiting: threshold 1 of 3 within 15m", "threshold"),
        ("waiting: for 5m: firing since 00:00, opens at 00:05 if still firing", "for"),
        ("waiting: threshold 3 of 3 within 15m; for 5m: firing since 00:00", "for"),
        ("resolved before opening an incident (threshold 2 of 3 within 15m)", "threshold"),
        ("resolved before opening an incident (for 10m: firing since 02:00)", "for"),
        ("resolved before opening an incident (rule default)", None),
    ],
)
def test_what_a_waiting_alert_waited_for(reason: str, kind: str | None) -> None:
    assert waiting_kind(reason) == kind


@given(
    st.lists(
        st.sampled_from(
            [
                "waiting: ",
                "resolved before opening an incident (",
                "for ",
                "; for ",
                "threshold ",
                "for",
                "x ",
            ]
        ),
        max_size=6,
    )
)
def test_a_waiting_kind_is_read_as_the_reason_without_its_prefixes(parts: list[str]) -> None:
    """Read in place, the reason says what it says with its prefixes taken off (as it was read)."""
    reason = "".join(parts)
    text = reason.removeprefix("waiting: ").removeprefix("resolved before opening an incident (")
    expected = "for" if text.startswith("for ") or "; for " in text else None
    if expected is None and text.startswith("threshold "):
        expected = "threshold"
    assert waiting_kind(reason) == expected


def test_a_trace_round_trips_and_names_the_bad_line() -> None:
    recorded = delivery(timedelta(0), "HighCPU", severity="high")
    out = io.StringIO()
    assert write_trace([recorded, recorded], out) == 2
    lines = out.getvalue().splitlines()
    assert (
        json.loads(lines[0])["body"]["alerts"][0]["labels"]["alertname"] == "HighCPU"
    )  # embedded, not a string
    back = list(read_trace(lines))
    assert back[0].received_at == recorded.received_at and json.loads(back[0].body) == json.loads(
        recorded.body
    )
    assert record_line(back[0]) == lines[0]
    bad = [
        ("not json", "t:1: not a JSON line: Expecting value at column 1"),
        ("[1]", "t:1: must be a JSON object with source, received_at and body"),
        (
            '{"source": "nagios", "received_at": "2026-11-23T00:00:00Z", "body": {}}',
            "t:1: source must be alertmanager or zabbix, got 'nagios'",
        ),
        ('{"source": "zabbix", "body": {}}', "t:1: missing received_at"),
        (
            '{"source": "zabbix", "received_at": "yesterday", "body": {}}',
            "t:1: received_at 'yesterday' is not an ISO-8601 instant",
        ),
    ]
    for line, message in bad:
        with pytest.raises(TraceError) as caught:
            list(read_trace([line], "t"))
        assert str(caught.value) == message


def test_check_summarises_each_rule_and_window() -> None:
    lines = describe_ruleset(load_rules_texts({"r.yaml": RULES}), "rules")
    assert lines[0].startswith("rules: OK, 6 rules and 1 maintenance windows in 1 files (r.yaml), version ")
    text = "\n".join(lines)
    assert "  chatter    drop\n" in text
    assert "  cpu        group by source+host+name, for 5m, priority P3, resolve after 5m\n" in text
    assert "  ping       group by source+host+name, 3 within 15m, priority P3, resolve after 5m" in text
    assert "flapping 4 in 30m" in text
    assert "inhibits severity!='critical' equal host" in text
    assert "  watchdog   heartbeat every 10m, group by source+host+name, priority P3\n" in text
    assert "  maintenance db-nightly: mon/tue/wed/thu/fri/sat/sun 01:00-02:00 UTC, host='db-01'" in text


def test_explain_a_zabbix_body_and_a_trace_line() -> None:
    rules = load_rules_texts({"r.yaml": RULES})
    body = {
        "schema": "bridge.zabbix.v1",
        "kind": "problem",
        "zabbix": {"instance": "z", "url": "http://z/"},
        "event": {
            "id": "5",
            "name": "PingLoss",
            "severity": "Warning",
            "nseverity": "2",
            "timestamp": "1795331703",
            "tags": [],
        },
        "host": {"host": "edge-01", "name": "edge-01"},
    }
    lines = explain(rules, alerts_in(json.dumps(body), T0)[0], T0)
    assert lines[0] == "alert 'PingLoss' on edge-01 from zabbix, warning"
    assert lines[1] == "  no match   chatter (r.yaml:3): name='Chatter' does not match: name is 'PingLoss'"
    assert lines[3].startswith("  matched    ping (r.yaml:9): name='PingLoss'")
    assert "  opens an incident after 3 occurrences within 15m" in lines
    trace_line = json.dumps({"source": "zabbix", "received_at": T0.isoformat(), "body": body})
    assert explain(rules, alerts_in(trace_line, T0)[0], T0) == lines
    nothing = alerts_in(json.dumps({"labels": {"alertname": "Odd"}}), T0)[0]
    said = explain(rules, nothing, T0)
    assert "  matched    default: no rule ended the search: the defaults decide" in said
