"""The worker pipeline at storm scale, end to end: intake, `bridge worker`s, rules, ticketing.

Workload: a throwaway durable PostgreSQL cluster and a throwaway Redis; gunicorn running
bridge's WSGI app (`bridge.web.gunicorn_config`, 2 processes) and `--workers` `bridge worker`
processes (default 2), the example rules plus one bench rule (`bench/rules/stormscale`: alerts
named BenchPage open an incident each, at once, outside storm detection). `--senders` threads
(default 8) post Alertmanager v4 notifications of 50 alerts as fast as gunicorn takes them.
The phases start once every worker listens on the queue (`bench.common.production_stack`). Two
phases, each timed from the first post until the workers have decided the last delivery:

1. dedup-heavy storm (`--alerts`, default 100,000 alert events): 5,000 alerts (1,000 hosts x 5
   of bench.pipeline's names) in 100 groups of 50, every group re-sent round after round as
   Alertmanager's group_interval does (an annotation's value changes, so each is stored and
   decided: a repeat), the last round resolving them; HA peers alternate;
2. every alert opens its own incident (`--unique-alerts`, default 100,000): distinct hosts,
   BenchPage, 50 per notification.

In both phases, while the load is posted, a probe posts one single-alert BenchPage notification
(a new alert whose rule opens an incident at once) every 200 ms and polls (every 10 ms) for its
alert to be attached to an incident: webhook-to-incident as a sender sees it, committed. Posted
as fast as taken, that is mostly the age of the backlog the load built; `--rate` (and
`--own-rate` for the second phase) offers the load at a fixed rate instead.

Queue lag: a sampler asks every 100 ms for the age of the oldest pending delivery (in the
database's clock); max and p99 per phase.

Memory (`--memory`): RSS of the gunicorn processes and of the worker processes (from /proc)
after a warm-up of 20,000 alert events and after the whole run, for a 1,000,000-alert run
pass `--alerts 1000000`.

    python -m bench.stormscale [--alerts 100000] [--unique-alerts 100000] [--workers 2] [--memory]
                               [--rate EVENTS_PER_S [--own-rate EVENTS_PER_S]] [--worker-nice N]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Self

import requests
from sqlalchemy import text

from bench.common import NAMES, REPO, production_stack, report
from tests.support.app import AM_TOKEN
from tests.support.stack import Stack, wait_for

GROUP = 50
HOSTS = 1000
T0 = datetime(2026, 11, 22, tzinfo=UTC)
HEADERS = {"Authorization": f"Bearer {AM_TOKEN}", "Content-Type": "application/json"}


def _alert(
    name: str, host: str, severity: str, fingerprint: str, value: int, resolved: bool
) -> dict[str, object]:
    return {
        "status": "resolved" if resolved else "firing",
        "fingerprint": fingerprint,
        "labels": {"alertname": name, "instance": f"{host}:9100", "severity": severity, "job": "node"},
        "annotations": {"summary": f"{name} on {host}", "value": str(value)},
        "startsAt": T0.isoformat(),
        "endsAt": (T0 + timedelta(hours=1)).isoformat() if resolved else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus/graph",
    }


def _body(alerts: list[dict[str, object]], group: int, peer: int) -> bytes:
    status = "resolved" if all(a["status"] == "resolved" for a in alerts) else "firing"
    return json.dumps(
        {
            "version": "4",
            "status": status,
            "alerts": alerts,
            "receiver": "bridge",
            "groupKey": f'{{}}:{{group="{group}"}}',
            "externalURL": f"http://alertmanager-{peer}:9093",
        }
    ).encode()


def storm_bodies(events: int) -> list[bytes]:
    """`events` alert events: the 5,000 storm alerts re-sent group by group, round after round,
    the last round resolving them."""
    alerts = [
        (name, f"host-{h:04d}", severity, f"storm{h:04d}{n:02d}")
        for h in range(HOSTS)
        for n, (name, severity) in enumerate(NAMES)
    ]
    groups = [alerts[i : i + GROUP] for i in range(0, len(alerts), GROUP)]
    notifications = events // GROUP
    rounds = -(-notifications // len(groups))
    bodies = []
    for n in range(notifications):
        round_, g = divmod(n, len(groups))
        resolved = round_ == rounds - 1 and rounds > 1
        members = [_alert(*a, value=round_, resolved=resolved) for a in groups[g]]
        bodies.append(_body(members, g, round_ % 2))
    return bodies


def unique_bodies(events: int) -> list[bytes]:
    """`events` alerts, each about its own host, each opening its own incident."""
    bodies = []
    for n in range(events // GROUP):
        members = [
            _alert("BenchPage", f"u{i:07d}", "critical", f"u{i:07d}", 0, False)
            for i in range(n * GROUP, (n + 1) * GROUP)
        ]
        bodies.append(_body(members, 100_000 + n, 0))
    return bodies


def post_all(stack: Stack, bodies: list[bytes], senders: int, rate: float = 0) -> None:
    """Post `bodies` from `senders` threads: as fast as they are taken, or with `rate` at that
    many alert events per second in all (an open-loop storm of a given size: notification i is
    due at i * GROUP / rate seconds; a sender that falls behind posts at once)."""
    if not rate:
        send(stack, [bodies[i::senders] for i in range(senders)])
        return
    started = time.perf_counter()

    def paced(first: int) -> Iterator[bytes]:
        for n, raw in enumerate(bodies[first::senders]):
            due = started + (first + n * senders) * GROUP / rate
            time.sleep(max(0.0, due - time.perf_counter()))
            yield raw

    send(stack, [paced(i) for i in range(senders)])


def send(stack: Stack, streams: list[Iterable[bytes]]) -> None:
    """Post each stream's notifications from a thread of its own, on one keep-alive session each;
    every notification must be accepted (202)."""
    errors: list[int] = []

    def post(stream: Iterable[bytes]) -> None:
        with requests.Session() as http:
            for raw in stream:
                answer = http.post(
                    f"{stack.url}/webhooks/alertmanager", data=raw, headers=HEADERS, timeout=60
                )
                if answer.status_code != 202:
                    errors.append(answer.status_code)

    threads = [threading.Thread(target=post, args=(stream,)) for stream in streams]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise AssertionError(f"{len(errors)} notifications refused: {sorted(set(errors))}")


def pending(stack: Stack) -> int:
    with stack.engine.connect() as connection:
        return connection.execute(text("SELECT count(*) FROM intake WHERE status = 'pending'")).scalar_one()


class Sampler:
    """Something read from the running stack in a thread of its own, within a `with` block."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        raise NotImplementedError


