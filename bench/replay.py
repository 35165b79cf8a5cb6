"""Replay speed: stored alerts per second through `bridge rules replay`'s path.

Workload: the generated noisy week of bench/week.py (Alertmanager and Zabbix, one alert per
delivery as contrib/alertmanager groups them) with enough hosts for ALERTS alert events, stored
in a fresh SQLite intake log, each row with the host share the intake records; then the replay
reads the log back in pages, parses every delivery as the worker does and decides it with the
example rules in simulated time, on as many processes as `bridge rules replay` uses here (one
share of the hosts each; the example rules' storms keep the deciding on one, with a second
process reading and parsing; `--jobs 1` for one process). Setup (generating and storing) is
not timed.

    python -m bench.replay [--alerts 1000000] [--rounds 1] [--jobs N]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from bench.common import REPO, report
from bench.week import week
from bridge.db.engine import create_db_engine
from bridge.db.intake import intake_row
from bridge.db.migrate import upgrade
from bridge.db.models import Intake, IntakeStatus
from bridge.dedup.loader import load_rules_dir
from bridge.replay.shares import ReplaySpec, reads_aside, replay_stored, share_count
from bridge.replay.trace import Recorded
from bridge.sources import parse_delivery

ALERTS_PER_HOST = 109  # what bench/week.py makes of one host in a week (measured: 16,375 for 150)


def stored_row(recorded: Recorded) -> dict[str, Any]:
    """The row the intake writes for `recorded`, as the worker leaves it once processed."""
    delivery = parse_delivery(recorded.source, recorded.body, recorded.received_at)
    row = intake_row(delivery, recorded.body, recorded.received_at)
    return {**row, "status": IntakeStatus.DONE.value, "attempts": 1}


def store(url: str, alerts: int) -> int:
    hosts = max(1, round(alerts / ALERTS_PER_HOST))
    deliveries = week(hosts)
    engine = create_db_engine(url)
    with engine.begin() as connection:
        rows = [
            {**stored_row(d), "dedup_key": f"bench:{n}"}  # the week repeats Alertmanager bodies
            for n, d in enumerate(deliveries)
        ]
        for start in range(0, len(rows), 20000):
            connection.execute(insert(Intake), rows[start : start + 20000])
    engine.dispose()
    return len(deliveries)


def cpu_seconds() -> float:
    """User and system time of this process and of its finished children (the shares)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--jobs", type=int, default=None, help="processes (default: as bridge picks)")
    args = parser.parse_args()
    specs = [ReplaySpec(load_rules_dir(REPO / "rules"), "bench")]
    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as directory:
        url = f"sqlite:///{Path(directory) / 'bridge.db'}"
        upgrade(create_db_engine(url))
        stored = store(url, args.alerts)
        shares = share_count(specs, stored, args.jobs)
        read_aside = reads_aside(shares, stored, args.jobs)
        seconds, cpu, summary = [], [], None
        for _ in range(args.rounds):
            started, used = time.perf_counter(), cpu_seconds()
            (summary,) = replay_stored(url, specs, None, None, None, shares=shares, read_aside=read_aside)
            seconds.append(time.perf_counter() - started)
            cpu.append(cpu_seconds() - used)
    assert summary is not None
    median = statistics.median(seconds)
    report(
        "replay",
        f"generated noisy week, {summary.alerts:,} stored alerts in {stored:,} deliveries (SQLite), "
        f"example rules, {shares + read_aside} process(es)"
        f"{' (one reading and parsing)' if read_aside else ''}, median of {args.rounds} rounds",
        {
            "processes": shares + read_aside,
            "alerts": summary.alerts,
            "seconds": round(median, 1),
            # CPU time of the replay's processes: on a machine others share, what the wall
            # time would be with the cores to itself (divided by the processes)
            "cpu_seconds": round(statistics.median(cpu), 1),
            "alerts_per_s": round(summary.alerts / median),
            "seconds_per_million": round(median / summary.alerts * 1e6, 1),
            "incidents_opened": summary.incidents_opened,
            "suppressed": sum(summary.suppressed.values()),
        },
    )


if __name__ == "__main__":
    main()
