"""A generated noisy week of deliveries from Alertmanager and Zabbix, for replays.

What a week of an estate of HOSTS hosts looks like to bridge (two thirds watched by Prometheus
through Alertmanager, one third by Zabbix), deterministic for a seed:
- CPU bursts several times a day per host, most over in 1-4 minutes, one in ten sustained;
- the nightly backup filling disks for a few minutes on a third of the hosts, and a few disks
  that really fill up;
- ping loss blips on the Zabbix hosts, and now and then a flapping link (5-6 blips in 15 min);
- agents and exporters dropping out for a minute or two, sometimes for longer;
- three host outages with their child alerts, database replication lag on the db hosts;
- informational chatter; Alertmanager's Watchdog every hour, with a 3-hour gap on day 4;
- Alertmanager re-sending every firing alert hourly (repeat_interval), as the contrib config does.

    python -m bench.week --hosts 150 --out week.jsonl     # write a trace for `bridge rules replay --input`
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge.alert import Source
from bridge.replay.trace import Recorded, write_trace

WEEK_START = datetime(2026, 11, 23, tzinfo=UTC)  # a Monday
WEEK = timedelta(days=7)
REPEAT = timedelta(hours=1)  # Alertmanager's repeat_interval in contrib/alertmanager


@dataclass(frozen=True, slots=True)
class Episode:
    """One alert firing from `start` for `length` on a host."""

    host: str
    name: str
    severity: str
    start: datetime
    length: timedelta
    labels: tuple[tuple[str, str], ...] = ()


def episodes(hosts: int, rng: random.Random) -> list[Episode]:
    found: list[Episode] = []
    names = [f"{'db' if h % 25 == 0 else 'web'}-{h:04d}" for h in range(hosts)]

    def at_random() -> datetime:
        return WEEK_START + timedelta(seconds=rng.uniform(0, WEEK.total_seconds() - 7200))

    for h, host in enumerate(names):
        zabbix = h % 3 == 2
        cpu = "High CPU utilization" if zabbix else "NodeHighCPU"
        for _ in range(rng.randint(25, 45)):  # bursts over the week
            sustained = rng.random() < 0.1
            minutes = rng.uniform(8, 40) if sustained else rng.uniform(1, 4)
            found.append(Episode(host, cpu, "high", at_random(), timedelta(minutes=minutes)))
        if rng.random() < 0.33:
            disk = "Disk space is low" if zabbix else "NodeFilesystemAlmostOutOfSpace"
            for day in range(7):
                start = WEEK_START + timedelta(days=day, hours=2, minutes=rng.uniform(0, 20))
                found.append(Episode(host, disk, "warning", start, timedelta(minutes=rng.uniform(3, 8))))
            if rng.random() < 0.1:
                found.append(Episode(host, disk, "high", at_random(), timedelta(hours=rng.uniform(1, 3))))
        if zabbix:
            for _ in range(rng.randint(10, 40)):
                found.append(
                    Episode(
                        host,
                        "High ICMP ping loss",
                        "warning",
                        at_random(),
                        timedelta(seconds=rng.uniform(60, 150)),
                    )
                )
            if rng.random() < 0.15:  # a flapping link
                start = at_random()
                for blip in range(rng.randint(5, 6)):
                    found.append(
                        Episode(
                            host,
                            "High ICMP ping loss",
                            "warning",
                            start + timedelta(minutes=blip * 2.5),
                            timedelta(seconds=70),
                        )
                    )
        gap = "Zabbix agent is not available" if zabbix else "TargetDown"
        for _ in range(rng.randint(1, 4)):
            minutes = rng.uniform(1, 3) if rng.random() < 0.8 else rng.uniform(6, 30)
            found.append(Episode(host, gap, "average", at_random(), timedelta(minutes=minutes)))
        for _ in range(rng.randint(3, 8)):
            info = "Configuration of Zabbix agent changed" if zabbix else "NodeClockSkew"
            found.append(Episode(host, info, "info", at_random(), timedelta(minutes=rng.uniform(5, 30))))
        if host.startswith("db-"):
            for _ in range(rng.randint(1, 3)):
                found.append(
                    Episode(
                        host,
                        "PostgresReplicationLag",
                        "high",
                        at_random(),
                        timedelta(minutes=rng.uniform(2, 20)),
                    )
                )
    for host in rng.sample(names, k=min(3, len(names))):  # outages, with what they take down
        start, length = at_random(), timedelta(minutes=rng.uniform(10, 60))
        down = "Unavailable by ICMP ping" if names.index(host) % 3 == 2 else "HostDown"
        found.append(Episode(host, down, "critical", start, length))
        for child in ("NodeHighCPU", "TargetDown"):
            found.append(Episode(host, child, "average", start + timedelta(seconds=40), length))
    return found


def alertmanager_body(episode: Episode, firing: bool, fingerprint: str) -> dict[str, Any]:
    labels = {
        "alertname": episode.name,
        "instance": f"{episode.host}:9100",
        "job": "node",
        "severity": episode.severity,
        **dict(episode.labels),
    }
    end = episode.start + episode.length
    alert = {
        "status": "firing" if firing else "resolved",
        "labels": labels,
        "annotations": {"summary": f"{episode.name} on {episode.host}"},
        "startsAt": _zulu(episode.start),
        "endsAt": "0001-01-01T00:00:00Z" if firing else _zulu(end),
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint,
    }
    return {
        "receiver": "bridge",
        "status": alert["status"],
        "alerts": [alert],
        "groupLabels": {"alertname": episode.name, "instance": labels["instance"]},
        "commonLabels": labels,
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{episode.name}", instance="{labels["instance"]}"}}',
        "truncatedAlerts": 0,
    }


ZABBIX_SEVERITY = {
    "critical": "Disaster",
    "high": "High",
    "average": "Average",
    "warning": "Warning",
    "info": "Information",
}


def zabbix_body(episode: Episode, firing: bool, event_id: int) -> dict[str, Any]:
    end = episode.start + episode.length
    return {
        "schema": "bridge.zabbix.v1",
        "kind": "problem" if firing else "recovery",
        "zabbix": {"instance": "zbx-prod", "url": "https://zabbix.example.com/"},
        "event": {
            "id": str(event_id),
            "source": "0",
            "value": "1" if firing else "0",
            "status": "PROBLEM" if firing else "RESOLVED",
            "name": episode.name,
            "severity": ZABBIX_SEVERITY[episode.severity],
            "timestamp": str(int(episode.start.timestamp())),
            "tags": [{"tag": "scope", "value": "availability"}],
            "recovery": {
                "id": None if firing else str(event_id + 1),
                "timestamp": None if firing else str(int(end.timestamp())),
            },
        },
        "trigger": {"id": str(10000 + event_id % 997), "status": "PROBLEM" if firing else "OK"},
        "host": {"host": episode.host, "name": episode.host, "ip": "10.0.0.1", "groups": "Linux servers"},
        "update": {"action": None, "message": None, "user": None, "timestamp": None},
        "alert": {"subject": episode.name, "message": episode.name},
        "external_ref": None,
    }


def week(hosts: int = 150, seed: int = 7) -> list[Recorded]:
    """The week's deliveries in arrival order."""
    rng = random.Random(seed)
    deliveries: list[tuple[datetime, Source, dict[str, Any]]] = []
    for number, episode in enumerate(episodes(hosts, rng)):
        end = episode.start + episode.length
        if _by_zabbix(episode):
            event_id = 2 * number + 100
            deliveries.append(
                (episode.start + timedelta(seconds=1), Source.ZABBIX, zabbix_body(episode, True, event_id))
            )
            deliveries.append(
                (end + timedelta(seconds=1), Source.ZABBIX, zabbix_body(episode, False, event_id))
            )
            continue
        fingerprint = f"{rng.getrandbits(64):016x}"
        sent = episode.start + timedelta(seconds=10 + rng.uniform(0, 5))  # group_wait
        while sent < end:
            deliveries.append((sent, Source.ALERTMANAGER, alertmanager_body(episode, True, fingerprint)))
            sent += REPEAT
        resolved_at = end + timedelta(seconds=rng.uniform(0, 60))  # within group_interval
        deliveries.append((resolved_at, Source.ALERTMANAGER, alertmanager_body(episode, False, fingerprint)))
    watchdog = Episode("alertmanager", "Watchdog", "none", WEEK_START - timedelta(days=30), WEEK * 2)
    at = WEEK_START
    while at < WEEK_START + WEEK:
        if not (WEEK_START + timedelta(days=3, hours=14) <= at < WEEK_START + timedelta(days=3, hours=17)):
            deliveries.append(
                (at, Source.ALERTMANAGER, alertmanager_body(watchdog, True, "00000000watchdog"))
            )
        at += REPEAT
    deliveries.sort(key=lambda d: d[0])
    return [
        Recorded(source, at, json.dumps(body, separators=(",", ":")).encode())
        for at, source, body in deliveries
    ]


def _by_zabbix(episode: Episode) -> bool:
    return episode.name in ZABBIX_NAMES


ZABBIX_NAMES = frozenset(
    {
        "High CPU utilization",
        "Disk space is low",
        "High ICMP ping loss",
        "Zabbix agent is not available",
        "Configuration of Zabbix agent changed",
        "Unavailable by ICMP ping",
    }
)


def _zulu(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=150)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", default="-", help="Trace file to write (default: stdout).")
    args = parser.parse_args()
    deliveries = week(args.hosts, args.seed)
    if args.out == "-":
        write_trace(deliveries, sys.stdout)
    else:
        with open(args.out, "w", encoding="utf-8") as out:
            write_trace(deliveries, out)
    print(f"{len(deliveries)} deliveries", file=sys.stderr)


if __name__ == "__main__":
    main()
