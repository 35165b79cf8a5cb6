"""Webhook intake side by side with two reference servers, in one run on the same cores.

Workload: a throwaway durable PostgreSQL cluster (fsync and synchronous_commit on) and a
throwaway Redis; `bench.loadgen` (16 async closed-loop senders by default) posting to each server
in turn, every server under bridge's own gunicorn settings (`bridge.web.gunicorn_config`: 2
processes x 4 threads, gthread):

- `bridge_workers`: bridge in its documented production mode (gunicorn, PostgreSQL, Redis) with
  2 `bridge worker`s processing what arrives, on the same cores (measured first, on an empty
  database);
- then, each workload going to each of these in turn (so that other load on the machine weighs
  on all alike): `ref_insert`, a Flask app that parses the JSON, INSERTs one row per alert,
  commits, answers 202; `ref_parse`, a Flask app that parses the JSON and answers 202;
  `bridge_stopped`, bridge's web tier with the workers stopped (intake only);
- `embedded`: `bridge serve` on SQLite with its in-process worker thread (the default).

With `--rounds N` (default 2) the whole matrix is repeated and every figure is the median of its N
runs. Odd rounds take the workloads in reverse order (the storm stays last): on this shared
machine a server's throughput drifts from run to run, and a workload always run after another
would always take the drift (flapping measured after new alerts was 0.82 of them, before them
1.10, same tree, same hour). With an even number of rounds each workload runs as often before
as after every other, so the comparison between workloads, flapping against new, is fair.

Workloads (`--workloads`, default all): Alertmanager `unique` (1 new alert per notification),
`flap` (firing/resolved), `duplicates` (redeliveries), `storm` (50 new alerts per notification),
and Zabbix `unique`; the embedded server takes Alertmanager `unique` only. Each figure is given
per server and workload, every bridge figure also as a ratio to both references, and the
server-side CPU per notification (web processes, PostgreSQL) from /proc. Prints one JSON line.

    python -m bench.sidebyside [--seconds 8] [--warmup 1] [--rounds 2] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench import loadgen
from bench.common import REPO, report, serve_env
from bench.reference.insert import create_schema
from tests.support.app import AM_TOKEN, ZBX_TOKEN
from tests.support.postgres import free_port, fresh_database, throwaway_cluster
from tests.support.redis import throwaway_redis
from tests.support.stack import Stack, wait_for

WORKLOADS = ["am_unique", "am_flap", "am_duplicates", "zbx_unique", "am_storm"]
"""`<source>_<scenario>`; the storm last, so that its backlog weighs on no other workload."""
SOURCES = {"am": loadgen.SourceKind.ALERTMANAGER, "zbx": loadgen.SourceKind.ZABBIX}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(root_pids: list[int]) -> float:
    """User + system CPU of these processes and all their descendants, from /proc."""
    children: dict[int, list[int]] = {}
    times: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        # utime, stime, and cutime, cstime: a gunicorn worker recycled (max_requests) counts on
        times[pid] = sum(int(value) for value in fields[11:15]) / CLOCK_TICKS
    total = 0.0
    stack = list(root_pids)
    while stack:
        pid = stack.pop()
        total += times.get(pid, 0.0)
        stack.extend(children.get(pid, []))
    return total


def postgres_pid(server_url: str) -> list[int]:
    """The postmaster of the throwaway cluster (found by its port in the command line)."""
    port = server_url.rsplit(":", 1)[1].split("/", maxsplit=1)[0]
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "postgres" in command and f"-p {port}" in command and "-D" in command:
                found.append(int(entry.name))
    return found


@dataclass
class Server:
    """A server under load: where it answers and the process trees its CPU is counted in."""

    name: str
    url: str
    pids: list[int]


TOKENS = {"am": AM_TOKEN, "zbx": ZBX_TOKEN}
"""The bearer token of each source (the references ignore it)."""


def measure(
    server: Server, workload: str, args: argparse.Namespace, db_pids: list[int], run_id: int
) -> dict[str, Any]:
    source, scenario = workload.split("_", 1)
    cpu_before = cpu_seconds(server.pids), cpu_seconds(db_pids)
    result = loadgen.run(
        server.url,
        TOKENS[source],
        SOURCES[source],
        scenario,
        concurrency=args.concurrency,
        seconds=args.seconds,
        warmup=args.warmup,
        run_id=run_id,
    )
    web_cpu = cpu_seconds(server.pids) - cpu_before[0]
    db_cpu = cpu_seconds(db_pids) - cpu_before[1]
    # CPU over the whole run (warm-up included) per request of the counted window, scaled to it.
    requests_made = max(result.notifications, 1) * (args.seconds + args.warmup) / args.seconds
    figures = {
        "alerts_per_s": result.alerts_per_s,
        "notifications_per_s": result.notifications_per_s,
        "p50_ms": result.p50_ms,
        "p95_ms": result.p95_ms,
        "p99_ms": result.p99_ms,
        "max_ms": result.max_ms,
        "non_2xx": result.non_2xx + result.errors,
        "server_cpu_ms_per_notification": round(web_cpu * 1000 / requests_made, 3),
        "postgres_cpu_ms_per_notification": round(db_cpu * 1000 / requests_made, 3) if db_pids else None,
    }
    print(f"# {server.name} {workload}: {figures}", file=sys.stderr, flush=True)
    return figures


def gunicorn(app: str, env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    with log.open("ab") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--config",
                "python:bridge.web.gunicorn_config",
                "--bind",
                f"127.0.0.1:{port}",
                app,
            ],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(url, process, log), 30, f"{app} to answer (log: {log})", 0.1)
    return process, url


def _answers(url: str, process: subprocess.Popen[bytes], log: Path) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"server exited:\n{log.read_text()[-3000:]}")
    try:
        return requests.get(f"{url}/healthz", timeout=1).ok
    except requests.RequestException:
        return False


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


@contextlib.contextmanager
def reference(app: str, database_url: str, logs: Path) -> Iterator[Server]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env["BENCH_REFERENCE_DATABASE_URL"] = database_url.replace("postgresql+psycopg://", "postgresql://")
    env["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="bench-ref-metrics-", dir=logs)
    process, url = gunicorn(app, env, logs / f"{app.split(':', maxsplit=1)[0]}.log")
    try:
        yield Server(app, url, [process.pid])
    finally:
        stop(process)


@contextlib.contextmanager
def embedded(logs: Path) -> Iterator[Server]:
    """`bridge serve` on a fresh SQLite file with its in-process worker: the default."""
    database = logs / "embedded.db"
    env = serve_env(f"sqlite:///{database}", AM_TOKEN)
    port = free_port()
    with (logs / "embedded.log").open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "bridge", "serve", "--port", str(port)],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(url, process, logs / "embedded.log"), 60, "bridge serve to answer", 0.1)
        yield Server("embedded", url, [process.pid])
    finally:
        stop(process)


def ratios(figures: dict[str, Any], workloads: list[str]) -> dict[str, float | None]:
    """Every bridge alerts/s as a fraction of each reference's, per workload."""
    out: dict[str, float | None] = {}
    for workload in workloads:
        for bridge in ("bridge_stopped", "bridge_workers", "embedded"):
            mine = figures.get(f"{bridge}_{workload}_alerts_per_s")
            if mine is None:
                continue
            for ref in ("ref_insert", "ref_parse"):
                theirs = figures.get(f"{ref}_{workload}_alerts_per_s")
                out[f"{bridge}_{workload}_vs_{ref}"] = round(mine / theirs, 3) if theirs else None
    return out


