"""A storm on the embedded default: one 10,000-alert Alertmanager notification, and how bridge
answers everyone else while it processes it.

Workload: `bridge serve` (waitress, 8 threads, in-process worker thread, example rules) in its own
process on a fresh SQLite database. One notification of `--alerts` firing alerts of distinct
hosts (about 300 bytes each: 3 MB for 10,000; what Alertmanager sends with `max_alerts: 0`) is
posted; from the moment it is accepted until the worker has decided every alert of it, five
threads keep asking, each about every `--pause` seconds: a small webhook (one new alert), `GET
/api/incidents`, `GET /metrics`, `GET /readyz`, and a comment on incident 1 (a write, as an
acknowledgement is; 404 until the first slice has opened it). Reports per endpoint the worst and p99 latency
and the count of 5xx (and of requests that got no answer), and the processing time (202 of the
big notification to every alert decided, as /metrics counts them).

    python -m bench.storm [--alerts 10000] [--pause 0.1]
"""

from __future__ import annotations

import argparse
import http.client
import json
import re
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bench.common import fresh_database, report, serve_env
from tests.support.postgres import free_port

TOKEN = "bench-token"  # noqa: S105 - a throwaway token for a throwaway server
TIMEOUT = 60.0
"""Seconds a probe waits for an answer before counting it as unanswered."""
LIMIT = 900.0
"""Seconds the storm may take to process before the benchmark gives up."""


