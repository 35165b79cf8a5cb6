"""The door's cost: parsing and checking a webhook body, as the webhook does before storing it.

Workload: `bridge.sources.parse_delivery` (decoding, every check, building the Alerts) on the
captured Zabbix problem, the captured 1-alert and 3-alert Alertmanager notifications, and a
50-alert notification shaped like bench.intake's; each body parsed `--rounds` times in a row,
5 runs of that. Reports microseconds per body, the median of the runs.

    python -m bench.door [--rounds 2000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

from bench.common import report
from bench.intake import body as intake_body
from bridge.alert import Source
from bridge.sources import parse_delivery
from tests.support.payloads import captured

NOW = datetime(2026, 11, 22, 7, 0, tzinfo=UTC)


def per_body_us(source: Source, raw: bytes, rounds: int) -> float:
    runs = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            parse_delivery(source, raw, NOW)
        runs.append((time.perf_counter() - started) / rounds * 1e6)
    return round(statistics.median(runs), 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    bodies = {
        "zabbix_problem_us": (Source.ZABBIX, captured("zabbix/01-problem.json").body_raw),
        "am_1_alert_us": (Source.ALERTMANAGER, captured("alertmanager/01-firing-single.json").body_raw),
        "am_3_alerts_us": (Source.ALERTMANAGER, captured("alertmanager/03-firing-grouped.json").body_raw),
        "am_50_alerts_us": (Source.ALERTMANAGER, intake_body(1, 1, 50)),
    }
    figures = {name: per_body_us(source, raw, args.rounds) for name, (source, raw) in bodies.items()}
    report(
        "door",
        f"parse_delivery (decode, check, build Alerts) of 4 bodies, {args.rounds} times each, "
        "median of 5 runs, microseconds per body",
        figures,
    )


if __name__ == "__main__":
    main()
