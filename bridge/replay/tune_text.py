"""The text report of `bridge rules tune`: per rule and alert name, how long episodes last (a
bar chart) and what each candidate hold would have done; the weekly patterns; the patch."""

from __future__ import annotations

from datetime import datetime, timedelta

from bridge.replay.tune import FLAPPING_CHANGES, FLAPPING_WINDOW, NameReport, TuneReport, ordinal
from bridge.timeutil import format_duration

BAR = 30
BUCKETS = (
    ("< 1m", 60),
    ("1-2m", 120),
    ("2-5m", 300),
    ("5-10m", 600),
    ("10-15m", 900),
    ("15-30m", 1800),
    ("30m-1h", 3600),
    ("> 1h", float("inf")),
)


def render(report: TuneReport, limit: int) -> str:
    out = [
        f"read {report.deliveries:,} deliveries, {report.alerts:,} alerts, "
        f"{_when(report.first_at)} .. {_when(report.last_at)} UTC; rules version {report.rules_version}",
        "",
    ]
    out.append("per rule (episodes that reach it: none a maintenance window holds):")
    out.append(f"  {'rule':<32}{'names':>6}{'episodes':>10}{'p50':>9}{'p90':>9}{'max':>10}")
    for rule, count, episodes, p50, p90, top in report.by_rule():
        out.append(f"  {rule:<32}{count:>6}{episodes:>10,}{_w(p50):>9}{_w(p90):>9}{_w(top):>10}")
    out.append("")
    shown = report.names[:limit]
    out.append(f"per rule and alert name ({len(shown)} of {len(report.names)}, most episodes first):")
    for n in shown:
        out += ["", *_name(n)]
    out.append("")
    if report.defaults:
        out.append("names no rule takes (they get the defaults: an incident at once):")
        for name, episodes, hosts in report.defaults:
            out.append(f"  {name:<48} {episodes:>6} episodes on {hosts} hosts")
    else:
        out.append("names no rule takes: none")
    out.append("")
    if report.weeks < 2:
        out.append(f"weekly patterns: none looked for ({report.weeks} week of history; two or more needed)")
    elif not report.patterns:
        out.append(f"weekly patterns: none in {report.weeks} weeks")
    else:
        out.append(f"weekly patterns ({report.weeks} weeks, times in {report.timezone}):")
        for p in report.patterns:
            alerted = ", ".join(p.names[:4]) + (", ..." if len(p.names) > 4 else "")
            out.append(
                f"  {alerted} on {p.host_match.removeprefix('=~').removeprefix('=')} ({len(p.hosts)} hosts) "
                f"{p.when()}, {p.weeks_seen} weeks of {p.weeks}: a maintenance window?"
            )
    out += ["", "proposed rules patch:", "", report.patch]
    return "\n".join(out)


def _name(n: NameReport) -> list[str]:
    takes = "no rule: the defaults" if n.defaults else f"rule {n.rule}"
    today = []
    if n.current_hold:
        today.append(f"for {format_duration(n.current_hold)}")
    if n.threshold:
        today.append(f"threshold {n.threshold}")
    lines = [
        f"{n.name}  ({takes}{'; ' + ', '.join(today) if today else ''})",
        f"  {n.episodes:,} episodes on {n.hosts} hosts; length p50 {format_duration(n.p50)}, "
        f"p90 {format_duration(n.p90)}, max {format_duration(n.longest)}",
    ]
    counts = [0] * len(BUCKETS)
    for seconds in n.lengths:
        counts[next(i for i, (_, top) in enumerate(BUCKETS) if seconds < top)] += 1
    widest = max(counts) or 1
    for (label, _), count in zip(BUCKETS, counts, strict=True):
        if count:
            lines.append(f"    {label:>7} {'█' * max(1, round(BAR * count / widest)):<{BAR}} {count:,}")
    lines.append("  with for:  quiet (no incident)              opening later")
    for h in n.holds:
        share = h.suppressed / n.episodes if n.episodes else 0
        mark = "  <- proposed" if n.proposed_hold == h.hold else ""
        later = f"{h.kept:,} open {format_duration(h.later)} later" if h.later else f"{h.kept:,} as today"
        lines.append(
            f"    {format_duration(h.hold):>5} {'█' * round(20 * share):<20} {h.suppressed:>6,} "
            f"({round(100 * share):>3}%)  {later}{mark}"
        )
    lines.append(
        "  threshold: starts on one host within " + "".join(f"{_w(r.window):>6}" for r in n.recurrences)
    )
    lines.append(f"    {'most':<34}" + "".join(f"{r.most:>6}" for r in n.recurrences))
    for k in sorted(n.recurrences[0].reaching) if n.recurrences else ():
        if k > 1:
            lines.append(
                f"    {'episodes that are the ' + ordinal(k) + ' or later':<34}"
                + "".join(f"{r.reaching[k]:>6}" for r in n.recurrences)
            )
    if n.uncounted_why:
        lines.append(f"    ! {n.uncounted_why}")
    lines.append(
        f"  flapping: at most {n.flapping_most} changes within {format_duration(FLAPPING_WINDOW)} on one host"
        + (f", {n.flapping_hosts} hosts with {FLAPPING_CHANGES}+" if n.flapping_hosts else "")
    )
    return lines


def _w(window: timedelta) -> str:
    return format_duration(window)


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M}" if at else "-"
