"""The noise report and the proactive share as JSON, and the SLA, noise and proactive reports as
CSV: what the API (`?format=csv`), the CLI (`--json`, `--csv`) and the console show and export.

CSV shapes (a header row, comma-separated, UTF-8, times ISO 8601 with offset, durations in seconds):
- SLA: one row per client and priority: `client, priority, count, acknowledged, resolved,
  ack_median_seconds, ack_p90_seconds, resolve_median_seconds, resolve_p90_seconds,
  ack_breaches, resolve_breaches` (an empty cell: no value).
- proactive: one row per client and a last row `(all)`: `client, monitoring, reported_by_people,
  resolved_unreported, reported, open_unreported, monitoring_share, proactive_share`.
- noise: long form, one figure a row: `section, key, metric, value` (e.g. `sources, zabbix,
  deliveries, 12`; `suppressed_by_reason, maintenance, alerts, 40`; `ack_times, orlov,
  median_seconds, 300`; `night_pages, volkov, 2026-11-27, 3`), so one table holds every section
  and a spreadsheet pivots it.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from bridge.services.noise import Counted, NoiseReport, Noisy
from bridge.services.proactive import ProactiveReport, ProactiveRow
from bridge.services.reports import SlaReport
from bridge.timeutil import iso

SLA_COLUMNS = (
    "client",
    "priority",
    "count",
    "acknowledged",
    "resolved",
    "ack_median_seconds",
    "ack_p90_seconds",
    "resolve_median_seconds",
    "resolve_p90_seconds",
    "ack_breaches",
    "resolve_breaches",
)
PROACTIVE_COLUMNS = (
    "client",
    "monitoring",
    "reported_by_people",
    "resolved_unreported",
    "reported",
    "open_unreported",
    "monitoring_share",
    "proactive_share",
)
NOISE_COLUMNS = ("section", "key", "metric", "value")


# -- JSON -----------------------------------------------------------------------------------------


def noise_json(report: NoiseReport) -> dict[str, Any]:
    return {
        "from": iso(report.start),
        "to": iso(report.end),
        "client": report.client,
        "alerts_scope": report.alerts_scope,
        "sources": [
            {"source": s.source, "deliveries": s.deliveries, "events": s.events, "alerts": s.alerts}
            for s in report.sources
        ],
        "alerts": {
            "received": report.alerts,
            "in_incidents": report.in_incidents,
            "heartbeats": report.heartbeats,
            "suppressed": report.suppressed,
        },
        "suppressed_by_reason": _counts(report.suppressed_by_reason),
        "suppressed_by_rule": _counts(report.suppressed_by_rule),
        "incidents": {
            "opened": report.incidents_opened,
            "by_rule": _counts(report.opened_by_rule),
            "by_priority": _counts(report.opened_by_priority),
        },
        "noisiest_names": [_noisy(n) for n in report.noisiest_names],
        "noisiest_hosts": [_noisy(n) for n in report.noisiest_hosts],
        "time_to_acknowledge": [
            {
                "person": a.person,
                "count": a.count,
                "median_seconds": a.median_seconds,
                "p90_seconds": a.p90_seconds,
            }
            for a in report.ack_times
        ],
        "night": {"hours": report.night, "timezone": report.timezone, "nights": report.nights},
        "pages_at_night": [
            {
                "person": p.person,
                "pages": p.pages,
                "nights_paged": p.nights_paged,
                "most_in_a_night": p.most_in_a_night,
                "per_night": p.per_night,
                "by_night": [{"night": day.isoformat(), "pages": n} for day, n in p.by_night],
            }
            for p in report.night_pages
        ],
    }


def proactive_json(report: ProactiveReport) -> dict[str, Any]:
    return {
        "from": iso(report.start),
        "to": iso(report.end),
        "client": report.client,
        "rows": [proactive_row_json(r) for r in report.rows],
        "total": proactive_row_json(report.total),
    }


def proactive_row_json(row: ProactiveRow) -> dict[str, Any]:
    return {
        "client": row.client,
        "monitoring": row.monitoring,
        "reported_by_people": row.reported_by_people,
        "resolved_unreported": row.resolved_unreported,
        "reported": row.reported,
        "open_unreported": row.open_unreported,
        "monitoring_share": row.monitoring_share,
        "proactive_share": row.proactive_share,
        "resolved_unreported_incidents": row.numbers_resolved_unreported,
    }


def _counts(items: Iterable[Counted]) -> list[dict[str, Any]]:
    return [{"key": c.key, "count": c.count} for c in items]


def _noisy(item: Noisy) -> dict[str, Any]:
    return {
        "key": item.key,
        "alerts": item.alerts,
        "occurrences": item.occurrences,
        "in_incidents": item.in_incidents,
    }


# -- CSV ------------------------------------------------------------------------------------------


def sla_csv(report: SlaReport) -> str:
    rows = (
        (
            r.client,
            r.priority.value,
            r.count,
            r.acknowledged,
            r.resolved,
            r.ack_median,
            r.ack_p90,
            r.resolve_median,
            r.resolve_p90,
            r.ack_breaches,
            r.resolve_breaches,
        )
        for r in report.rows
    )
    return _csv(SLA_COLUMNS, rows)


def proactive_csv(report: ProactiveReport) -> str:
    rows = (
        (
            r.client,
            r.monitoring,
            r.reported_by_people,
            r.resolved_unreported,
            r.reported,
            r.open_unreported,
            r.monitoring_share,
            r.proactive_share,
        )
        for r in [*report.rows, report.total]
    )
    return _csv(PROACTIVE_COLUMNS, rows)


def noise_csv(report: NoiseReport) -> str:
    rows: list[tuple[Any, ...]] = [
        ("period", "from", "time", iso(report.start)),
        ("period", "to", "time", iso(report.end)),
        ("period", "client", "name", report.client or ""),
    ]
    for s in report.sources:
        rows += [
            ("sources", s.source, "deliveries", s.deliveries),
            ("sources", s.source, "events", s.events),
            ("sources", s.source, "alerts", s.alerts),
        ]
    rows += [
        ("alerts", "received", "alerts", report.alerts),
        ("alerts", "in_incidents", "alerts", report.in_incidents),
        ("alerts", "heartbeats", "alerts", report.heartbeats),
        ("alerts", "suppressed", "alerts", report.suppressed),
    ]
    rows += [("suppressed_by_reason", c.key, "alerts", c.count) for c in report.suppressed_by_reason]
    rows += [("suppressed_by_rule", c.key, "alerts", c.count) for c in report.suppressed_by_rule]
    rows.append(("incidents", "opened", "incidents", report.incidents_opened))
    rows += [("opened_by_rule", c.key, "incidents", c.count) for c in report.opened_by_rule]
    rows += [("opened_by_priority", c.key, "incidents", c.count) for c in report.opened_by_priority]
    for section, items in (
        ("noisiest_names", report.noisiest_names),
        ("noisiest_hosts", report.noisiest_hosts),
    ):
        for n in items:
            rows += [
                (section, n.key, "alerts", n.alerts),
                (section, n.key, "occurrences", n.occurrences),
                (section, n.key, "in_incidents", n.in_incidents),
            ]
    for a in report.ack_times:
        rows += [
            ("ack_times", a.person, "count", a.count),
            ("ack_times", a.person, "median_seconds", a.median_seconds),
            ("ack_times", a.person, "p90_seconds", a.p90_seconds),
        ]
    rows.append(("night", report.night, "nights", report.nights))
    for p in report.night_pages:
        rows += [
            ("night_pages", p.person, "pages", p.pages),
            ("night_pages", p.person, "nights_paged", p.nights_paged),
            ("night_pages", p.person, "most_in_a_night", p.most_in_a_night),
            ("night_pages", p.person, "per_night", p.per_night),
        ]
        rows += [("night_pages", p.person, day.isoformat(), n) for day, n in p.by_night]
    return _csv(NOISE_COLUMNS, rows)


def _csv(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if value is None else _cell(value) for value in row])
    return out.getvalue()


def _cell(value: Any) -> str:
    """A cell; a text a spreadsheet would run as a formula (=, +, -, @ first) is quoted with '."""
    if isinstance(value, float):
        return repr(round(value, 3))
    text = str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text
