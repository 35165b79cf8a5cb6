"""Properties of the noise report and the proactive share over random histories sent through the
real pipeline (Alertmanager webhooks into the app, the worker drained, SQLite): whatever happened,
the figures add up, and the CSV export holds the same figures as the JSON."""

from __future__ import annotations

import csv
import io
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.clock import FakeClock
from bridge.services.incidents import NewIncident
from bridge.web.app import create_app
from bridge.web.report_format import noise_csv, proactive_csv
from tests.e2e.test_reports import RULES
from tests.support.app import AM_TOKEN, build_runtime, make_settings, write_rules
from tests.support.payloads import am_alert, am_notification

START = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)
NAMES = ["HostDown", "DiskFull", "PingLoss", "Chatter", "CpuHigh", "Backup"]
HOSTS = ["web-01", "db-03", "app-02", "sw-01"]
SEVERITIES = ["critical", "warning", "info"]
CLIENTS = ["retail", "bank", None]

EVENTS = st.lists(
    st.tuples(
        st.integers(0, 240),  # minutes after the start
        st.sampled_from(NAMES),
        st.sampled_from(HOSTS),
        st.sampled_from(SEVERITIES),
        st.sampled_from(CLIENTS),
        st.sampled_from(["fire", "resolve", "report"]),  # report: a person opens an incident by hand
    ),
    max_size=25,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=EVENTS)
def test_whatever_happened_the_noise_figures_and_the_proactive_share_add_up(
    events: list[tuple[int, str, str, str, str | None, str]], sqlite_template: Path
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        shutil.copy(sqlite_template, directory / "bridge.db")
        settings_ = make_settings(
            f"sqlite:///{directory / 'bridge.db'}", write_rules(directory / "rules", RULES)
        )
        clock = FakeClock(START)
        runtime = build_runtime(settings_, clock)
        try:
            client = create_app(runtime=runtime).test_client()
            for minute, name, host, severity, customer, what in sorted(events):
                clock.set(START + timedelta(minutes=minute))
                if what == "report":
                    runtime.services.incidents.open(
                        NewIncident(title=f"{name} says a caller", client=customer), "orlov"
                    )
                else:
                    labels = {"customer": customer} if customer else {}
                    status = "firing" if what == "fire" else "resolved"
                    alert = am_alert(
                        name,
                        status=status,
                        starts_at=START.isoformat(),
                        ends_at=clock.now().isoformat() if status == "resolved" else None,
                        host=host,
                        severity=severity,
                        **labels,
                    )
                    response = client.post(
                        "/webhooks/alertmanager",
                        json=am_notification(alert),
                        headers={"Authorization": f"Bearer {AM_TOKEN}"},
                    )
                    assert response.status_code == 202
                runtime.runner.drain()
            clock.set(START + timedelta(hours=6))
            runtime.runner.drain()
            reports = runtime.services.reports
            noise = reports.noise(START, START + timedelta(days=1))
            proactive = reports.proactive(START, START + timedelta(days=1))
        finally:
            runtime.close()

    assert noise.alerts == noise.in_incidents + noise.heartbeats + noise.suppressed
    assert noise.alerts == sum(s.alerts for s in noise.sources)
    assert sum(c.count for c in noise.suppressed_by_reason) == noise.suppressed
    assert sum(c.count for c in noise.suppressed_by_rule) == noise.suppressed
    assert sum(c.count for c in noise.opened_by_rule) == noise.incidents_opened
    assert sum(c.count for c in noise.opened_by_priority) == noise.incidents_opened
    # A delivery whose body was delivered before is a re-delivery: taken (202) and stored once.
    bodies = {
        (n, h, sev, c, what, m if what == "resolve" else None)
        for m, n, h, sev, c, what in events
        if what != "report"
    }
    assert sum(s.events for s in noise.sources) == len(bodies)
    assert sum(n.alerts for n in noise.noisiest_hosts) == noise.alerts  # fewer hosts than the top 20
    assert sum(n.in_incidents for n in noise.noisiest_names) == noise.in_incidents
    reported = sum(1 for e in events if e[5] == "report")
    total = proactive.total
    assert total.reported_by_people == reported
    assert total.monitoring + total.reported_by_people == noise.incidents_opened
    assert total.monitoring == total.resolved_unreported + total.reported + total.open_unreported
    assert len(total.numbers_resolved_unreported) == total.resolved_unreported
    assert sum(r.monitoring for r in proactive.rows) == total.monitoring

    cells = {
        (r["section"], r["key"], r["metric"]): r["value"]
        for r in csv.DictReader(io.StringIO(noise_csv(noise)))
    }
    assert int(cells[("alerts", "received", "alerts")]) == noise.alerts
    for counted in noise.suppressed_by_reason:
        assert int(cells[("suppressed_by_reason", counted.key, "alerts")]) == counted.count
    rows: list[dict[str, Any]] = list(csv.DictReader(io.StringIO(proactive_csv(proactive))))
    assert [int(r["monitoring"]) for r in rows] == [r.monitoring for r in [*proactive.rows, total]]
