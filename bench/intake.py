"""Webhook intake: notifications per second accepted durably (committed before the 202).

Workload: `bridge serve` (waitress, 8 threads) in its own process on a fresh database with the
in-process worker running; 2 client processes x 8 threads with keep-alive connections post
Alertmanager notifications for `--seconds`: first single-alert notifications (every body
distinct, so every one is stored), then 50-alert notifications. Reports accepted per second and
latency percentiles. Client and server share the machine's 2 cores.

    python -m bench.intake --db sqlite|postgres|postgresql://... [--seconds 10]
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import database_argument, fresh_database, report, serve_env
from tests.support.postgres import free_port

TOKEN = "bench-token"  # noqa: S105 - a throwaway token for a throwaway server


def body(client: int, n: int, size: int) -> bytes:
    start = datetime(2026, 11, 22, tzinfo=UTC) + timedelta(microseconds=n)
    alerts = [
        {
            "status": "firing",
            "labels": {
                "alertname": "BenchAlert",
                "instance": f"h{client}-{n}-{i}:9100",
                "severity": "warning",
            },
            "annotations": {"summary": "bench"},
            "startsAt": start.isoformat(),
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph",
            "fingerprint": f"{client:02d}{n:08d}{i:06d}",
        }
        for i in range(size)
    ]
    return json.dumps({"version": "4", "status": "firing", "receiver": "bridge", "alerts": alerts}).encode()


def client(port: int, worker: int, size: int, seconds: float, out: Any, token: str = TOKEN) -> None:

    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def run(thread: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        n = 0
        mine = []
        bad = 0
        while time.monotonic() < deadline:
            payload = body(worker * 100 + thread, n, size)
            n += 1
            started = time.perf_counter()
            connection.request(
                "POST",
                "/webhooks/alertmanager",
                body=payload,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            )
            response = connection.getresponse()
            response.read()
            if response.status == 202:
                mine.append(time.perf_counter() - started)
            else:
                bad += 1
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=run, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.put((latencies, errors[0]))


def measure(port: int, size: int, seconds: float, token: str = TOKEN) -> dict[str, float]:
    queue: Any = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(target=client, args=(port, w, size, seconds, queue, token)) for w in range(2)
    ]
    for p in processes:
        p.start()
    results = [queue.get() for _ in processes]
    for p in processes:
        p.join()
    latencies = sorted(x for r in results for x in r[0])
    errors = sum(r[1] for r in results)
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "accepted_per_s": round(len(latencies) / seconds),
        "alerts_per_s": round(len(latencies) * size / seconds),
        "p50_ms": round(quantiles[49] * 1000, 1),
        "p99_ms": round(quantiles[98] * 1000, 1),
        "non_2xx": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    database_argument(parser)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    with fresh_database(args.db) as url:
        port = free_port()
        env = serve_env(url, TOKEN)
        server = subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL
        )
        try:
            for _ in range(100):
                try:
                    http.client.HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                    break
                except OSError:
                    time.sleep(0.1)
            single = measure(port, 1, args.seconds)
            batch = measure(port, 50, args.seconds)
        finally:
            server.terminate()
            server.wait(30)
    report(
        "intake",
        f"{args.db.split('@')[-1]}: bridge serve (waitress 8 threads, worker thread on), 2 client "
        f"processes x 8 keep-alive threads, {args.seconds:g}s of 1-alert then of 50-alert notifications",
        {
            "single_alert_notifications_per_s": single["accepted_per_s"],
            "single_p50_ms": single["p50_ms"],
            "single_p99_ms": single["p99_ms"],
            "batch_alerts_per_s": batch["alerts_per_s"],
            "batch_p50_ms": batch["p50_ms"],
            "batch_p99_ms": batch["p99_ms"],
            "non_2xx": single["non_2xx"] + batch["non_2xx"],
        },
    )


if __name__ == "__main__":
    main()