def storm_body(count: int, started: datetime) -> bytes:
    alerts = [
        {
            "status": "firing",
            "labels": {
                "alertname": "PodCrashLooping",
                "instance": f"n{i:05d}:9100",
                "severity": "warning",
            },
            "annotations": {"summary": f"web-{i:05d} restarts"},
            "startsAt": started.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prom:9090/graph",
            "fingerprint": f"{i:016x}",
        }
        for i in range(count)
    ]
    notification = {
        "version": "4",
        "status": "firing",
        "receiver": "bridge",
        "groupKey": '{}:{alertname="PodCrashLooping"}',
        "truncatedAlerts": 0,
        "groupLabels": {"alertname": "PodCrashLooping"},
        "commonLabels": {"alertname": "PodCrashLooping"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": alerts,
    }
    return json.dumps(notification, separators=(",", ":")).encode()


def probe_body(n: int) -> bytes:
    alert = {
        "status": "firing",
        "labels": {"alertname": "StormProbe", "instance": f"probe-{n}:9100", "severity": "warning"},
        "annotations": {"summary": "a webhook sent during the storm"},
        "startsAt": datetime.now(UTC).isoformat(),
        "endsAt": "0001-01-01T00:00:00Z",
        "fingerprint": f"probe{n:011d}",
    }
    return json.dumps({"version": "4", "status": "firing", "receiver": "bridge", "alerts": [alert]}).encode()


@dataclass
class Probe:
    """What one endpoint answered during the storm."""

    latencies: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    unanswered: int = 0

    def figures(self) -> dict[str, object]:
        ordered = sorted(self.latencies)
        if len(ordered) >= 2:  # inclusive: never above the worst seen
            p99 = statistics.quantiles(ordered, n=100, method="inclusive")[98]
        else:
            p99 = (ordered or [0.0])[0]
        return {
            "requests": len(ordered) + self.unanswered,
            "worst_ms": round(max(ordered, default=0.0) * 1000, 1),
            "p99_ms": round(p99 * 1000, 1),
            "5xx": sum(1 for s in self.statuses if s >= 500),
            "answers": {str(status): n for status, n in sorted(Counter(self.statuses).items())},
            "unanswered": self.unanswered,
        }


class Server:
    def __init__(self, port: int) -> None:
        self.port = port

    def request(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes, float]:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        started = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            return response.status, data, time.perf_counter() - started
        finally:
            connection.close()


def decided(metrics: str) -> tuple[float, float]:
    """(alerts decided so far, deliveries pending) as /metrics says."""
    total = sum(float(m) for m in re.findall(r"^bridge_decisions_total\{[^}]*\} (\S+)$", metrics, re.M))
    pending = re.search(r'^bridge_intake\{status="pending"\} (\S+)$', metrics, re.M)
    return total, float(pending.group(1)) if pending else -1.0


def run(alerts: int, pause: float) -> dict[str, object]:
    with fresh_database("sqlite") as url:
        port = free_port()
        env = serve_env(url, TOKEN)
        command = [sys.executable, "-m", "bridge", "serve", "--port", str(port)]
        server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
        try:
            return storm(Server(port), alerts, pause)
        finally:
            server.terminate()
            server.wait(30)


def storm(server: Server, alerts: int, pause: float) -> dict[str, object]:
    for _ in range(200):
        try:
            if server.request("GET", "/readyz")[0] == 200:
                break
        except OSError:
            pass
        time.sleep(0.1)
    body = storm_body(alerts, datetime.now(UTC))
    status, answer, big_seconds = server.request("POST", "/webhooks/alertmanager", body)
    accepted = time.monotonic()
    if status != 202:
        raise SystemExit(f"the storm notification was answered {status}: {answer[:300]!r}")
    probes = {name: Probe() for name in ("webhook", "api_incidents", "metrics", "readyz", "api_comment")}
    done = threading.Event()
    lock = threading.Lock()
    processed_after: list[float] = []

    def ask(name: str, method: str, path: str, body: bytes | None = None) -> bytes:
        try:
            status, data, seconds = server.request(method, path, body)
        except OSError:
            with lock:
                probes[name].unanswered += 1
            return b""
        with lock:
            probes[name].latencies.append(seconds)
            probes[name].statuses.append(status)
        return data

    def webhooks() -> None:
        n = 0
        while not done.is_set():
            ask("webhook", "POST", "/webhooks/alertmanager", probe_body(n))
            n += 1
            time.sleep(pause)

    def reads(name: str, path: str) -> None:
        while not done.is_set():
            ask(name, "GET", path)
            time.sleep(pause)

    def comments() -> None:
        comment = json.dumps({"comment": "seen, the storm is being looked at"}).encode()
        while not done.is_set():
            ask("api_comment", "POST", "/api/incidents/1/comment", comment)
            time.sleep(pause)

    def metrics() -> None:
        while not done.is_set():
            text = ask("metrics", "GET", "/metrics").decode()
            total, pending = decided(text)
            if total >= alerts and pending == 0:
                processed_after.append(time.monotonic() - accepted)
                done.set()
            elif time.monotonic() - accepted > LIMIT:
                done.set()
            time.sleep(pause)

    threads = [
        threading.Thread(target=webhooks),
        threading.Thread(target=reads, args=("api_incidents", "/api/incidents?limit=20")),
        threading.Thread(target=reads, args=("readyz", "/readyz")),
        threading.Thread(target=metrics),
        threading.Thread(target=comments),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    figures = {name: probe.figures() for name, probe in probes.items()}
    return {
        "storm_body_bytes": len(body),
        "storm_webhook_ms": round(big_seconds * 1000, 1),
        "processing_s": round(processed_after[0], 1) if processed_after else None,
        "processed": bool(processed_after),
        "worst_ms": max(float(str(f["worst_ms"])) for f in figures.values()),
        "total_5xx": sum(int(str(f["5xx"])) for f in figures.values()),
        "unanswered": sum(int(str(f["unanswered"])) for f in figures.values()),
        **figures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=10_000)
    parser.add_argument("--pause", type=float, default=0.1, help="seconds between a probe's requests")
    args = parser.parse_args()
    figures = run(args.alerts, args.pause)
    report(
        "storm",
        f"sqlite: bridge serve (waitress 8 threads, worker thread on, example rules); one "
        f"{args.alerts}-alert Alertmanager notification of distinct hosts, then until it is "
        f"processed 5 threads each asking every {args.pause:g}s: a 1-alert webhook, "
        "GET /api/incidents, GET /metrics, GET /readyz, POST /api/incidents/1/comment",
        figures,
    )


if __name__ == "__main__":
    main()