def targets(figures: dict[str, Any]) -> dict[str, bool | None]:
    """The intake targets of issue 18, each met or not (None: not measured in this run)."""

    def get(key: str) -> Any:
        return figures.get(key)

    def at_least(key: str, bound: float) -> bool | None:
        value = get(key)
        return None if value is None else value >= bound

    def at_most(key: str, bound: float) -> bool | None:
        value = get(key)
        return None if value is None else value <= bound

    flap, new = get("bridge_stopped_am_flap_alerts_per_s"), get("bridge_stopped_am_unique_alerts_per_s")
    flap_w, new_w = get("bridge_workers_am_flap_alerts_per_s"), get("bridge_workers_am_unique_alerts_per_s")
    return {
        "target_stopped_ge_90pct_of_insert": at_least("bridge_stopped_am_unique_vs_ref_insert", 0.9),
        "target_workers_ge_60pct_of_insert": at_least("bridge_workers_am_unique_vs_ref_insert", 0.6),
        "target_p99_le_50ms_stopped": at_most("bridge_stopped_am_unique_p99_ms", 50),
        "target_p99_le_50ms_workers": at_most("bridge_workers_am_unique_p99_ms", 50),
        # "No slower": within the noise of one run (5%) of the new-alert rate, same phase.
        "target_flap_no_slower_stopped": None if not (flap and new) else flap >= 0.95 * new,
        "target_flap_no_slower_workers": None if not (flap_w and new_w) else flap_w >= 0.95 * new_w,
        "target_storm_ge_10000_alerts_s_stopped": at_least("bridge_stopped_am_storm_alerts_per_s", 10000),
        "target_storm_ge_10000_alerts_s_workers": at_least("bridge_workers_am_storm_alerts_per_s", 10000),
        "target_embedded_ge_300_per_s": at_least("embedded_am_unique_notifications_per_s", 300),
        "target_embedded_p99_le_200ms": at_most("embedded_am_unique_p99_ms", 200),
    }


def round_order(workloads: list[str], round_number: int) -> list[str]:
    """The workloads in the order round `round_number` (from 0) takes them: as given in even
    rounds, reversed in odd ones, the storm last in both (its backlog must weigh on no other)."""
    others = [w for w in workloads if w != "am_storm"]
    if round_number % 2 == 1:
        others.reverse()
    return others + [w for w in workloads if w == "am_storm"]


