"""The noise report and the proactive share against a history counted by hand, built through the
real pipeline (Alertmanager webhooks), the real services (acknowledgements by named people,
incidents opened by hand, a silence) and the real HTTP app with the admin token, on SQLite and
PostgreSQL; their CSV export read back; `bridge reports` on the same database.

The history (Tuesday 2026-11-24, Moscow time; the example rota, night 21:00-09:00):

| time  | what                                                          | becomes                             |
|-------|---------------------------------------------------------------|-------------------------------------|
| 02:00 | HostDown web-01 (retail, critical) + CpuHigh web-01 (warning) | #1 P1 host-down; CpuHigh inhibited  |
| 02:06 | orlov acknowledges #1                                         | ack 6m by orlov                     |
| 02:30 | HostDown web-01 resolves                                      | #1 resolved 02:35, nobody reported  |
| 03:00 | DiskFull db-01 fires, resolves 03:05 (`for: 10m`)             | cleared: `for`                      |
| 10:00 | PingLoss sw-01 fires, resolves 10:01 (threshold 3 in 15m)     | cleared: `threshold`                |
| 11:00 | Chatter app-01 and app-09 (info)                              | dropped x2                          |
| 12:30 | Backup db-03 (maintenance 12:00-13:00)                        | maintenance                         |
| 13:00 | silence host app-02; 13:01 CpuHigh app-02                     | silenced                            |
| 14:00 | DiskFull db-02 (logistics) fires and stays                    | #2 P3 disk at 14:10                 |
| 14:20 | a person reports "Orders are slow" for logistics              | #3 by hand; ties to #2              |
| 14:40 | belov acknowledges #2 (30m); 15:00 DiskFull resolves          | #2 resolved 15:05, reported         |
| 16:00 | a person reports "Till offline" for retail (after #1)         | #4 by hand; ties to nothing         |
| 18:00 | Latency bank-01 (bank, high) stays firing                     | #5 P2 other, open, not reported     |
| 23:30 | HostDown web-02 (retail); 23:40 admin acknowledges            | #6 P1, ack 10m by admin             |
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bridge.cli.main import main
from bridge.clock import FakeClock
from bridge.services.incidents import NewIncident
from bridge.ticketing.lifecycle import IncidentAction
from bridge.web.app import create_app
from tests.support.app import ADMIN_TOKEN, AM_TOKEN, build_runtime, make_settings, write_rules
from tests.support.duty import EXAMPLE_ROTA, Desk, msk
from tests.support.payloads import am_alert, am_notification
from tests.support.receivers import http_server, smtp_server

RULES = """
defaults:
  group_by: [source, host, name]
  resolve_after: 5m
  reopen_within: 1h
  priority: {critical: P1, high: P2, default: P3}
rules:
  - name: drop-info
    match: {severity: info}
    action: drop
  - name: host-down
    match: {name: HostDown}
    priority: P1
    client: {label: customer}
    inhibits: {match: {}, equal: [host]}
  - name: disk
    match: {name: DiskFull}
    for: 10m
    client: {label: customer}
  - name: ping
    match: {name: PingLoss}
    threshold: {count: 3, within: 15m}
    client: {label: customer}
  - name: other
    client: {label: customer}
maintenance:
  - name: backups
    match: {host: db-03}
    from: 2026-11-24 12:00
    until: 2026-11-24 13:00
    timezone: Europe/Moscow
"""
DAY = {"from": "2026-11-24T00:00:00+03:00", "to": "2026-11-25T00:00:00+03:00"}


@pytest.fixture
def history(database_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Desk]:
    """The history of the module's docstring, built through the app and the services."""
    with smtp_server() as (smtp_url, inbox), http_server() as (http_url, sink):
        rules_dir = write_rules(tmp_path / "rules", RULES)
        (rules_dir / "rota.yaml").write_text(
            EXAMPLE_ROTA.read_text().replace("https://chat.desk.example", http_url)
        )
        settings = make_settings(database_url, rules_dir, smtp_url=smtp_url, smtp_from="bridge@desk.example")
        runtime = build_runtime(settings, clock)
        desk = Desk(create_app(runtime=runtime).test_client(), runtime, clock, inbox, sink, rules_dir)
        try:
            _build(desk)
            yield desk
        finally:
            runtime.close()


def _fire(desk: Desk, *alerts: dict[str, Any]) -> None:
    response = desk.client.post(
        "/webhooks/alertmanager",
        json=am_notification(*alerts),
        headers={"Authorization": f"Bearer {AM_TOKEN}"},
    )
    assert response.status_code == 202, response.get_json()
    desk.drain()


