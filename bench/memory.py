"""Memory of the long-lived processes over a long run: RSS before and after `--alerts` alert events.

Workload: production mode as bench/stormscale.py starts it (a throwaway durable PostgreSQL
cluster and a throwaway Redis; gunicorn running bridge's WSGI app with `bridge.web.gunicorn_config`,
2 processes; `--workers` `bridge worker`s, default 2; the example rules plus bench/rules/stormscale).
`--senders` threads (default 8) post Alertmanager v4 notifications of 50 alerts each, generated
as they are sent (deterministic), pausing while more than `--backlog` deliveries (default 400)
wait to be decided (a steady state, not a backlog of the whole run); notification n holds:

- 48 alerts of an estate of 4,800 (960 hosts x 5 of bench.pipeline's names) in 100 groups,
  re-sent group by group round after round (an annotation's value changes each round, so every
  notification is stored and decided; HA peers alternate); in each round one alert in 20
  resolves, and fires again the next round;
- 1 distinct new alert (a new host, fingerprint and label values), firing;
- 1 resolve of the new alert of notification n - 200 (before that: another new alert).

So 96% repeats and resolves of a known set, 2% first sight of a new alert, 2% resolves of those.
First a warm-up (`--warmup`, default 20,000 alert events of the same workload: imports, pools,
caches, the estate's first sight), then RSS (VmRSS from /proc/<pid>/status) of the gunicorn
master, each gunicorn worker and each `bridge worker`; then `--alerts` alert events (default
1,000,000), wait until the workers have decided every delivery, settle 5 s, RSS again.
Printed: before / after / growth per process, the totals, growth per 100,000 alert events, the
web and worker RSS summed each time another tenth of the run was decided (`trace`), whether a
gunicorn worker was replaced (gunicorn's max_requests: its growth is then that of a new
process), and the issue 18 target as `target_met`: no process
grew by more than 50 MB.

    python -m bench.memory [--alerts 1000000] [--warmup 20000] [--workers 2] [--senders 8]
        [--backlog 400]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import sys
import threading
import time
from collections.abc import Iterator

from bench.common import NAMES, production_stack, report
from bench.stormscale import (
    Sampler,
    _alert,
    _body,
    bench_rules,
    children,
    pending,
    rss_mb,
    send,
)
from tests.support.stack import Stack, wait_for

GROUP = 50
ESTATE_HOSTS = 960
ESTATE_PER_NOTIFICATION = 48
ESTATE_GROUPS = ESTATE_HOSTS * len(NAMES) // ESTATE_PER_NOTIFICATION  # 100
RESOLVE_AFTER = 200
"""A new alert resolves this many notifications after it fired."""
TARGET_MB = 50.0


def _new(k: int, resolved: bool) -> dict[str, object]:
    name, severity = NAMES[k % len(NAMES)]
    return _alert(name, f"new-{k:07d}", severity, f"new{k:07d}", k, resolved)


def body(n: int) -> bytes:
    """Notification n of the workload (see the module's docstring)."""
    round_, g = divmod(n, ESTATE_GROUPS)
    alerts = []
    for i in range(g * ESTATE_PER_NOTIFICATION, (g + 1) * ESTATE_PER_NOTIFICATION):
        host, m = divmod(i, len(NAMES))
        name, severity = NAMES[m]
        resolved = (i + round_) % 20 == 0
        alerts.append(_alert(name, f"estate-{host:04d}", severity, f"estate{i:05d}", round_, resolved))
    alerts.append(_new(2 * n, False))
    alerts.append(_new(2 * (n - RESOLVE_AFTER), True) if n >= RESOLVE_AFTER else _new(2 * n + 1, False))
    return _body(alerts, g, round_ % 2)


def post_range(stack: Stack, first: int, count: int, senders: int, backlog: int) -> None:
    """Post notifications first .. first+count-1 from `senders` threads, in order (each takes the
    next number), pausing while more than `backlog` deliveries wait to be decided."""
    numbers = itertools.count(first)
    lock = threading.Lock()

    def stream() -> Iterator[bytes]:
        while True:
            with lock:
                n = next(numbers)
                if n % 20 == 0:  # the senders wait for the workers: a steady state, not a backlog
                    while pending(stack) > backlog:
                        time.sleep(0.2)
            if n >= first + count:
                return
            yield body(n)

    send(stack, [stream() for _ in range(senders)])


class Trace(Sampler):
    """RSS of the web and worker processes each time another tenth of the run is decided."""

    def __init__(self, stack: Stack, done_before: int, deliveries: int) -> None:
        super().__init__(stack)
        self.done_before = done_before
        self.step = max(1, deliveries // 10)
        self.samples: list[dict[str, object]] = []

    def _run(self) -> None:
        next_at = self.step
        while not self._stop.wait(1.0):
            done = self.stack.intake_counts().get("done", 0) - self.done_before
            if done >= next_at:
                now = processes(self.stack)
                web = [pid for name, pid in now.items() if name.startswith("web")]
                workers = [pid for name, pid in now.items() if name.startswith("bridge")]
                sample: dict[str, object] = {
                    "alert_events_decided": done * GROUP,
                    "web_mb": rss_mb(web),
                    "workers_mb": rss_mb(workers),
                }
                self.samples.append(sample)
                progress = {"trace": sample, "rss_mb": rss(now)}
                print(json.dumps(progress), file=sys.stderr, flush=True)  # a long run's progress
                next_at = (done // self.step + 1) * self.step


def processes(stack: Stack) -> dict[str, int]:
    """Name -> pid of every long-lived process of the stack."""
    assert stack.web is not None
    found = {"web_master": stack.web.pid}
    for i, pid in enumerate(sorted(children(stack.web.pid)), 1):
        found[f"web_worker_{i}"] = pid
    for i, worker in enumerate(stack.workers, 1):
        found[f"bridge_worker_{i}"] = worker.pid
    return found


def rss(pids: dict[str, int]) -> dict[str, float]:
    return {name: rss_mb([pid]) for name, pid in pids.items()}


def settle(stack: Stack) -> None:
    wait_for(lambda: pending(stack) == 0, 7200, "the workers to finish", 0.2)
    time.sleep(5)  # the last job's tail, a tick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=1_000_000, help="alert events between the readings")
    parser.add_argument("--warmup", type=int, default=20_000, help="alert events before the first reading")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument(
        "--backlog", type=int, default=400, help="deliveries waiting at most before the senders pause"
    )
    args = parser.parse_args()
    warm = args.warmup // GROUP
    count = args.alerts // GROUP
    with contextlib.ExitStack() as stack_of:
        stack = production_stack(stack_of, stack_of.enter_context(bench_rules()), args.workers)
        try:
            post_range(stack, 0, warm, args.senders, args.backlog)
            settle(stack)
            pids = processes(stack)
            before = rss(pids)
            print(json.dumps({"rss_before_mb": before}), file=sys.stderr, flush=True)
            done_before = stack.intake_counts().get("done", 0)
            started = time.perf_counter()
            with Trace(stack, done_before, count) as trace:
                post_range(stack, warm, count, args.senders, args.backlog)
                posted = time.perf_counter() - started
                settle(stack)
            elapsed = time.perf_counter() - started - 5
            now = processes(stack)
            after = rss(pids)
            counts = stack.intake_counts()
        finally:
            stack.stop()
    if set(counts) != {"done"}:
        raise AssertionError(f"deliveries not done: {counts}")
    replaced = sorted(name for name, pid in pids.items() if now.get(name) != pid)
    for name in replaced:  # a recycled gunicorn worker: its successor's RSS, a new process's
        after[name] = rss_mb([now[name]]) if name in now else 0.0
    growth = {name: round(after[name] - before[name], 1) for name in pids}
    web_names = [n for n in pids if n.startswith("web")]
    worker_names = [n for n in pids if n.startswith("bridge")]
    per_100k = 100_000 / (count * GROUP) if count else 0.0
    report(
        "memory",
        f"gunicorn 2 processes + {args.workers} bridge workers (rq) on durable PostgreSQL and Redis, "
        f"example rules + bench/rules/stormscale; {args.senders} senders posting 50-alert Alertmanager "
        f"notifications: an estate of 4,800 alerts re-sent round after round (1 in 20 resolving and "
        f"firing again), 1 new distinct alert and 1 resolve of a new alert per notification; "
        f"RSS (VmRSS) after a {warm * GROUP:,}-alert warm-up and after {count * GROUP:,} more alert "
        f"events, once the workers had decided every delivery and 5 s later",
        {
            "alert_events": count * GROUP,
            "alerts_per_s": round(count * GROUP / elapsed) if elapsed > 0 else None,
            "posted_in_s": round(posted, 1),
            "processed_in_s": round(elapsed, 1),
            "rss_before_mb": before,
            "rss_after_mb": after,
            "growth_mb": growth,
            "growth_web_mb": round(sum(growth[n] for n in web_names), 1),
            "growth_workers_mb": round(sum(growth[n] for n in worker_names), 1),
            "growth_per_100k_alerts_mb": {n: round(g * per_100k, 2) for n, g in growth.items()},
            "web_workers_replaced": replaced,
            "trace": trace.samples,
            "target_growth_mb": TARGET_MB,
            "target_met": max(growth.values()) <= TARGET_MB,
        },
    )


if __name__ == "__main__":
    main()