def median_figures(samples: dict[str, list[Any]]) -> dict[str, Any]:
    """Each figure's median over the rounds (None when it was never measured)."""
    out: dict[str, Any] = {}
    for key, values in samples.items():
        numbers = [v for v in values if v is not None]
        out[key] = round(statistics.median(numbers), 3) if numbers else None
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument(
        "--rounds", type=int, default=2, help="repeat the matrix (odd rounds reversed); figures are medians"
    )
    parser.add_argument("--concurrency", type=int, default=loadgen.DEFAULT_CONCURRENCY)
    parser.add_argument("--workers", type=int, default=2, help="bridge workers in the processing phase")
    parser.add_argument(
        "--workloads", default=",".join(WORKLOADS), help="comma-separated, of " + ", ".join(WORKLOADS)
    )
    parser.add_argument(
        "--servers",
        default="ref_insert,ref_parse,bridge_workers,bridge_stopped,embedded",
        help="comma-separated subset",
    )
    args = parser.parse_args()
    workloads = [w for w in args.workloads.split(",") if w]
    servers = set(args.servers.split(","))
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workloads {unknown}")
    samples: dict[str, list[Any]] = {}
    run_id = int(time.time()) % 0xFFFF

    def record(server: Server, workload: str, db_pids: list[int]) -> None:
        nonlocal run_id
        run_id += 1
        for key, value in measure(server, workload, args, db_pids, run_id).items():
            samples.setdefault(f"{server.name}_{workload}_{key}", []).append(value)

    with contextlib.ExitStack() as stack_of:
        pg_server = stack_of.enter_context(throwaway_cluster(durable=True))
        db_pids = postgres_pid(pg_server)
        redis = stack_of.enter_context(throwaway_redis(own=True))
        logs = Path(stack_of.enter_context(tempfile.TemporaryDirectory(prefix="bench-sidebyside-")))
        # The references and bridge's web tier all run from the start: in the intake-only phase
        # each workload goes to each of them in turn, so that whatever else loads the machine
        # meanwhile weighs on all of them alike.
        interleaved: list[tuple[Server, list[int]]] = []
        if "ref_insert" in servers:
            url = stack_of.enter_context(fresh_database(pg_server))
            create_schema(url.replace("postgresql+psycopg://", "postgresql://"))
            ref = stack_of.enter_context(reference("bench.reference.insert:app", url, logs))
            interleaved.append((Server("ref_insert", ref.url, ref.pids), db_pids))
        if "ref_parse" in servers:
            ref = stack_of.enter_context(reference("bench.reference.parse:app", pg_server, logs))
            interleaved.append((Server("ref_parse", ref.url, ref.pids), []))
        if servers & {"bridge_workers", "bridge_stopped"}:
            database = stack_of.enter_context(fresh_database(pg_server))
            stack = Stack(
                database,
                redis.url,
                REPO / "rules",
                logs / "bridge",
                web_workers=2,
                extra_env={
                    "BRIDGE_LOG_LEVEL": "WARNING",
                    "BRIDGE_TICK_SECONDS": "1",
                    "BRIDGE_SWEEP_GRACE": "30s",
                },
            )
            stack.migrate()
            stack_of.callback(stack.stop)
            stack.start_web()
            assert stack.web is not None
            if "bridge_workers" in servers:
                # First, on the empty database: 2 workers process what arrives, on the same cores.
                for _ in range(args.workers):
                    stack.start_worker()
                for round_number in range(args.rounds):
                    # The last round's backlog (the storm's) decided first: it weighs on no other round.
                    wait_for(
                        lambda: stack.intake_counts().get("pending", 0) == 0, 900, "the backlog decided", 0.2
                    )
                    for workload in round_order(workloads, round_number):
                        record(Server("bridge_workers", stack.url, [stack.web.pid]), workload, db_pids)
                for worker in stack.workers:
                    stop(worker)
                stack.workers.clear()
            if "bridge_stopped" in servers:
                interleaved.append((Server("bridge_stopped", stack.url, [stack.web.pid]), db_pids))
        for round_number in range(args.rounds):
            for workload in round_order(workloads, round_number):
                for server, pids in interleaved:
                    record(server, workload, pids)
        if "embedded" in servers and "am_unique" in workloads:
            with embedded(logs) as server:
                for _ in range(args.rounds):
                    record(server, "am_unique", [])
    figures = median_figures(samples)
    figures.update(ratios(figures, workloads))
    figures.update(targets(figures))
    report(
        "sidebyside",
        f"{args.concurrency} async closed-loop senders (bench.loadgen), {args.seconds:g}s per workload after "
        f"{args.warmup:g}s warm-up, medians of {args.rounds} round(s), odd ones in reverse order; servers "
        "under "
        "bridge.web.gunicorn_config (2 processes x 4 threads): ref_insert (parse + one INSERT per alert "
        "+ commit), ref_parse (parse, answer) and bridge production (PostgreSQL 15 durable, Redis) with "
        "its workers stopped, taking each workload in turn; before them bridge with "
        f"{args.workers} workers processing; embedded: bridge serve on SQLite with its worker thread; "
        "workloads " + ", ".join(workloads),
        figures,
    )


if __name__ == "__main__":
    main()