def _alert(
    name: str, host: str, started: str, severity: str = "warning", ended: str | None = None, **labels: str
) -> dict[str, Any]:
    starts = msk(started).isoformat()
    if ended is None:
        return am_alert(name, starts_at=starts, host=host, severity=severity, **labels)
    return am_alert(
        name,
        status="resolved",
        starts_at=starts,
        ends_at=msk(ended).isoformat(),
        host=host,
        severity=severity,
        **labels,
    )


def _ack(desk: Desk, number: int, person: str) -> None:
    desk.runtime.services.incidents.act(number, IncidentAction.ACK, person)
    desk.drain()


def _report(desk: Desk, title: str, client: str) -> None:
    desk.runtime.services.incidents.open(NewIncident(title=title, client=client), "orlov")
    desk.drain()


def _build(desk: Desk) -> None:
    desk.at("2026-11-24 02:00")
    _fire(desk, _alert("HostDown", "web-01", "2026-11-24 02:00", "critical", customer="retail"))
    _fire(desk, _alert("CpuHigh", "web-01", "2026-11-24 02:00", customer="retail"))
    desk.at("2026-11-24 02:06")
    _ack(desk, 1, "orlov")
    desk.at("2026-11-24 02:25")
    _fire(desk, _alert("CpuHigh", "web-01", "2026-11-24 02:00", ended="2026-11-24 02:25", customer="retail"))
    desk.at("2026-11-24 02:30")
    _fire(
        desk,
        _alert("HostDown", "web-01", "2026-11-24 02:00", "critical", "2026-11-24 02:30", customer="retail"),
    )
    desk.at("2026-11-24 02:36")
    desk.at("2026-11-24 03:00")
    _fire(desk, _alert("DiskFull", "db-01", "2026-11-24 03:00", customer="logistics"))
    desk.at("2026-11-24 03:05")
    _fire(
        desk, _alert("DiskFull", "db-01", "2026-11-24 03:00", ended="2026-11-24 03:05", customer="logistics")
    )
    desk.at("2026-11-24 10:00")
    _fire(desk, _alert("PingLoss", "sw-01", "2026-11-24 10:00", customer="bank"))
    desk.at("2026-11-24 10:01")
    _fire(desk, _alert("PingLoss", "sw-01", "2026-11-24 10:00", ended="2026-11-24 10:01", customer="bank"))
    desk.at("2026-11-24 11:00")
    _fire(
        desk,
        _alert("Chatter", "app-01", "2026-11-24 11:00", "info"),
        _alert("Chatter", "app-09", "2026-11-24 11:00", "info"),
    )
    desk.at("2026-11-24 12:30")
    _fire(desk, _alert("Backup", "db-03", "2026-11-24 12:30"))
    desk.at("2026-11-24 12:50")
    _fire(desk, _alert("Backup", "db-03", "2026-11-24 12:30", ended="2026-11-24 12:50"))
    desk.at("2026-11-24 13:00")
    silence = desk.post(
        "/api/silences", {"matchers": {"host": "app-02"}, "ends_at": "2h", "comment": "deploy"}
    )
    assert silence.status_code == 201, silence.get_json()
    desk.at("2026-11-24 13:01")
    _fire(desk, _alert("CpuHigh", "app-02", "2026-11-24 13:01"))
    desk.at("2026-11-24 13:30")
    _fire(desk, _alert("CpuHigh", "app-02", "2026-11-24 13:01", ended="2026-11-24 13:30"))
    desk.at("2026-11-24 14:00")
    _fire(desk, _alert("QueueStuck", "app-05", "2026-11-24 14:00", "high", customer="logistics"))
    desk.at("2026-11-24 14:20")
    _report(desk, "Orders are slow", "logistics")
    desk.at("2026-11-24 14:40")
    _ack(desk, 2, "belov")
    desk.at("2026-11-24 15:00")
    _fire(
        desk,
        _alert("QueueStuck", "app-05", "2026-11-24 14:00", "high", "2026-11-24 15:00", customer="logistics"),
    )
    desk.at("2026-11-24 15:06")
    desk.at("2026-11-24 16:00")
    _report(desk, "Till offline", "retail")
    desk.at("2026-11-24 18:00")
    _fire(desk, _alert("Latency", "bank-01", "2026-11-24 18:00", "high", customer="bank"))
    desk.at("2026-11-24 23:30")
    _fire(desk, _alert("HostDown", "web-02", "2026-11-24 23:30", "critical", customer="retail"))
    desk.at("2026-11-24 23:40")
    assert desk.post("/api/incidents/6/ack").status_code == 200
    desk.drain()


def _get(desk: Desk, path: str, **params: str) -> Any:
    return desk.get(path, **{**DAY, **params})


