"""An async closed-loop load generator for webhook intake, loopback only.

`concurrency` senders (default 16) share one aiohttp connection pool of as many keep-alive
connections; each sender posts a notification, waits for the answer, and posts the next one (a
closed loop: the server's speed sets the rate, nothing queues up in the generator). It runs for
`seconds` after `warmup` seconds whose answers are not counted, and reports alerts/s,
notifications/s, latency percentiles and the answers other than 2xx.

Scenarios, for Alertmanager v4 bodies (`alertmanager`) and Zabbix media-type bodies (`zabbix`,
the shape of `contrib/zabbix/` and /work/shared/fixtures):

- `unique`: every alert new (a new fingerprint and start each time), 1 alert per notification;
- `duplicates`: a pool of 64 notifications posted over and over (an HA pair and repeat_interval
  re-sending the same groups: after the first round, byte-identical redeliveries);
- `flap`: 256 alerts (Zabbix: 256 problems) alternating firing and resolved;
- `storm`: 50 new alerts per notification (a switch down; Alertmanager only: Zabbix sends one
  event per operation).

    python -m bench.loadgen --url http://127.0.0.1:8080 --token T [--source alertmanager]
        [--scenario unique] [--concurrency 16] [--seconds 10] [--warmup 1]

prints one JSON line. The generator refuses any host but a loopback address.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import itertools
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bench.common import report

DEFAULT_CONCURRENCY = 16
STORM_SIZE = 50
"""Alerts in one notification of the `storm` scenario."""
DUPLICATE_POOL = 64
"""Distinct notifications the `duplicates` scenario cycles through."""
FLAP_ALERTS = 256
"""Distinct alerts the `flap` scenario toggles between firing and resolved."""
REQUEST_TIMEOUT = 30.0


class Scenario(StrEnum):
    UNIQUE = "unique"
    DUPLICATES = "duplicates"
    FLAP = "flap"
    STORM = "storm"


class SourceKind(StrEnum):
    ALERTMANAGER = "alertmanager"
    ZABBIX = "zabbix"


@dataclass(frozen=True, slots=True)
class LoadResult:
    """What one run measured; latencies over the 2xx answers of the counted window."""

    source: str
    scenario: str
    concurrency: int
    seconds: float
    alerts_per_notification: int
    notifications: int
    notifications_per_s: float
    alerts_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    non_2xx: int
    errors: int

    def figures(self, prefix: str = "") -> dict[str, Any]:
        return {f"{prefix}{k}": v for k, v in asdict(self).items()}


# -- bodies ------------------------------------------------------------------------------------


def _am_alert(fingerprint: str, host: str, status: str, starts_ns: int) -> dict[str, Any]:
    starts = _instant(starts_ns)
    return {
        "status": status,
        "labels": {
            "alertname": "NodeHighLoad",
            "instance": f"{host}:9100",
            "job": "node",
            "severity": "warning",
        },
        "annotations": {"summary": f"load above 10 on {host}", "description": "bench"},
        "startsAt": starts,
        "endsAt": "0001-01-01T00:00:00Z" if status == "firing" else _instant(starts_ns + 60_000_000_000),
        "generatorURL": "http://prometheus:9090/graph?g0.expr=node_load1",
        "fingerprint": fingerprint,
    }


def _am_notification(alerts: list[dict[str, Any]]) -> bytes:
    status = "firing" if any(a["status"] == "firing" for a in alerts) else "resolved"
    return json.dumps(
        {
            "receiver": "bridge",
            "status": status,
            "alerts": alerts,
            "groupLabels": {"alertname": "NodeHighLoad"},
            "commonLabels": {"alertname": "NodeHighLoad", "job": "node"},
            "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093",
            "version": "4",
            "groupKey": '{}:{alertname="NodeHighLoad"}',
            "truncatedAlerts": 0,
        }
    ).encode()


def _zbx_body(kind: str, event_id: int, host: str, recovery_id: int | None, timestamp: int) -> bytes:
    return json.dumps(
        {
            "schema": "bridge.zabbix.v1",
            "kind": kind,
            "zabbix": {"instance": "zbx-bench", "url": "http://zabbix.example/"},
            "event": {
                "id": str(event_id),
                "source": "0",
                "value": "1" if kind == "problem" else "0",
                "status": "PROBLEM" if kind == "problem" else "RESOLVED",
                "name": f"High CPU load on {host}",
                "severity": "High",
                "nseverity": "4",
                "timestamp": str(timestamp),
                "opdata": "Current load: 95 %",
                "ack_status": "No",
                "tags": [{"tag": "scope", "value": "performance"}, {"tag": "service", "value": "bench"}],
                "recovery": {
                    "id": str(recovery_id) if recovery_id else None,
                    "timestamp": str(timestamp) if recovery_id else None,
                },
            },
            "trigger": {"id": str(100000 + event_id), "status": "PROBLEM", "description": "bench"},
            "host": {"host": host, "name": host, "ip": "127.0.0.1", "groups": "Bench"},
            "update": {"action": None, "message": None, "user": None, "timestamp": None},
            "alert": {"subject": f"Problem: High CPU load on {host}", "message": "bench"},
            "external_ref": None,
        }
    ).encode()


_EPOCH_NS = 1_795_300_000_000_000_000  # 2026-11-22, a fixed base: the bodies are reproducible


def _instant(ns: int) -> str:
    seconds, rest = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest // 1000:06d}Z"


def body_factory(source: SourceKind, scenario: Scenario, run_id: int) -> tuple[Callable[[int], bytes], int]:
    """A function from a sequence number to the n-th body of the scenario, and the alerts per body.
    `run_id` keeps fingerprints of separate runs against one server apart."""
    tag = f"{run_id:04x}"
    if source is SourceKind.ZABBIX:
        if scenario is Scenario.STORM:
            raise ValueError("Zabbix sends one event per operation: there is no 50-alert Zabbix body")
        base = run_id * 10_000_000
        if scenario is Scenario.UNIQUE:
            return (lambda n: _zbx_body("problem", base + n, f"zh{tag}-{n % 997}", None, 1795300000 + n)), 1
        if scenario is Scenario.DUPLICATES:
            pool = [
                _zbx_body("problem", base + i, f"zh{tag}-{i}", None, 1795300000)
                for i in range(DUPLICATE_POOL)
            ]
            return (lambda n: pool[n % DUPLICATE_POOL]), 1

        def zbx_flap(n: int) -> bytes:
            # Problem k of alert i, then its recovery: each firing is a new Zabbix problem event.
            i, step = n % FLAP_ALERTS, n // FLAP_ALERTS
            event = base + (step // 2) * FLAP_ALERTS + i
            if step % 2 == 0:
                return _zbx_body("problem", event, f"zh{tag}-{i}", None, 1795300000 + step)
            return _zbx_body("recovery", event, f"zh{tag}-{i}", event + 5_000_000, 1795300000 + step)

        return zbx_flap, 1

    if scenario is Scenario.UNIQUE:
        return (
            lambda n: _am_notification(
                [_am_alert(f"{tag}{n:012x}", f"h{tag}-{n % 997}", "firing", _EPOCH_NS + n * 1000)]
            )
        ), 1
    if scenario is Scenario.STORM:
        return (
            lambda n: _am_notification(
                [
                    _am_alert(
                        f"{tag}{n:08x}{i:04x}",
                        f"h{tag}-{i}",
                        "firing",
                        _EPOCH_NS + (n * STORM_SIZE + i) * 1000,
                    )
                    for i in range(STORM_SIZE)
                ]
            )
        ), STORM_SIZE
    if scenario is Scenario.DUPLICATES:
        pool = [
            _am_notification([_am_alert(f"{tag}d{i:011x}", f"h{tag}-{i}", "firing", _EPOCH_NS)])
            for i in range(DUPLICATE_POOL)
        ]
        return (lambda n: pool[n % DUPLICATE_POOL]), 1

    def am_flap(n: int) -> bytes:
        # Alert i fires (a new start each time: a new occurrence), then resolves, and so on.
        i, step = n % FLAP_ALERTS, n // FLAP_ALERTS
        status = "firing" if step % 2 == 0 else "resolved"
        starts = _EPOCH_NS + (step // 2) * 120_000_000_000
        return _am_notification([_am_alert(f"{tag}f{i:011x}", f"h{tag}-{i}", status, starts)])

    return am_flap, 1


# -- the run -----------------------------------------------------------------------------------


def require_loopback(url: str) -> str:
    """The host of `url` if it is a loopback address; SystemExit otherwise."""
    host = urlsplit(url).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise SystemExit(f"refusing to load {host or url!r}: the generator posts to loopback addresses only")
    return host


async def _run(
    url: str,
    token: str,
    source: SourceKind,
    scenario: Scenario,
    concurrency: int,
    seconds: float,
    warmup: float,
    run_id: int,
) -> LoadResult:
    make_body, per_body = body_factory(source, scenario, run_id)
    counter = itertools.count()
    latencies: list[float] = []
    non_2xx = 0
    errors = 0
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    endpoint = f"{url.rstrip('/')}/webhooks/{source.value}"
    loop = asyncio.get_running_loop()
    start = loop.time()
    counted_from = start + warmup
    stop = counted_from + seconds
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)

    async def sender(http: aiohttp.ClientSession) -> None:
        nonlocal non_2xx, errors
        while True:
            body = make_body(next(counter))
            sent = loop.time()
            if sent >= stop:
                return
            try:
                async with http.post(endpoint, data=body, headers=headers) as answer:
                    await answer.read()
                    status = answer.status
            except (aiohttp.ClientError, TimeoutError):
                if sent >= counted_from:
                    errors += 1
                await asyncio.sleep(0.05)
                continue
            done = loop.time()
            if sent < counted_from or done > stop:
                continue  # warm-up, or finished after the window: neither counts
            if 200 <= status < 300:
                latencies.append(done - sent)
            else:
                non_2xx += 1

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        await asyncio.gather(*(sender(http) for _ in range(concurrency)))
    return summarize(source, scenario, concurrency, seconds, per_body, latencies, non_2xx, errors)


def summarize(
    source: SourceKind,
    scenario: Scenario,
    concurrency: int,
    seconds: float,
    per_body: int,
    latencies: list[float],
    non_2xx: int,
    errors: int,
) -> LoadResult:
    ordered = sorted(latencies)

    def ms(q: float) -> float:
        if not ordered:
            return 0.0
        if len(ordered) == 1:
            return round(ordered[0] * 1000, 1)
        cut = statistics.quantiles(ordered, n=100, method="inclusive")
        return round(cut[int(q) - 1] * 1000, 1)

    count = len(ordered)
    return LoadResult(
        source=source.value,
        scenario=scenario.value,
        concurrency=concurrency,
        seconds=seconds,
        alerts_per_notification=per_body,
        notifications=count,
        notifications_per_s=round(count / seconds, 1),
        alerts_per_s=round(count * per_body / seconds, 1),
        p50_ms=ms(50),
        p95_ms=ms(95),
        p99_ms=ms(99),
        max_ms=round(ordered[-1] * 1000, 1) if ordered else 0.0,
        non_2xx=non_2xx,
        errors=errors,
    )


def run(
    url: str,
    token: str,
    source: SourceKind | str = SourceKind.ALERTMANAGER,
    scenario: Scenario | str = Scenario.UNIQUE,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    seconds: float = 10.0,
    warmup: float = 1.0,
    run_id: int = 0,
) -> LoadResult:
    """Load `url` (loopback only) with one scenario; blocks for `warmup + seconds`."""
    require_loopback(url)
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    return asyncio.run(
        _run(url, token, SourceKind(source), Scenario(scenario), concurrency, seconds, warmup, run_id)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", required=True, help="the server, e.g. http://127.0.0.1:8080 (loopback only)")
    parser.add_argument("--token", required=True, help="the webhook's bearer token")
    parser.add_argument("--source", choices=[s.value for s in SourceKind], default="alertmanager")
    parser.add_argument("--scenario", choices=[s.value for s in Scenario], default="unique")
    parser.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--run-id", type=int, default=int(time.time()) % 0xFFFF)
    args = parser.parse_args()
    result = run(
        args.url,
        args.token,
        args.source,
        args.scenario,
        concurrency=args.concurrency,
        seconds=args.seconds,
        warmup=args.warmup,
        run_id=args.run_id,
    )
    report(
        "loadgen",
        f"{args.scenario} {args.source} notifications from {args.concurrency} async closed-loop senders "
        f"for {args.seconds:g}s (after {args.warmup:g}s warm-up) against {args.url}",
        result.figures(),
    )


if __name__ == "__main__":
    main()
