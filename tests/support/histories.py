"""Generated alert histories whose answers are known, for `bridge rules tune`: PingLoss blips and
outages on web hosts, and the db hosts restarting every Saturday night."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bridge.alert import Source
from bridge.replay.trace import Recorded
from tests.support.payloads import am_alert, am_notification

MOSCOW = ZoneInfo("Europe/Moscow")
T0 = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday
RULES = """
rules:
  - name: disk
    match: {name: DiskFull}
    for: 10m
  - name: chatter
    match: {name: Chatter}
    action: drop
"""


def zulu(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def deliveries(episodes: list[tuple[str, str, datetime, timedelta]]) -> list[Recorded]:
    """Alertmanager notifications for each (host, name, start, length): firing, then resolved."""
    sent: list[tuple[datetime, int, bytes]] = []
    for number, (host, name, start, length) in enumerate(episodes):
        fingerprint = f"{number:016x}"
        labels = {"instance": f"{host}:9100", "severity": "warning"}
        firing = am_alert(name, starts_at=zulu(start), fingerprint=fingerprint, **labels)
        end = start + length
        resolved = am_alert(
            name,
            status="resolved",
            starts_at=zulu(start),
            ends_at=zulu(end),
            fingerprint=fingerprint,
            **labels,
        )
        sent.append((start + timedelta(seconds=5), 2 * number, json.dumps(am_notification(firing)).encode()))
        sent.append(
            (end + timedelta(seconds=5), 2 * number + 1, json.dumps(am_notification(resolved)).encode())
        )
    sent.sort()
    return [Recorded(Source.ALERTMANAGER, at, body) for at, _, body in sent]


def history(
    blips: list[float], outages: list[float], weeks: int = 4
) -> list[tuple[str, str, datetime, timedelta]]:
    """PingLoss blips and outages (lengths in seconds) spread over `weeks` weeks on web hosts,
    and every Saturday night the db hosts restarting one after another (HostDown): db-01 in
    the hour from 01:00 Moscow, db-02 and db-03 in the hour from 02:00 (db-03 running past 03:00)."""
    rng = random.Random(len(blips) * 1000 + len(outages))
    found = []
    span = weeks * 7 * 86400 - 4 * 3600
    for seconds in blips + outages:
        host = f"web-{rng.randint(1, 6):02d}"
        found.append(
            (host, "PingLoss", T0 + timedelta(seconds=rng.uniform(0, span)), timedelta(seconds=seconds))
        )
    for week in range(weeks):
        saturday = datetime(2026, 11, 7, 1, 10, tzinfo=MOSCOW) + timedelta(weeks=week)
        for number in range(3):
            start = saturday + timedelta(minutes=50 * number + rng.uniform(0, 5))
            found.append((f"db-{number + 1:02d}", "HostDown", start, timedelta(minutes=rng.uniform(12, 15))))
    return found