def _csv_rows(desk: Desk, path: str, **params: str) -> list[dict[str, str]]:
    response = desk.client.get(
        path,
        query_string={**DAY, **params, "format": "csv"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def _counts(items: list[dict[str, Any]]) -> dict[str, int]:
    return {item["key"]: item["count"] for item in items}


def test_the_noise_report_counts_the_history_as_counted_by_hand(history: Desk) -> None:
    report = _get(history, "/api/reports/noise")
    assert report["sources"] == [{"source": "alertmanager", "deliveries": 17, "events": 18, "alerts": 11}]
    assert report["alerts"] == {"received": 11, "in_incidents": 4, "heartbeats": 0, "suppressed": 7}
    assert _counts(report["suppressed_by_reason"]) == {
        "dropped": 2,
        "for": 1,
        "inhibited": 1,
        "maintenance": 1,
        "silenced": 1,
        "threshold": 1,
    }
    assert _counts(report["suppressed_by_rule"]) == {"other": 3, "drop-info": 2, "disk": 1, "ping": 1}
    assert report["incidents"]["opened"] == 6
    assert _counts(report["incidents"]["by_rule"]) == {"(by hand)": 2, "host-down": 2, "other": 2}
    assert _counts(report["incidents"]["by_priority"]) == {"P1": 2, "P2": 2, "P3": 2, "P4": 0, "P5": 0}
    names = [(n["key"], n["occurrences"], n["alerts"], n["in_incidents"]) for n in report["noisiest_names"]]
    assert names[:4] == [
        ("Chatter", 2, 2, 0),
        ("CpuHigh", 2, 2, 0),
        ("HostDown", 2, 2, 2),
        ("Backup", 1, 1, 0),
    ]
    assert len(names) == 8
    hosts = [(n["key"], n["alerts"], n["in_incidents"]) for n in report["noisiest_hosts"]]
    assert hosts[0] == ("web-01", 2, 1) and len(hosts) == 10
    assert report["time_to_acknowledge"] == [
        {"person": "admin", "count": 1, "median_seconds": 600.0, "p90_seconds": 600.0},
        {"person": "belov", "count": 1, "median_seconds": 2400.0, "p90_seconds": 2400.0},
        {"person": "orlov", "count": 1, "median_seconds": 360.0, "p90_seconds": 360.0},
    ]
    # Nights 21:00-09:00 Moscow: the one that ends on the 24th and the one that begins on it.
    assert report["night"] == {"hours": "21:00-09:00", "timezone": "Europe/Moscow", "nights": 2}
    # 02:00 #1 registers with orlov (night operator); its resolve target breached at 02:30 pages
    # sokolov (retail's engineer of the week); 23:30 #6 registers with kuznetsova. The many
    # escalations of #2..#5 fall in the daytime, and breach notices are no pages.
    pages = {p["person"]: (p["pages"], p["per_night"], p["by_night"]) for p in report["pages_at_night"]}
    assert pages == {
        "orlov": (1, 0.5, [{"night": "2026-11-23", "pages": 1}]),
        "sokolov": (1, 0.5, [{"night": "2026-11-23", "pages": 1}]),
        "kuznetsova": (1, 0.5, [{"night": "2026-11-24", "pages": 1}]),
    }


def test_the_noise_report_of_a_client_counts_its_incidents_acknowledgements_and_pages(history: Desk) -> None:
    report = _get(history, "/api/reports/noise", client="retail")
    assert report["client"] == "retail" and report["alerts_scope"] == "all clients"
    assert _counts(report["incidents"]["by_rule"]) == {"host-down": 2, "(by hand)": 1}
    assert [a["person"] for a in report["time_to_acknowledge"]] == ["admin", "orlov"]
    assert {p["person"] for p in report["pages_at_night"]} == {"orlov", "sokolov", "kuznetsova"}
    logistics = _get(history, "/api/reports/noise", client="logistics")
    assert [a["person"] for a in logistics["time_to_acknowledge"]] == ["belov"]
    assert logistics["pages_at_night"] == []


def test_the_proactive_share_counts_the_history_as_counted_by_hand(history: Desk) -> None:
    report = _get(history, "/api/reports/proactive")
    rows = {
        r["client"]: (
            r["monitoring"],
            r["reported_by_people"],
            r["resolved_unreported"],
            r["reported"],
            r["open_unreported"],
        )
        for r in report["rows"]
    }
    assert rows == {
        "bank": (1, 0, 0, 0, 1),  # #5 still firing, nobody called
        "logistics": (1, 1, 0, 1, 0),  # #2, and #3 reported while it was open
        "retail": (2, 1, 1, 0, 1),  # #1 resolved at 02:35 before "Till offline" at 16:00; #6 open
    }
    total = report["total"]
    assert (total["monitoring"], total["reported_by_people"], total["resolved_unreported"]) == (4, 2, 1)
    assert (total["monitoring_share"], total["proactive_share"]) == (round(4 / 6, 4), 0.25)
    assert total["resolved_unreported_incidents"] == [1]
    retail = _get(history, "/api/reports/proactive", client="retail")
    assert [r["client"] for r in retail["rows"]] == ["retail"] and retail["total"]["monitoring"] == 2


def test_the_csv_exports_hold_the_same_figures_as_the_json(history: Desk) -> None:
    noise = _get(history, "/api/reports/noise")
    cells = {
        (r["section"], r["key"], r["metric"]): r["value"] for r in _csv_rows(history, "/api/reports/noise")
    }
    assert cells[("period", "from", "time")] == noise["from"]
    for source in noise["sources"]:
        for metric in ("deliveries", "events", "alerts"):
            assert int(cells[("sources", source["source"], metric)]) == source[metric]
    for key, value in noise["alerts"].items():
        assert int(cells[("alerts", key, "alerts")]) == value
    for section in ("suppressed_by_reason", "suppressed_by_rule"):
        assert {k: int(v) for (s, k, _), v in cells.items() if s == section} == _counts(noise[section])
    assert {k: int(v) for (s, k, _), v in cells.items() if s == "opened_by_rule"} == _counts(
        noise["incidents"]["by_rule"]
    )
    for item in noise["noisiest_names"]:
        assert int(cells[("noisiest_names", item["key"], "occurrences")]) == item["occurrences"]
    for ack in noise["time_to_acknowledge"]:
        assert float(cells[("ack_times", ack["person"], "median_seconds")]) == ack["median_seconds"]
    for pages in noise["pages_at_night"]:
        for night in pages["by_night"]:
            assert int(cells[("night_pages", pages["person"], night["night"])]) == night["pages"]

    proactive = _get(history, "/api/reports/proactive")
    rows = _csv_rows(history, "/api/reports/proactive")
    assert [r["client"] for r in rows] == [*(r["client"] for r in proactive["rows"]), "(all)"]
    for row, expected in zip(rows, [*proactive["rows"], proactive["total"]], strict=True):
        assert int(row["monitoring"]) == expected["monitoring"]
        assert int(row["resolved_unreported"]) == expected["resolved_unreported"]
        assert (float(row["proactive_share"]) if row["proactive_share"] else None) == expected[
            "proactive_share"
        ]

    sla = _get(history, "/api/reports/sla")
    rows = _csv_rows(history, "/api/reports/sla")
    assert [(r["client"], r["priority"], int(r["count"])) for r in rows] == [
        (r["client"], r["priority"], r["count"]) for r in sla["rows"]
    ]
    for row, expected in zip(rows, sla["rows"], strict=True):
        median = expected["time_to_acknowledge"]["median_seconds"]
        assert (float(row["ack_median_seconds"]) if row["ack_median_seconds"] else None) == median
        assert int(row["ack_breaches"]) == expected["breaches"]["acknowledge"]


def test_a_report_refuses_an_unknown_format_and_an_empty_period(history: Desk) -> None:
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for path in ("/api/reports/noise", "/api/reports/proactive", "/api/reports/sla"):
        wrong = history.client.get(path, query_string={"format": "xlsx"}, headers=auth)
        # the error body is {"error": ..., "detail": {"code", "field"}} since the people-and-access branch
        assert wrong.status_code == 400 and "format" in wrong.get_json()["error"]
        empty = history.client.get(path, query_string={"from": DAY["to"], "to": DAY["from"]}, headers=auth)
        assert empty.status_code == 400
        assert history.client.get(path).status_code == 401


def test_bridge_reports_prints_the_same_figures_on_the_command_line(history: Desk) -> None:
    env = {
        "BRIDGE_DATABASE_URL": history.runtime.settings.database_url,
        "BRIDGE_RULES_DIR": str(history.rules_dir),
    }
    period = ["--from", "2026-11-24T00:00:00", "--to", "2026-11-25T00:00:00"]  # rota's zone: Moscow

    def run(*args: str) -> str:
        result = CliRunner().invoke(main, ["reports", *args, *period], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    assert json.loads(run("noise", "--json")) == _get(history, "/api/reports/noise")
    assert json.loads(run("proactive", "--json")) == _get(history, "/api/reports/proactive")
    csv_text = history.client.get(
        "/api/reports/noise",
        query_string={**DAY, "format": "csv"},
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    ).get_data(as_text=True)
    assert run("noise", "--csv").splitlines() == csv_text.splitlines()
    text = run("noise")
    assert "Alerts: 11 received = 4 in incidents + 0 heartbeats + 7 that paged nobody" in text
    assert "  orlov" in text.split("Time to acknowledge")[1]
    proactive = run("proactive")
    assert "retail" in proactive and "25%" in proactive.splitlines()[-1]
    sla_csv = run("sla", "--csv")
    assert sla_csv.splitlines()[0].startswith("client,priority,count,")
    both = CliRunner().invoke(main, ["reports", "noise", "--json", "--csv"], env=env)
    assert both.exit_code == 2 and "choose one" in both.output
