"""202 means bridge will process it: through the HTTP app on SQLite and PostgreSQL, every bad body
is answered 400 naming the field, and every body answered 2xx is then processed by the worker.

The fuzz test posts mutations of every capture (tests/fixtures) and checks both halves, with a good
delivery after each one that must be processed too. `BRIDGE_FUZZ_EXAMPLES` sets the examples per
database (the benchmark machine's long mode); `BRIDGE_FUZZ_REPORT` names a JSON file that gets the
status-code histogram of each database's run (it is printed too: `pytest -s`).
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from sqlalchemy import String, func, select, text
from werkzeug.test import TestResponse

from bridge.alert import (
    DELIVERY_KEY_MAX,
    FINGERPRINT_MAX,
    HOST_MAX,
    NAME_MAX,
    SOURCE_REF_MAX,
    TEXT_MAX,
    Source,
)
from bridge.clock import FakeClock
from bridge.db.models import AlertRow, Base, Incident, Intake, IntakeStatus
from bridge.services.state_store import CLIENT_MAX, TITLE_MAX
from bridge.sources.zabbix import INSTANCE_LIMIT
from bridge.web.app import create_app
from bridge.worker.runtime import Runtime
from tests.support.api import Api
from tests.support.app import ADMIN_TOKEN, build_runtime, make_settings, write_rules
from tests.support.fuzz import FUZZ_EXAMPLES, FUZZ_REPORT, Body, bodies
from tests.support.paths import REPO_RULES
from tests.support.payloads import am_alert, am_notification, body

FUZZ_PER_DATABASE = FUZZ_EXAMPLES or 800


def statuses(runtime: Runtime) -> dict[str, int]:
    with runtime.services.sessions() as session:
        rows = session.execute(select(Intake.status, func.count()).group_by(Intake.status))
        return {str(status): count for status, count in rows}


def post(api: Api, source: Source, raw: bytes | dict[str, Any]) -> TestResponse:
    return api.alertmanager(raw) if source is Source.ALERTMANAGER else api.zabbix(raw)


# -- every class of bad input: 400 naming the field, nothing stored ----------------------------------

DEEP = b"[" * 10_000 + b"]" * 10_000


def _am(mutate: Any) -> bytes:
    payload = body("alertmanager/03-firing-grouped.json")
    mutate(payload["alerts"][0])
    return json.dumps(payload).encode()


def _zbx(mutate: Any) -> bytes:
    payload = body("zabbix/01-problem.json")
    mutate(payload)
    return json.dumps(payload).encode()


REFUSED = [
    ("nesting 10,000 deep", Source.ALERTMANAGER, DEEP, "body"),
    ("a 5,000-digit integer", Source.ZABBIX, b'{"schema": ' + b"9" * 5000 + b"}", "body"),
    ("1e309", Source.ALERTMANAGER, b'{"version": "4", "alerts": [], "x": 1e309}', "x"),
    (
        "NUL in a label",
        Source.ALERTMANAGER,
        _am(lambda a: a["labels"].update(job="a\x00")),
        "alerts[0].labels.job",
    ),
    ("NUL in Zabbix host", Source.ZABBIX, _zbx(lambda p: p["host"].update(host="db\x00")), "host.host"),
    (
        "lone surrogate in a label",
        Source.ALERTMANAGER,
        _am(lambda a: a["labels"].update(team="\ud800")),
        "alerts[0].labels.team",
    ),
    (
        "lone surrogate in the fingerprint",
        Source.ALERTMANAGER,
        _am(lambda a: a.update(fingerprint="\udc00")),
        "alerts[0].fingerprint",
    ),
    (
        "lone surrogate in Zabbix tags",
        Source.ZABBIX,
        _zbx(lambda p: p["event"].update(tags=[{"tag": "\ud800", "value": "x"}])),
        "event.tags[0].tag",
    ),
    (
        "a fingerprint too long",
        Source.ALERTMANAGER,
        _am(lambda a: a.update(fingerprint="f" * 201)),
        "alerts[0].fingerprint",
    ),
    (
        "time past year 9999 in UTC",
        Source.ALERTMANAGER,
        _am(lambda a: a.update(startsAt="9999-12-31T23:00:00-05:00")),
        "alerts[0].startsAt",
    ),
    (
        "time before year 1 in UTC",
        Source.ALERTMANAGER,
        _am(lambda a: a.update(endsAt="0001-01-01T00:00:00+05:00")),
        "alerts[0].endsAt",
    ),
    (
        "a NUL in a time",
        Source.ALERTMANAGER,
        _am(lambda a: a.update(startsAt="2026-12-04T10:00:00\x00Z")),
        "alerts[0].startsAt",
    ),
    (
        "an ISO week date",
        Source.ALERTMANAGER,
        _am(lambda a: a.update(startsAt="2026-W49-5T10:00:00Z")),
        "alerts[0].startsAt",
    ),
    (
        "ISO basic format",
        Source.ALERTMANAGER,
        _am(lambda a: a.update(startsAt="20261204T100000Z")),
        "alerts[0].startsAt",
    ),
    (
        "Zabbix time out of range",
        Source.ZABBIX,
        _zbx(lambda p: p["event"].update(timestamp="99999999999")),
        "event.timestamp",
    ),
    ("nseverity ²", Source.ZABBIX, _zbx(lambda p: p["event"].update(nseverity="\u00b2")), "event.nseverity"),
    (
        "Arabic-Indic event id",
        Source.ZABBIX,
        _zbx(lambda p: p["event"].update(id="\u0661\u0662")),
        "event.id",
    ),
    ("event id beyond BIGINT", Source.ZABBIX, _zbx(lambda p: p["event"].update(id=str(2**63))), "event.id"),
    (
        "a 250-character instance",
        Source.ZABBIX,
        _zbx(lambda p: p["zabbix"].update(instance="i" * 250)),
        "zabbix.instance",
    ),
]


@pytest.mark.parametrize(("what", "source", "raw", "field"), REFUSED, ids=[r[0] for r in REFUSED])
def test_bad_bodies_are_400_naming_the_field_and_store_nothing(
    api: Api, runtime: Runtime, what: str, source: Source, raw: bytes, field: str
) -> None:
    response = post(api, source, raw)
    assert response.status_code == 400, (what, response.get_data()[:300])
    error = response.get_json()["error"]
    assert error.startswith(f"{field}: "), error
    assert len(error) < 300
    assert statuses(runtime) == {}


def test_a_250_character_zabbix_instance_is_refused_alike_on_both_databases(
    api: Api, runtime: Runtime
) -> None:
    payload = body("zabbix/01-problem.json")
    payload["zabbix"]["instance"] = "i" * 250
    response = api.zabbix(payload)
    assert (response.status_code, response.get_json()) == (
        400,
        {
            "error": f"zabbix.instance: longer than {INSTANCE_LIMIT} characters",
            "detail": {"code": "bad_request", "field": "zabbix.instance"},
        },
    )
    payload["zabbix"]["instance"] = "i" * INSTANCE_LIMIT  # the longest taken: stored and decided
    payload["event"]["id"] = str(2**63 - 1)
    assert api.zabbix(payload).status_code == 202
    api.drain()
    assert statuses(runtime) == {"done": 1}


def test_long_values_are_cut_with_a_marker_stored_and_processed(api: Api, runtime: Runtime) -> None:
    alert = am_alert(
        "N" * 700,
        starts_at="2026-11-22T06:51:00Z",
        instance="h" * 300 + ":9100",
        customer="c" * 300,
    )
    alert["annotations"]["description"] = "d" * 1_048_576  # a 1 MB annotation
    response = api.alertmanager(am_notification(alert))
    assert response.status_code == 202
    api.drain()
    assert statuses(runtime) == {"done": 1}
    with runtime.services.sessions() as session:
        row = session.scalars(select(AlertRow)).one()
        assert (len(row.name), len(row.host)) == (NAME_MAX, HOST_MAX)
        assert row.name.endswith("…[truncated]") and row.host.endswith("…[truncated]")
        assert len(row.annotations["description"]) == TEXT_MAX
        assert row.labels["customer"] == "c" * 300
        incident = session.scalars(select(Incident)).one()
    assert len(incident.title) == TITLE_MAX and incident.title.endswith("…[truncated]")  # name on host, cut


def test_a_client_label_longer_than_the_column_is_cut(
    database_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    rules = "rules:\n  - name: all\n    match: {}\n    client: {label: customer}\n"
    runtime = build_runtime(make_settings(database_url, write_rules(tmp_path / "rules", rules)), clock)
    try:
        api = Api(create_app(runtime=runtime).test_client(), runtime)
        alert = am_alert("Down", starts_at="2026-11-22T06:51:00Z", instance="web-01:9100", customer="c" * 300)
        assert api.alertmanager(am_notification(alert)).status_code == 202
        api.drain()
        assert statuses(runtime) == {"done": 1}
        with runtime.services.sessions() as session:
            client = session.scalars(select(Incident.client)).one()
    finally:
        runtime.close()
    assert client is not None and len(client) == CLIENT_MAX and client.endswith("…[truncated]")


def test_the_columns_are_as_wide_as_the_bounds_the_door_keeps(database_url: str, runtime: Runtime) -> None:
    """The models declare these columns with bridge.alert's bounds; on PostgreSQL the migrated
    schema must say the same (a migration that disagrees would let a 202 fail later)."""
    expected = {
        ("intake", "dedup_key"): DELIVERY_KEY_MAX,
        ("alerts", "fingerprint"): FINGERPRINT_MAX,
        ("alerts", "source_ref"): SOURCE_REF_MAX,
        ("alerts", "name"): NAME_MAX,
        ("alerts", "host"): HOST_MAX,
        ("incident_alerts", "fingerprint"): FINGERPRINT_MAX,
        ("timeline", "fingerprint"): FINGERPRINT_MAX,
        ("alertmanager_silences", "fingerprint"): FINGERPRINT_MAX,
        ("incidents", "host"): HOST_MAX,
        ("incidents", "client"): CLIENT_MAX,
    }
    for (table, column), width in expected.items():
        declared = Base.metadata.tables[table].c[column].type
        assert isinstance(declared, String) and declared.length == width, (table, column)
    if not database_url.startswith("postgresql"):
        return
    with runtime.services.sessions() as session:
        for (table, column), width in expected.items():
            migrated = session.scalar(
                text(
                    "SELECT character_maximum_length FROM information_schema.columns "
                    "WHERE table_name = :table AND column_name = :column"
                ),
                {"table": table, "column": column},
            )
            assert migrated == width, (table, column, migrated)


# -- the fuzz test --------------------------------------------------------------------------------


def _read_back(api: Api) -> None:
    """What the worker made of the fuzzer's deliveries reads back: every alert through the API,
    every incident it opened through the API and its HTML page."""
    offset = 0
    while items := api.get("/api/alerts", limit=500, offset=offset)["items"]:
        offset += len(items)
    assert offset > 0
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    read = 0
    for offset in range(0, api.get("/api/incidents", limit=1)["total"], 500):
        for incident in api.get("/api/incidents", limit=500, offset=offset)["items"]:
            if incident["title"].startswith("FuzzCanary"):
                continue
            api.get(f"/api/incidents/{incident['number']}")
            page = api.client.get(f"/incidents/{incident['number']}", headers=headers)
            assert page.status_code == 200, incident
            read += 1
    assert read > 0  # the fuzzer's deliveries opened incidents


def _report(backend: str, histogram: Counter[str], stored: dict[str, int]) -> None:
    summary = {
        "examples": sum(v for k, v in histogram.items() if k.isdigit()),
        "answers": dict(sorted(histogram.items())),
    }
    summary["intake"] = stored
    print(f"\nfuzz {backend}: {json.dumps(summary)}")
    if FUZZ_REPORT:
        report_file = Path(FUZZ_REPORT)
        everything = json.loads(report_file.read_text()) if report_file.exists() else {}
        everything[backend] = summary
        report_file.write_text(json.dumps(everything, indent=2) + "\n")


@pytest.mark.timeout(max(120, FUZZ_PER_DATABASE // 4))
def test_fuzz_every_answer_is_2xx_or_4xx_and_every_2xx_is_processed(
    clock: FakeClock, database_url: str, tmp_path: Path
) -> None:
    """On the example rules and rota (grouping, inhibition, maintenance, clients, escalation and
    notifications all run on what the fuzzer sends)."""
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    for name in ("rules.yaml", "rota.yaml"):
        shutil.copy(REPO_RULES / name, rules_dir / name)
    runtime = build_runtime(make_settings(database_url, rules_dir), clock)
    try:
        histogram, stored = _fuzz(Api(create_app(runtime=runtime).test_client(), runtime), runtime, clock)
    finally:
        runtime.close()
    _report(backend, histogram, stored)
    assert all(key.startswith(("2", "4")) for key in histogram)  # never a 5xx
    assert histogram["2xx alertmanager"] and histogram["2xx zabbix"]  # the fuzzer reaches the worker
    assert histogram["400"]  # and the door refuses some
    assert stored == {"done": stored.get("done", 0)}  # every 2xx processed, none parked


def _fuzz(api: Api, runtime: Runtime, clock: FakeClock) -> tuple[Counter[str], dict[str, int]]:
    """Post the fuzzer's bodies, each followed by a good delivery and the worker; the answers'
    histogram and the intake's statuses at the end (after reading everything back)."""
    histogram: Counter[str] = Counter()
    canaries = [0]

    @settings(
        max_examples=FUZZ_PER_DATABASE,
        deadline=None,
        database=None,  # the same examples on both databases, run after run
        derandomize=not FUZZ_EXAMPLES,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(bodies())
    def example(case: Body) -> None:
        clock.advance(timedelta(seconds=30))  # timers come due along the way: the engine runs them too
        response = post(api, case.source, case.raw)
        status = response.status_code
        histogram[str(status)] += 1
        assert 200 <= status < 300 or 400 <= status < 500, (status, response.get_data()[:300], case.made)
        if 200 <= status < 300:
            histogram["2xx " + case.source.value] += 1
        canaries[0] += 1
        canary = am_alert(
            f"FuzzCanary{canaries[0]}", starts_at=clock.now().isoformat(), instance="canary:9100"
        )
        assert api.alertmanager(am_notification(canary)).status_code == 202
        api.drain()
        assert set(statuses(runtime)) <= {IntakeStatus.DONE.value}, (statuses(runtime), case.made)

    example()
    _read_back(api)
    return histogram, statuses(runtime)
