"""Rule engine speed: decisions per second through the pure engine (in-memory simulator).

Workload: the example rules in rules/; 5,000 alerts (1,000 hosts x 5 names, a fifth of them
info and dropped); every alert fires, is re-sent 3 times (Alertmanager's repeat), resolves,
fires again and resolves again: 50,000 events in arrival order. Also the time to find the
first matching rule for one alert.

    python -m bench.engine [--hosts 1000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from bench.common import REPO, report
from bridge.alert import Alert, Severity, Source, Status
from bridge.dedup.engine import Engine
from bridge.dedup.loader import load_rules_dir
from bridge.dedup.simulator import Simulator

NAMES = [
    ("HostDown", Severity.CRITICAL),
    ("NodeFilesystemAlmostOutOfSpace", Severity.WARNING),
    ("NodeHighCPU", Severity.HIGH),
    ("High ICMP ping loss", Severity.WARNING),
    ("Chatter", Severity.INFO),
]
T0 = datetime(2026, 11, 22, tzinfo=UTC)


def events(hosts: int) -> list[Alert]:
    result = []
    for h in range(hosts):
        host = f"host-{h:04d}"
        for n, (name, severity) in enumerate(NAMES):
            offset = timedelta(seconds=h * 0.7 + n * 11)
            for episode in range(2):
                start = T0 + offset + timedelta(hours=episode)
                end = start + timedelta(minutes=7 + n)
                base = dict(
                    source=Source.ALERTMANAGER,
                    source_ref=f"{h}-{n}",
                    fingerprint=f"am:{h}-{n}",
                    name=name,
                    host=host,
                    severity=severity,
                    labels={"alertname": name, "instance": f"{host}:9100", "severity": severity.value},
                    annotations={},
                    url="",
                )
                for repeat in range(4):
                    result.append(
                        Alert(
                            status=Status.FIRING,
                            starts_at=start,
                            ends_at=None,
                            received_at=start + timedelta(seconds=30 + repeat * 60),
                            **base,
                        )
                    )  # type: ignore[arg-type]
                result.append(
                    Alert(
                        status=Status.RESOLVED,
                        starts_at=start,
                        ends_at=end,
                        received_at=end + timedelta(seconds=30),
                        **base,
                    )
                )  # type: ignore[arg-type]
    result.sort(key=lambda e: e.received_at)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    rules = load_rules_dir(REPO / "rules")
    stream = events(args.hosts)
    rates, incidents = [], 0
    for _ in range(args.rounds):
        sim = Simulator(Engine(rules))
        started = time.perf_counter()
        for event in stream:
            sim.feed(event)
        sim.advance(stream[-1].received_at + timedelta(hours=3))
        rates.append(len(stream) / (time.perf_counter() - started))
        incidents = len(sim.incidents)
    probe = stream[len(stream) // 2]
    matches = []
    for _ in range(args.rounds):
        started = time.perf_counter()
        for _ in range(20000):
            rules.first_match(probe)
        matches.append((time.perf_counter() - started) / 20000 * 1e6)
    report(
        "engine",
        f"example rules, {args.hosts * len(NAMES)} alerts, {len(stream)} events "
        f"(fire, 3 repeats, resolve, twice each), median of {args.rounds} rounds",
        {
            "events": len(stream),
            "decisions_per_s": round(statistics.median(rates)),
            "us_per_decision": round(1e6 / statistics.median(rates), 1),
            "first_match_us": round(statistics.median(matches), 2),
            "incidents": incidents,
        },
    )


if __name__ == "__main__":
    main()
