"""Replay speed: stored alerts per second through `bridge rules replay`'s path.

Workload: the generated noisy week of bench/week.py (Alertmanager and Zabbix, one alert per
delivery as contrib/alertmanager groups them) with enough hosts for ALERTS alert events, stored
in a fresh SQLite intake log; then the replay reads the log back in pages, parses every
delivery as the worker does and decides it with the example rules in simulated time, as
`bridge rules replay --since ...` does. Setup (generating and storing) is not timed.

    python -m bench.replay [--alerts 1000000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from bench.common import REPO, report
from bench.week import week
from bridge.db import create_db_engine, make_session_factory, upgrade
from bridge.dedup.loader import load_rules_dir
from bridge.replay import Replay
from bridge.ticketing.models import Intake, IntakeStatus
from bridge.trace import stored_deliveries

ALERTS_PER_HOST = 109  # what bench/week.py makes of one host in a week (measured: 16,375 for 150)


def store(url: str, alerts: int) -> int:
    hosts = max(1, round(alerts / ALERTS_PER_HOST))
    deliveries = week(hosts)
    engine = create_db_engine(url)
    with engine.begin() as connection:
        rows = [
            {
                "source": d.source.value,
                "dedup_key": f"bench:{n}",
                "received_at": d.received_at,
                "body": d.body,
                "alert_count": 1,
                "status": IntakeStatus.DONE.value,
                "attempts": 1,
            }
            for n, d in enumerate(deliveries)
        ]
        for start in range(0, len(rows), 20000):
            connection.execute(insert(Intake), rows[start : start + 20000])
    engine.dispose()
    return len(deliveries)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    rules = load_rules_dir(REPO / "rules")
    with tempfile.TemporaryDirectory(prefix="bridge-bench-") as directory:
        url = f"sqlite:///{Path(directory) / 'bridge.db'}"
        upgrade(create_db_engine(url))
        stored = store(url, args.alerts)
        sessions = make_session_factory(create_db_engine(url))
        seconds, summary = [], None
        for _ in range(args.rounds):
            replay = Replay(rules, "bench")
            started = time.perf_counter()
            with sessions() as session:
                for recorded in stored_deliveries(session, None, None):
                    replay.feed(recorded)
            summary = replay.finish()
            seconds.append(time.perf_counter() - started)
    assert summary is not None
    median = statistics.median(seconds)
    report(
        "replay",
        f"generated noisy week, {summary.alerts:,} stored alerts in {stored:,} deliveries (SQLite), "
        f"example rules, median of {args.rounds} rounds",
        {
            "alerts": summary.alerts,
            "seconds": round(median, 1),
            "alerts_per_s": round(summary.alerts / median),
            "seconds_per_million": round(median / summary.alerts * 1e6, 1),
            "incidents_opened": summary.incidents_opened,
            "suppressed": sum(summary.suppressed.values()),
        },
    )


if __name__ == "__main__":
    main()
