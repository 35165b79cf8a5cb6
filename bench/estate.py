"""A labelled week of an estate of 40 hosts on Zabbix and Alertmanager: the trace bridge would
have received, and next to it which episode each alert belongs to, real or noise.

The estate (fixed; the seed moves only times, lengths and which hosts):
- 26 hosts watched by Prometheus (node_exporter, blackbox_exporter, postgres_exporter and
  mysqld_exporter) through Alertmanager, 14 by Zabbix (Linux by Zabbix agent, ICMP Ping,
  network interfaces). Every host has a `site` (msk, spb) and a `switch` (msk-core-1,
  msk-core-2, spb-core-1) label; on Zabbix they are event tags and a host group.
- A maintenance night every Saturday 01:00-05:00 Europe/Moscow on the db-* and stor-* hosts.

Each week holds 20 real outages (`REAL`) and about 320 noise episodes (`NOISE`): the hard cases
are ping loss that starts like a blip and persists, blips that keep recurring (one real
problem), a core switch failing with 48 alerts on the 16 hosts behind it within two minutes, a
host that stays down past the end of the maintenance night; the noise is CPU spikes, ping and
probe blips, flapping links and services, scrape gaps, the nightly backup filling disks,
informational chatter, a lost check-in of Alertmanager's hourly Watchdog and everything the
maintenance night sets off. Alert names are those of the Zabbix 6.0 official templates and of
the node_exporter mixin / awesome-prometheus-alerts rules.

The labels (JSON) list every episode: `kind` real or noise, `category`, `start` (for a real one,
when it became a problem people must hear of: the first alert, or the end of the maintenance
window it overran), `end`, `max_delay_s` (the longest acceptable time from `start` to an
incident, real ones only), `storm`, and its `alerts` with the fingerprint bridge gives each.
`bench/score.py` reads them with a `bridge rules replay --json` of the trace.

    python -m bench.estate --seed 1 --out week.jsonl      # also writes week.labels.json
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.week import REPEAT, WEEK, WEEK_START, ZABBIX_SEVERITY
from bridge.alert import Source
from bridge.replay.trace import Recorded, write_trace
from bridge.sources import parse_delivery
from bridge.sources.alertmanager import labels_fingerprint

MINUTE = timedelta(minutes=1)
MAINTENANCE_HOSTS = ("db-", "stor-")
MAINTENANCE_START = timedelta(days=4, hours=22)  # Saturday 01:00 Moscow (UTC+3) is Friday 22:00 UTC
MAINTENANCE_LENGTH = timedelta(hours=4)
WATCHDOG_GAP = (timedelta(days=3, hours=14), timedelta(days=3, hours=15))  # one hourly check-in lost


@dataclass(frozen=True, slots=True)
class Host:
    name: str
    source: Source
    site: str
    switch: str
    role: str

    @property
    def zabbix(self) -> bool:
        return self.source is Source.ZABBIX

    @property
    def maintained(self) -> bool:
        return self.name.startswith(MAINTENANCE_HOSTS)


def _estate() -> tuple[Host, ...]:
    prometheus = (
        [f"web-{n:02d}" for n in range(1, 11)]
        + [f"app-{n:02d}" for n in range(1, 9)]
        + [f"db-{n:02d}" for n in range(1, 5)]
        + ["mon-01", "ci-01", "k8s-01", "k8s-02"]
    )
    zabbix = ["lb-01", "lb-02", "mq-01", "mq-02", "mq-03", "cache-01", "cache-02", "cache-03"]
    zabbix += ["stor-01", "stor-02", "stor-03", "stor-04", "fw-01", "vpn-01"]
    core1 = {*(f"web-{n:02d}" for n in range(1, 9)), *(f"app-{n:02d}" for n in range(1, 5))}
    core1 |= {"lb-01", "mq-01", "cache-01", "stor-01"}
    core2 = {*(f"db-{n:02d}" for n in range(1, 5)), *(f"app-{n:02d}" for n in range(5, 9))}
    core2 |= {"mon-01", "ci-01"}
    hosts = []
    for name in prometheus + zabbix:
        switch = "msk-core-1" if name in core1 else "msk-core-2" if name in core2 else "spb-core-1"
        source = Source.ZABBIX if name in zabbix else Source.ALERTMANAGER
        hosts.append(Host(name, source, switch[:3], switch, name.split("-")[0]))
    return tuple(hosts)


HOSTS = _estate()
STORM_SWITCH = "msk-core-1"  # 16 hosts, 3 alerts each when it fails
STORM_ZABBIX = (
    ("Unavailable by ICMP ping", "high"),
    ("Zabbix agent is not available (for 3m)", "average"),
    ("High ICMP ping loss", "warning"),
)
STORM_PROMETHEUS = (
    ("InstanceDown", "critical"),
    ("BlackboxProbeFailed", "critical"),
    ("BlackboxProbeHttpFailure", "critical"),
)


@dataclass(frozen=True, slots=True)
class Firing:
    """One alert firing on a host from `start` to `end`."""

    host: Host
    name: str
    severity: str
    start: datetime
    end: datetime
    job: str = "node"


@dataclass
class Episode:
    """What a person would call one thing that happened: real (must page) or noise."""

    id: str
    kind: str  # "real" or "noise"
    category: str
    what: str
    firings: list[Firing]
    max_delay: timedelta | None = None
    detect_from: datetime | None = None  # a real episode's start, when not its first alert
    storm: bool = False

    @property
    def start(self) -> datetime:
        return self.detect_from or min(f.start for f in self.firings)

    @property
    def end(self) -> datetime:
        return max(f.end for f in self.firings)


@dataclass
class _Week:
    """Places episodes in one week without two firings of one alert on one host overlapping
    (Alertmanager would see one alert, not two)."""

    rng: random.Random
    start: datetime
    episodes: list[Episode] = field(default_factory=list)
    busy: dict[tuple[str, str], list[tuple[datetime, datetime]]] = field(default_factory=dict)
    backups: tuple[Host, ...] = ()  # the hosts whose nightly backup fills a disk for a while

    def free(self, firings: list[Firing]) -> bool:
        for f in firings:
            for start, end in self.busy.get((f.host.name, f.name), []):
                if f.start < end + 2 * MINUTE and start < f.end + 2 * MINUTE:
                    return False
            if f.host.maintained and self._in_maintenance(f):  # the maintenance night has its own
                return False
        return True

    def _in_maintenance(self, firing: Firing) -> bool:
        window = self.start + MAINTENANCE_START
        return firing.start < window + MAINTENANCE_LENGTH + 30 * MINUTE and window - 30 * MINUTE < firing.end

    def add(self, episode: Episode) -> None:
        for f in episode.firings:
            self.busy.setdefault((f.host.name, f.name), []).append((f.start, f.end))
        self.episodes.append(episode)

    def at_random(self, margin: timedelta = timedelta(hours=3)) -> datetime:
        seconds = self.rng.uniform(0, (WEEK - margin).total_seconds())
        return self.start + timedelta(seconds=int(seconds))

    def place(self, make: Any, tries: int = 200) -> None:
        """Draw `make()` (a list of firings plus the episode around them) until it fits."""
        for _ in range(tries):
            episode: Episode = make()
            if self.free(episode.firings):
                self.add(episode)
                return
        raise RuntimeError(f"no room for {episode.category}")  # the estate is far from full


def _pick(rng: random.Random, zabbix: bool | None = None, role: str | None = None) -> Host:
    hosts = [h for h in HOSTS if (zabbix is None or h.zabbix == zabbix) and (role is None or h.role == role)]
    return rng.choice(hosts)


def _named(name: str) -> Host:
    return next(h for h in HOSTS if h.name == name)


def _span(at: datetime, seconds: float) -> datetime:
    return at + timedelta(seconds=int(seconds))


def _real(w: _Week) -> None:
    rng = w.rng
    n = iter(range(1, 100))

    def real(category: str, what: str, firings: list[Firing], max_delay: timedelta, **kw: Any) -> Episode:
        return Episode(
            f"{w.start:%Y%m%d}-real-{next(n):02d}", "real", category, what, firings, max_delay, **kw
        )

    for _ in range(3):  # starts like a blip, then stays

        def persistent() -> Episode:
            h, at = _pick(rng, zabbix=True), w.at_random()
            f = Firing(h, "High ICMP ping loss", "warning", at, _span(at, rng.uniform(25 * 60, 90 * 60)))
            return real("persistent-ping-loss", f"ping loss on {h.name} that persists", [f], 15 * MINUTE)

        w.place(persistent)
    for _ in range(2):  # blips every few minutes for the best part of an hour: a dying link

        def recurring() -> Episode:
            h, at = _pick(rng, zabbix=True), w.at_random()
            firings, t = [], at
            while t < at + timedelta(minutes=rng.uniform(40, 70)):
                end = _span(t, rng.uniform(60, 120))
                firings.append(Firing(h, "High ICMP ping loss", "warning", t, end))
                t = _span(end, rng.uniform(90, 240))
            return real("recurring-blips", f"ping loss on {h.name} recurring", firings, 20 * MINUTE)

        w.place(recurring)

    def storm() -> Episode:
        at = w.at_random()
        end = _span(at, rng.uniform(25 * 60, 50 * 60))
        firings = []
        for h in (h for h in HOSTS if h.switch == STORM_SWITCH):
            names = STORM_ZABBIX if h.zabbix else STORM_PROMETHEUS
            for name, severity in names:
                start = _span(at, rng.uniform(15, 110))
                job = "blackbox" if name.startswith("Blackbox") else "node"
                firings.append(Firing(h, name, severity, start, _span(end, rng.uniform(0, 60)), job))
        return real("switch-storm", f"core switch {STORM_SWITCH} failed", firings, 10 * MINUTE, storm=True)

    w.place(storm)

    window_end = w.start + MAINTENANCE_START + MAINTENANCE_LENGTH
    h = _named(f"db-{rng.randint(1, 4):02d}")
    down = _span(window_end, -rng.uniform(20 * 60, 40 * 60))
    up = _span(window_end, rng.uniform(40 * 60, 90 * 60))
    overrun = [
        Firing(h, "InstanceDown", "critical", down, up),
        Firing(h, "PostgresqlDown", "critical", _span(down, 30), up, "postgres"),
    ]
    w.add(
        real(
            "maintenance-overrun",
            f"{h.name} still down after the maintenance night",
            overrun,
            15 * MINUTE,
            detect_from=window_end,
        )
    )
    for _ in range(4):

        def host_down() -> Episode:
            h, at = _pick(rng), w.at_random()
            end = _span(at, rng.uniform(10 * 60, 60 * 60))
            if h.zabbix:
                firings = [
                    Firing(h, "Unavailable by ICMP ping", "high", at, end),
                    Firing(h, "Zabbix agent is not available (for 3m)", "average", _span(at, 180), end),
                ]
            else:
                firings = [
                    Firing(h, "InstanceDown", "critical", _span(at, 20), end),
                    Firing(h, "BlackboxProbeFailed", "critical", at, end, "blackbox"),
                ]
            return real("host-down", f"{h.name} down", firings, 5 * MINUTE)

        w.place(host_down)
    for number in range(2):

        def db_down(number: int = number) -> Episode:
            h = _pick(rng, role="db")
            at = w.at_random()
            name = "PostgresqlDown" if h.name in ("db-01", "db-02") else "MysqlDown"
            job = "postgres" if name == "PostgresqlDown" else "mysql"
            f = Firing(h, name, "critical", at, _span(at, rng.uniform(10 * 60, 40 * 60)), job)
            return real("database-down", f"database on {h.name} down", [f], 5 * MINUTE)

        w.place(db_down)
    for _ in range(2):

        def disk_full() -> Episode:
            h, at = _pick(rng), w.at_random(timedelta(hours=8))
            end = _span(at, rng.uniform(2 * 3600, 6 * 3600))
            if h.zabbix:
                f = Firing(h, "/: Disk space is critically low (used > 90%)", "average", at, end)
            else:
                f = Firing(h, "NodeFilesystemAlmostOutOfSpace", "critical", at, end)
            return real("disk-full", f"disk filling up on {h.name}", [f], 30 * MINUTE)

        w.place(disk_full)
    for _ in range(2):

        def sustained_cpu() -> Episode:
            h, at = _pick(rng), w.at_random()
            end = _span(at, rng.uniform(45 * 60, 120 * 60))
            name = "High CPU utilization (over 90% for 5m)" if h.zabbix else "HostHighCpuLoad"
            f = Firing(h, name, "warning", at, end)
            return real("sustained-cpu", f"CPU saturated on {h.name}", [f], 20 * MINUTE)

        w.place(sustained_cpu)

    def replication() -> Episode:
        h = _named(rng.choice(("db-03", "db-04")))
        at = w.at_random()
        end = _span(at, rng.uniform(60 * 60, 150 * 60))
        f = Firing(h, "MysqlSlaveReplicationLag", "critical", at, end, "mysql")
        return real("replication-lag", f"replica {h.name} falling behind", [f], 30 * MINUTE)

    w.place(replication)
    for _ in range(2):

        def service_failed() -> Episode:
            h, at = _pick(rng, zabbix=False), w.at_random()
            f = Firing(
                h, "NodeSystemdServiceFailed", "warning", at, _span(at, rng.uniform(30 * 60, 120 * 60))
            )
            return real("service-failed", f"a systemd service failed on {h.name}", [f], 15 * MINUTE)

        w.place(service_failed)


def _noise(w: _Week) -> None:
    rng = w.rng
    n = iter(range(1, 1000))

    def noise(category: str, what: str, firings: list[Firing]) -> Episode:
        return Episode(f"{w.start:%Y%m%d}-noise-{next(n):03d}", "noise", category, what, firings)

    def one(category: str, pick: Any, seconds: tuple[float, float], job: str = "node") -> None:
        def make() -> Episode:
            h, name, severity = pick()
            at = w.at_random()
            f = Firing(h, name, severity, at, _span(at, rng.uniform(*seconds)), job)
            return noise(category, f"{name} on {h.name}", [f])

        w.place(make)

    def cpu() -> tuple[Host, str, str]:
        h = _pick(rng)
        return h, "High CPU utilization (over 90% for 5m)" if h.zabbix else "HostHighCpuLoad", "warning"

    for _ in range(125):
        one("cpu-spike", cpu, (60, 240))
    for _ in range(40):
        one("ping-blip", lambda: (_pick(rng, zabbix=True), "High ICMP ping loss", "warning"), (60, 150))
    for _ in range(20):
        one(
            "probe-blip",
            lambda: (_pick(rng, zabbix=False), "BlackboxProbeFailed", "critical"),
            (45, 100),
            "blackbox",
        )

    def gap() -> tuple[Host, str, str]:
        h = _pick(rng)
        return (
            (h, "Zabbix agent is not available (for 3m)", "average")
            if h.zabbix
            else (h, "TargetDown", "warning")
        )

    for _ in range(30):
        one("scrape-gap", gap, (60, 180))
    for number in range(8):  # a link going up and down for ten minutes or so, then settling

        def flapping_link(number: int = number) -> Episode:
            h, at = _pick(rng, zabbix=number % 2 == 0), w.at_random()
            if not h.zabbix:
                f = Firing(h, "NodeNetworkInterfaceFlapping", "warning", at, _span(at, rng.uniform(300, 600)))
                return noise("flapping-link", f"eth0 flapping on {h.name}", [f])
            firings, t = [], at
            for _ in range(rng.randint(4, 6)):
                end = _span(t, rng.uniform(30, 90))
                firings.append(Firing(h, "Interface eth0(): Link down", "average", t, end))
                t = _span(end, rng.uniform(40, 120))
            return noise("flapping-link", f"eth0 flapping on {h.name}", firings)

        w.place(flapping_link)
    for _ in range(6):

        def flapping_service() -> Episode:
            h, at = _pick(rng, zabbix=False), w.at_random()
            firings, t = [], at
            for _ in range(rng.randint(4, 6)):
                end = _span(t, rng.uniform(20, 60))
                firings.append(Firing(h, "NodeSystemdServiceFailed", "warning", t, end))
                t = _span(end, rng.uniform(30, 90))
            return noise("flapping-service", f"a service restarting on {h.name}", firings)

        w.place(flapping_service)
    for h in w.backups:  # the nightly backup fills a disk for a few minutes, 02:00 Moscow
        for day in range(7):
            at = w.start + timedelta(days=day, hours=23, minutes=int(rng.uniform(0, 20)))  # 02:00 Moscow
            name = "/: Disk space is low (used > 80%)" if h.zabbix else "NodeFilesystemAlmostOutOfSpace"
            f = Firing(h, name, "warning", at, _span(at, rng.uniform(180, 480)))
            if w.free([f]):
                w.add(noise("backup-disk", f"backup filling a disk on {h.name}", [f]))

    def chatter() -> tuple[Host, str, str]:
        h = _pick(rng)
        if h.zabbix:
            return (
                h,
                rng.choice(("/etc/passwd has been changed", "Operating system description has changed")),
                "info",
            )
        return h, "NodeClockSkewDetected", "info"

    for _ in range(50):
        one("info-chatter", chatter, (300, 1800))
    watchdog = Host("alertmanager", Source.ALERTMANAGER, "msk", "msk-core-2", "monitoring")
    gap_from, gap_to = (w.start + WATCHDOG_GAP[0], w.start + WATCHDOG_GAP[1])
    w.add(
        noise(
            "watchdog-gap",
            "one of Alertmanager's hourly Watchdog check-ins lost",
            [Firing(watchdog, "Watchdog", "none", gap_from, gap_to)],
        )
    )
    window = w.start + MAINTENANCE_START
    overran = {f.host.name for e in w.episodes if e.category == "maintenance-overrun" for f in e.firings}
    for h in (h for h in HOSTS if h.maintained):  # everything the maintenance night sets off
        reboot = _span(window, rng.uniform(20 * 60, 150 * 60))
        back = _span(reboot, rng.uniform(180, 600))
        if h.name in overran:
            continue
        if h.zabbix:
            firings = [Firing(h, "Unavailable by ICMP ping", "high", reboot, back)]
        else:
            firings = [
                Firing(h, "InstanceDown", "critical", reboot, back),
                Firing(h, "BlackboxProbeFailed", "critical", _span(reboot, 10), back, "blackbox"),
            ]
            name = "PostgresqlDown" if h.name in ("db-01", "db-02") else "MysqlDown"
            job = "postgres" if name == "PostgresqlDown" else "mysql"
            firings.append(Firing(h, name, "critical", _span(reboot, 20), back, job))
        w.add(noise("maintenance", f"{h.name} rebooted in the maintenance night", firings))
        if h.role == "db":
            at = _span(window, rng.uniform(5 * 60, 15 * 60))
            f = Firing(h, "HostHighCpuLoad", "warning", at, _span(at, rng.uniform(10 * 60, 14 * 60)))
            w.add(noise("maintenance", f"vacuum loading {h.name} in the maintenance night", [f]))


def episodes(seed: int, weeks: int = 1) -> list[Episode]:
    """Every episode of `weeks` weeks, deterministic for `seed`."""
    rng = random.Random(seed)
    backups = tuple(rng.sample([h for h in HOSTS if not h.maintained], k=5))  # the same every week
    found: list[Episode] = []
    for number in range(weeks):
        w = _Week(rng, WEEK_START + number * WEEK, backups=backups)
        _real(w)
        _noise(w)
        found += w.episodes
    return found


# -- the deliveries ---------------------------------------------------------------------------


def _prometheus_labels(f: Firing) -> dict[str, str]:
    port = {"node": 9100, "blackbox": 9115, "postgres": 9187, "mysql": 9104}.get(f.job, 9100)
    labels = {"alertname": f.name, "instance": f"{f.host.name}:{port}", "job": f.job, "severity": f.severity}
    if f.name != "Watchdog":
        labels |= {"site": f.host.site, "switch": f.host.switch, "env": "prod"}
    return labels


def _alertmanager(f: Firing, firing: bool, labels: dict[str, str]) -> dict[str, Any]:
    alert = {
        "status": "firing" if firing else "resolved",
        "labels": labels,
        "annotations": {"summary": f"{f.name} on {f.host.name}"},
        "startsAt": _zulu(f.start),
        "endsAt": "0001-01-01T00:00:00Z" if firing else _zulu(f.end),
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": labels_fingerprint(labels),
    }
    return {
        "receiver": "bridge",
        "status": alert["status"],
        "alerts": [alert],
        "groupLabels": {"alertname": f.name, "instance": labels["instance"]},
        "commonLabels": labels,
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{f.name}", instance="{labels["instance"]}"}}',
        "truncatedAlerts": 0,
    }


def _zabbix(f: Firing, firing: bool, event_id: int) -> dict[str, Any]:
    h = f.host
    return {
        "schema": "bridge.zabbix.v1",
        "kind": "problem" if firing else "recovery",
        "zabbix": {"instance": "zbx-prod", "url": "https://zabbix.example.com/"},
        "event": {
            "id": str(event_id),
            "source": "0",
            "value": "1" if firing else "0",
            "status": "PROBLEM" if firing else "RESOLVED",
            "name": f.name,
            "severity": ZABBIX_SEVERITY[f.severity],
            "timestamp": str(int(f.start.timestamp())),
            "tags": [{"tag": "site", "value": h.site}, {"tag": "switch", "value": h.switch}],
            "recovery": {
                "id": None if firing else str(event_id + 1),
                "timestamp": None if firing else str(int(f.end.timestamp())),
            },
        },
        "trigger": {"id": _trigger_id(f), "status": "PROBLEM" if firing else "OK"},
        "host": {
            "host": h.name,
            "name": h.name,
            "ip": "10.0.0.1",
            "groups": f"Linux servers,Site/{h.site.upper()}",
        },
        "update": {"action": None, "message": None, "user": None, "timestamp": None},
        "alert": {"subject": f.name, "message": f.name},
        "external_ref": None,
    }


def _trigger_id(f: Firing) -> str:
    """A stable trigger id per host and trigger name (Python's hash() is salted per process)."""
    return str(20000 + int(labels_fingerprint({"h": f.host.name, "n": f.name})[:6], 16) % 9973)


@dataclass(frozen=True, slots=True)
class LabelledWeek:
    deliveries: list[Recorded]
    labels: dict[str, Any]


def labelled_week(seed: int = 1, weeks: int = 1) -> LabelledWeek:
    """The trace (deliveries in arrival order) and its labels."""
    rng = random.Random(seed * 7919 + 1)  # delivery jitter, apart from the episodes' draw
    found = episodes(seed, weeks)
    deliveries: list[tuple[datetime, int, Source, dict[str, Any]]] = []
    labelled: list[dict[str, Any]] = []
    event_id = 1000
    order = 0
    for episode in found:
        alerts = []
        for f in episode.firings:
            if f.name == "Watchdog":
                continue  # its deliveries are the hourly check-ins below
            first: tuple[Source, dict[str, Any]]
            if f.host.zabbix:
                event_id += 2
                first = (Source.ZABBIX, _zabbix(f, True, event_id))
                sent = [(f.start + timedelta(seconds=1), *first)]
                sent.append((f.end + timedelta(seconds=1), Source.ZABBIX, _zabbix(f, False, event_id)))
            else:
                labels = _prometheus_labels(f)
                first = (Source.ALERTMANAGER, _alertmanager(f, True, labels))
                at = f.start + timedelta(seconds=10 + int(rng.uniform(0, 5)))  # group_wait
                sent = []
                while at < f.end:
                    sent.append((at, *first))
                    at += REPEAT
                sent.append(
                    (
                        f.end + timedelta(seconds=int(rng.uniform(0, 60))),
                        Source.ALERTMANAGER,
                        _alertmanager(f, False, labels),
                    )
                )
            for at, source, body in sent:
                order += 1
                deliveries.append((at, order, source, body))
            alert = parse_delivery(first[0], json.dumps(first[1]).encode(), f.start).alerts[0]
            alerts.append(
                {
                    "fingerprint": alert.fingerprint,
                    "host": alert.host,
                    "name": alert.name,
                    "source": first[0].value,
                    "start": f.start.isoformat(),
                    "end": f.end.isoformat(),
                }
            )
        if episode.category == "watchdog-gap":
            alerts.append(
                {
                    "fingerprint": "alertmanager:" + labels_fingerprint(_watchdog_labels()),
                    "host": "",
                    "name": "Watchdog",
                    "source": "alertmanager",
                    "start": episode.start.isoformat(),
                    "end": episode.end.isoformat(),
                }
            )
        labelled.append(
            {
                "id": episode.id,
                "kind": episode.kind,
                "category": episode.category,
                "what": episode.what,
                "start": episode.start.isoformat(),
                "end": episode.end.isoformat(),
                "max_delay_s": int(episode.max_delay.total_seconds()) if episode.max_delay else None,
                "storm": episode.storm,
                "alerts": alerts,
            }
        )
    for number in range(weeks):
        start = WEEK_START + number * WEEK
        at = start
        while at < start + WEEK:
            if not start + WATCHDOG_GAP[0] <= at < start + WATCHDOG_GAP[1]:
                order += 1
                deliveries.append((at, order, Source.ALERTMANAGER, _watchdog_body(at)))
            at += REPEAT
    deliveries.sort(key=lambda d: (d[0], d[1]))
    trace = [Recorded(s, at, json.dumps(b, separators=(",", ":")).encode()) for at, _, s, b in deliveries]
    labels = {
        "generator": "bench.estate",
        "seed": seed,
        "weeks": weeks,
        "from": WEEK_START.isoformat(),
        "until": (WEEK_START + weeks * WEEK).isoformat(),
        "hosts": [
            {"host": h.name, "source": h.source.value, "site": h.site, "switch": h.switch} for h in HOSTS
        ],
        "maintenance": [
            {
                "hosts": "db-*, stor-*",
                "start": (WEEK_START + n * WEEK + MAINTENANCE_START).isoformat(),
                "end": (WEEK_START + n * WEEK + MAINTENANCE_START + MAINTENANCE_LENGTH).isoformat(),
            }
            for n in range(weeks)
        ],
        "episodes": labelled,
    }
    return LabelledWeek(trace, labels)


def _watchdog_labels() -> dict[str, str]:
    return {"alertname": "Watchdog", "severity": "none", "prometheus": "monitoring/k8s"}


def _watchdog_body(at: datetime) -> dict[str, Any]:
    labels = _watchdog_labels()
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": {
            "summary": "An alert that should always be firing to certify that Alertmanager works."
        },
        "startsAt": _zulu(WEEK_START - timedelta(days=30)),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": labels_fingerprint(labels),
    }
    return {
        "receiver": "bridge",
        "status": "firing",
        "alerts": [alert],
        "groupLabels": {"alertname": "Watchdog"},
        "commonLabels": labels,
        "commonAnnotations": alert["annotations"],
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": '{}:{alertname="Watchdog"}',
        "truncatedAlerts": 0,
    }


def _zulu(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def labels_path(trace: Path) -> Path:
    """Where the labels of a trace file go: week.jsonl -> week.labels.json."""
    return trace.with_name(trace.name.removesuffix(".jsonl") + ".labels.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--weeks", type=int, default=1)
    parser.add_argument("--out", required=True, help="Trace file to write; the labels go next to it.")
    parser.add_argument("--labels", help="Labels file (default: the trace's name with .labels.json).")
    args = parser.parse_args()
    week = labelled_week(args.seed, args.weeks)
    out = Path(args.out)
    with out.open("w", encoding="utf-8") as stream:
        write_trace(week.deliveries, stream)
    labels = Path(args.labels) if args.labels else labels_path(out)
    labels.write_text(json.dumps(week.labels, indent=1) + "\n", encoding="utf-8")
    kinds = [e["kind"] for e in week.labels["episodes"]]
    print(
        f"{len(week.deliveries)} deliveries, {kinds.count('real')} real episodes and "
        f"{kinds.count('noise')} noise episodes; labels in {labels}",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
