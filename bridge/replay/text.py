"""The text report of `bridge rules replay`: the candidate rules side by side with what happened
(or with another rules directory)."""

from __future__ import annotations

from datetime import datetime, timedelta

from bridge.replay.replayer import SUPPRESSION_KINDS, Summary
from bridge.timeutil import format_duration


def render(candidate: Summary, baseline: Summary | None, limit: int) -> str:
    out: list[str] = []
    span = f"{_when(candidate.first_at)} .. {_when(candidate.last_at)} UTC"
    out.append(f"replayed {candidate.deliveries:,} deliveries, {candidate.alerts:,} alerts, {span}")
    if candidate.unreadable:
        out.append(f"  {candidate.unreadable:,} deliveries no longer parse: skipped")
    if candidate.redeliveries:
        out.append(f"  {candidate.redeliveries:,} redeliveries skipped, as the intake refuses them")
    columns = [candidate] + ([baseline] if baseline is not None else [])
    width = max(12, *(len(c.label) for c in columns))
    header = "".join(f"{c.label:>{width + 2}}" for c in columns)

    def row(label: str, values: list[str]) -> None:
        out.append(f"  {label:<26}" + "".join(f"{v:>{width + 2}}" for v in values))

    out.append("")
    out.append(f"  {'':<26}{header}")
    row("incidents opened", [f"{c.incidents_opened:,}" for c in columns])
    row("alerts suppressed", [f"{sum(c.suppressed.values()):,}" for c in columns])
    for kind in SUPPRESSION_KINDS:
        if any(c.suppressed.get(kind) for c in columns):
            row(f"  {kind}", [f"{c.suppressed.get(kind, 0):,}" for c in columns])
    for name, label in (
        ("median", "time to incident, median"),
        ("p90", "  90th percentile"),
        ("max", "  max"),
    ):
        row(label, [_seconds(c.delays()[name]) for c in columns])
    if baseline is not None and not baseline.exact_suppressed:
        out.append(f"  ({baseline.label}: suppressions counted from each alert's last state)")

    out.append("")
    out.append(
        f"  {'per rule':<26}{'alerts':>9}{'incidents':>11}{'suppressed':>12}"
        + (f"{'incidents':>11}{'suppressed':>12}  ({baseline.label})" if baseline else "")
    )
    names = sorted(set(candidate.rules) | (set(baseline.rules) if baseline else set()))
    for name in names:
        mine = candidate.rules.get(name)
        line = f"  {name:<26}{_n(mine.alerts if mine else 0):>9}{_n(mine.incidents if mine else 0):>11}"
        line += f"{_n(mine.suppressed if mine else 0):>12}"
        if baseline is not None:
            theirs = baseline.rules.get(name)
            line += f"{_n(theirs.incidents if theirs else 0):>11}{_n(theirs.suppressed if theirs else 0):>12}"
        out.append(line)

    out.append("")
    shown = candidate.incidents[:limit]
    out.append(f"  incidents ({candidate.label}), first {len(shown)} of {candidate.incidents_opened:,}:")
    for incident in shown:
        resolved = _when(incident.resolved_at) if incident.resolved_at else "still open"
        flags = " flapping" if incident.flapping else ""
        flags += f" reopened x{incident.reopen_count}" if incident.reopen_count else ""
        out.append(
            f"  #{incident.number:<5} {incident.priority} {incident.rule:<16} {incident.title[:44]:<44} "
            f"first {_when(incident.first_alert_at)} +{format_duration(incident.delay)} -> "
            f"resolved {resolved}{flags}"
        )
    return "\n".join(out)


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M}" if at else "-"


def _seconds(value: float | None) -> str:
    return "-" if value is None else format_duration(timedelta(seconds=round(value)))


def _n(value: int) -> str:
    return f"{value:,}"