class LagSampler(Sampler):
    """The age of the oldest pending delivery, every `every` seconds, while running."""

    def __init__(self, stack: Stack, every: float = 0.1) -> None:
        super().__init__(stack)
        self.every = every
        self.samples: list[float] = []

    def _run(self) -> None:
        query = text(
            "SELECT coalesce(extract(epoch FROM now() - (SELECT received_at FROM intake "
            "WHERE status = 'pending' ORDER BY id LIMIT 1)), 0)"
        )
        with self.stack.engine.connect() as connection:
            while not self._stop.wait(self.every):
                self.samples.append(float(connection.execute(query).scalar_one()))
                connection.rollback()  # a fresh snapshot each time

    def figures(self) -> dict[str, float]:
        samples = sorted(self.samples) or [0.0]
        return {"max_s": round(samples[-1], 2), "p99_s": round(percentile(samples, 0.99), 2)}


class Probe:
    """One single-alert BenchPage notification every `every` seconds; for each, the time from
    its post to the first poll that sees its alert attached to an incident."""

    def __init__(self, stack: Stack, phase: str, every: float = 0.2) -> None:
        self.stack = stack
        self.phase = phase  # in the probes' fingerprints: each phase's probes are new alerts
        self.every = every
        self.latencies: list[float] = []
        self.unanswered = 0
        self._stop = threading.Event()
        self._posted = threading.Event()  # the last probe was posted
        self._sent: dict[str, float] = {}
        self._lock = threading.Lock()
        self._threads = [
            threading.Thread(target=self._post, daemon=True),
            threading.Thread(target=self._poll, daemon=True),
        ]

    def __enter__(self) -> Probe:
        for thread in self._threads:
            thread.start()
        return self

    def stop_posting(self) -> None:
        """No more probes: the load they measure latency under has been posted."""
        self._stop.set()
        self._threads[0].join()
        self._posted.set()

    def __exit__(self, *_exc: object) -> None:
        self.stop_posting()
        try:
            wait_for(lambda: not self._sent, 120, "the probes' incidents", 0.1)
        except AssertionError:
            raise AssertionError(f"probes without an incident: {sorted(self._sent)[:5]}...") from None
        self._threads[1].join()

    def _post(self) -> None:
        n = 0
        with requests.Session() as http:
            while not self._stop.wait(self.every):
                n += 1
                fingerprint = f"probe{self.phase}{n:06d}"
                host = f"probe-{self.phase}-{n:06d}"
                raw = _body([_alert("BenchPage", host, "critical", fingerprint, 0, False)], -n, 0)
                sent = time.perf_counter()
                answer = http.post(
                    f"{self.stack.url}/webhooks/alertmanager", data=raw, headers=HEADERS, timeout=60
                )
                if answer.status_code != 202:
                    raise AssertionError(f"probe refused: {answer.status_code}")
                with self._lock:
                    self._sent[f"alertmanager:{fingerprint}"] = sent

    def _poll(self) -> None:
        query = text(
            "SELECT fingerprint FROM alerts WHERE fingerprint = ANY(:f) AND incident_number IS NOT NULL"
        )
        with self.stack.engine.connect() as connection:
            while not (self._posted.is_set() and not self._sent):
                time.sleep(0.01)
                with self._lock:
                    waiting = list(self._sent)
                if not waiting:
                    continue
                seen = connection.execute(query, {"f": waiting}).scalars().all()
                connection.rollback()
                now = time.perf_counter()
                with self._lock:
                    for fingerprint in seen:
                        self.latencies.append(now - self._sent.pop(fingerprint))

    def figures(self) -> dict[str, float]:
        latencies = sorted(self.latencies) or [0.0]
        return {
            "probes": len(self.latencies),
            "p50_ms": round(percentile(latencies, 0.5) * 1000),
            "p99_ms": round(percentile(latencies, 0.99) * 1000),
            "max_ms": round(latencies[-1] * 1000),
        }


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def run_phase(
    stack: Stack, bodies: list[bytes], senders: int, probe: str | None, rate: float = 0
) -> dict[str, object]:
    """Post `bodies`, with probes named after `probe` (None: no probes), and wait until decided."""
    done_before = stack.intake_counts().get("done", 0)
    with contextlib.ExitStack() as running:
        lag = running.enter_context(LagSampler(stack))
        probes = running.enter_context(Probe(stack, probe)) if probe else None
        started = time.perf_counter()
        post_all(stack, bodies, senders, rate)
        posted = time.perf_counter() - started
        if probes is not None:
            probes.stop_posting()  # else, on a pipeline slower than the probes, the phase never ends
        wait_for(lambda: pending(stack) == 0, 3600, "the workers to finish", 0.05)
        elapsed = time.perf_counter() - started
    counts = stack.intake_counts()
    stored = counts.get("done", 0) - done_before
    if set(counts) != {"done"}:
        raise AssertionError(f"deliveries not done: {counts}")
    figures: dict[str, object] = {
        "alert_events": len(bodies) * GROUP,
        "alerts_per_s": round(len(bodies) * GROUP / elapsed),
        "offered_alerts_per_s": rate or "as fast as taken",
        "posted_in_s": round(posted, 2),
        "processed_in_s": round(elapsed, 2),
        "deliveries_stored": stored,
        "queue_lag": lag.figures(),
    }
    if probes is not None:
        figures["webhook_to_incident"] = probes.figures()
    return figures


