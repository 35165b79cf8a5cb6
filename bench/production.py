"""Production mode end to end: intake through gunicorn + rq, processing by `bridge worker`s.

Workload: a throwaway durable PostgreSQL cluster and a throwaway Redis; gunicorn running
bridge's WSGI app (`bridge.web.gunicorn_config`: 2 processes x 4 threads) and `--workers` `bridge
worker` processes (default 2), the example rules. Two phases:

1. sustained intake: 2 client processes x 8 keep-alive threads post single-alert Alertmanager
   notifications (every body distinct) for `--seconds` while the workers process them; reports
   accepted per second, latency percentiles, and how long the workers took to finish after the
   clients stopped;
2. a storm: the bench.pipeline workload (400 notifications x 50 alerts: 5,000 new, an HA peer's
   5,000 repeats, 5,000 resolutions; 100 exact redeliveries stopped at the intake log) posted by
   8 threads as fast as gunicorn takes them; reports alert events per second from the first post
   until the workers have processed the last delivery.

Everything shares the machine's 2 cores.

    python -m bench.production [--seconds 10] [--workers 2]
"""

from __future__ import annotations

import argparse
import contextlib
import threading
import time

import requests

from bench.common import REPO, production_stack, report
from bench.intake import measure
from bench.pipeline import notifications
from tests.support.app import AM_TOKEN
from tests.support.stack import Stack, wait_for


def storm(stack: Stack) -> tuple[float, int]:
    """Post the pipeline bench's deliveries with 8 threads; seconds until all are processed."""
    deliveries = [raw for _, raw in notifications()]
    stored = len({raw for raw in deliveries})
    chunks = [deliveries[i::8] for i in range(8)]
    errors: list[int] = []

    def post(chunk: list[bytes]) -> None:
        with requests.Session() as http:
            for raw in chunk:
                answer = http.post(
                    f"{stack.url}/webhooks/alertmanager",
                    data=raw,
                    headers={"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"},
                    timeout=30,
                )
                if answer.status_code != 202:
                    errors.append(answer.status_code)

    already = stack.intake_counts().get("done", 0)
    started = time.perf_counter()
    threads = [threading.Thread(target=post, args=(c,)) for c in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stack.wait_processed(already + stored, timeout=600)
    assert not errors, errors
    return time.perf_counter() - started, stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with contextlib.ExitStack() as stack_of:
        stack = production_stack(stack_of, REPO / "rules", args.workers)
        try:
            sustained = measure(stack.port, 1, args.seconds, token=AM_TOKEN)
            stopped = time.perf_counter()
            total = sum(stack.intake_counts().values())
            wait_for(lambda: stack.intake_counts() == {"done": total}, 600, "the workers to catch up", 0.1)
            catch_up = time.perf_counter() - stopped
            storm_seconds, stored = storm(stack)
        finally:
            stack.stop()
    report(
        "production",
        f"gunicorn 2x4 threads + {args.workers} bridge workers (rq) on durable PostgreSQL and Redis, "
        f"example rules; {args.seconds:g}s of 1-alert notifications from 2 processes x 8 threads, then "
        f"the bench.pipeline storm (400 notifications x 50 alerts, {stored} stored) from 8 threads",
        {
            "sustained_notifications_per_s": sustained["accepted_per_s"],
            "sustained_p50_ms": sustained["p50_ms"],
            "sustained_p99_ms": sustained["p99_ms"],
            "sustained_non_2xx": sustained["non_2xx"],
            "workers_caught_up_after_s": round(catch_up, 2),
            "storm_alert_events_per_s": round(stored * 50 / storm_seconds),
            "storm_seconds_to_processed": round(storm_seconds, 2),
        },
    )


if __name__ == "__main__":
    main()