def rss_mb(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        with contextlib.suppress(FileNotFoundError), open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return round(total / 1024, 1)


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def memory(stack: Stack) -> dict[str, float]:
    assert stack.web is not None
    web = [stack.web.pid, *children(stack.web.pid)]
    return {"web_mb": rss_mb(web), "workers_mb": rss_mb([w.pid for w in stack.workers])}


@contextlib.contextmanager
def bench_rules() -> Iterator[Path]:
    """The example rules and rota, plus bench/rules/stormscale."""
    with tempfile.TemporaryDirectory(prefix="bridge-stormscale-rules-") as directory:
        rules = Path(directory)
        for path in (REPO / "rules").glob("*.yaml"):
            shutil.copy(path, rules / path.name)
        for path in (REPO / "bench" / "rules" / "stormscale").glob("*.yaml"):
            shutil.copy(path, rules / path.name)
        yield rules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=100_000, help="alert events of the dedup-heavy storm")
    parser.add_argument("--unique-alerts", type=int, default=100_000, help="alerts each opening an incident")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--senders", type=int, default=8)
    parser.add_argument("--memory", action="store_true", help="RSS before (after a warm-up) and after")
    parser.add_argument(
        "--rate",
        type=float,
        default=0,
        help="post each phase at this many alert events per second (default: as fast as taken)",
    )
    parser.add_argument(
        "--own-rate",
        type=float,
        default=None,
        help="post the own-incident phase at this rate instead (default: --rate)",
    )
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=None,
        help="the workers' BRIDGE_WORKER_NICE (default: bridge's own)",
    )
    args = parser.parse_args()
    own_rate = args.rate if args.own_rate is None else args.own_rate
    settings = {} if args.worker_nice is None else {"BRIDGE_WORKER_NICE": str(args.worker_nice)}
    storm = storm_bodies(args.alerts)
    unique = unique_bodies(args.unique_alerts)
    figures: dict[str, object] = {}
    with contextlib.ExitStack() as stack_of:
        stack = production_stack(stack_of, stack_of.enter_context(bench_rules()), args.workers, settings)
        try:
            if args.memory:
                # warm-up: imports, pools, caches
                run_phase(stack, storm_bodies(20_000), args.senders, probe=None)
                figures["rss_before"] = memory(stack)
            if storm:
                figures["dedup_heavy"] = run_phase(stack, storm, args.senders, probe="d", rate=args.rate)
            if unique:
                figures["own_incident"] = run_phase(stack, unique, args.senders, probe="o", rate=own_rate)
            if args.memory:
                figures["rss_after"] = memory(stack)
        finally:
            stack.stop()
    report(
        "stormscale",
        f"gunicorn 2 processes + {args.workers} bridge workers (rq) on durable PostgreSQL and Redis, "
        f"example rules + bench/rules/stormscale; {args.senders} senders posting 50-alert Alertmanager "
        f"notifications: {args.alerts:,} alert events of a dedup-heavy storm (5,000 alerts in 100 groups "
        f"re-sent round after round, the last resolving), then {args.unique_alerts:,} alerts each opening "
        f"its own incident; in each phase a probe of 1-alert notifications every 200 ms while posting "
        f"(webhook to incident committed); queue lag sampled every 100 ms; started once every worker "
        f"listened on the queue"
        + (f"; the storm posted at {args.rate:,.0f} alert events/s" if args.rate else "")
        + (f"; the own-incident phase posted at {own_rate:,.0f} alert events/s" if own_rate else "")
        + ("; RSS after a 20,000-alert warm-up and after the run" if args.memory else "")
        + (f"; BRIDGE_WORKER_NICE={args.worker_nice}" if args.worker_nice is not None else ""),
        figures,
    )


if __name__ == "__main__":
    main()
