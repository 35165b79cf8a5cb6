"""Replay stored history on several processes at once, each deciding the alerts of one share of
the hosts, and add the shares up into the one summary a single replay would give.

This is exact when the rules keep hosts apart (`why_hosts_meet` finds nothing): every rule
groups by host, every inhibition needs an equal host and every `dedup_by` keeps the host. Then
no alert's decision ever depends on an alert of another host, and the only things the shares
have in common are time and the rules. Each share is fed every delivery in order (another
share's as its time alone, without reading its body), so its timers fire when one replay's
would; incidents carry the step of the history that opened them, and merging by step numbers
them as one replay does. A history whose rules let hosts meet is replayed on one process.
"""

from __future__ import annotations

import gc
import heapq
import multiprocessing
import os
import queue
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

from bridge.collector import collect_young_less_often
from bridge.db.engine import create_db_engine, make_session_factory
from bridge.dedup.engine import Engine
from bridge.dedup.rules import RuleSet
from bridge.dedup.state import Silence
from bridge.errors import PayloadError, ShareFailed
from bridge.replay import wire
from bridge.replay.replayer import Replay, Summary, first_routes
from bridge.replay.trace import stored_deliveries, stored_share
from bridge.sources import parse_delivery

MIN_DELIVERIES_PER_SHARE = 20_000
"""Below this a share is not worth a process of its own (starting one costs about a second)."""

STEP = 2000
"""Deliveries between a share's progress reports, and between moving what the replay holds out
of the garbage collector's sight (`gc.freeze`). A replay's state only grows, and every full
collection walked all of it again: a quarter of a million-alert replay's time went to
collections that found nothing (15.6 of 62.3 s in one share; 1.7 s after)."""


def _stepped(count: int, progress: Callable[[int], None] | None) -> None:
    """Every STEP deliveries fed: freeze what is alive (the replay's state; the young are still
    collected) and tell `progress`."""
    if count % STEP == 0:
        gc.freeze()
        if progress is not None:
            progress(count)


@contextmanager
def _replaying_memory() -> Iterator[None]:
    """The collector as a long replay wants it (`STEP`, `bridge.collector`), restored after."""
    thresholds = collect_young_less_often()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


@dataclass(frozen=True, slots=True)
class ReplaySpec:
    """One set of rules to replay the history through (the candidate, or what it is compared with)."""

    rules: RuleSet
    label: str
    silences: tuple[Silence, ...] = ()


def why_hosts_meet(rules: RuleSet) -> str | None:
    """Why alerts of different hosts can affect each other under these rules, or None if they
    cannot (then a replay may split the history by host)."""
    if rules.storm is not None:
        return "storm correlation counts the hosts alerting together"
    for rule in (*rules.rules, rules.fallback):
        if "host" not in rule.group_by:
            return f"rule {rule.name} groups by {', '.join(rule.group_by) or 'nothing'}, not by host"
        if rule.dedup_by and "host" not in rule.dedup_by:
            return f"rule {rule.name} merges alerts (dedup_by) across hosts"
        if rule.inhibits is not None and "host" not in rule.inhibits.equal:
            return f"rule {rule.name} inhibits alerts of other hosts (its equal: lacks host)"
    return None


def share_count(specs: Sequence[ReplaySpec], deliveries: int, jobs: int | None = None) -> int:
    """How many processes to replay `deliveries` with: `jobs` if given, else one per CPU (at most
    8) for a history long enough to be worth it; always 1 when a rule set lets hosts meet."""
    if any(why_hosts_meet(spec.rules) for spec in specs):
        return 1
    if jobs is not None:
        return jobs
    return max(1, min(os.cpu_count() or 1, 8, deliveries // MIN_DELIVERIES_PER_SHARE))


def replay_stored(
    database_url: str,
    specs: Sequence[ReplaySpec],
    since: datetime | None,
    until: datetime | None,
    finish_at: datetime | None,
    *,
    shares: int = 1,
    progress: Callable[[int], None] | None = None,
    db_timeout: float = 5.0,
    read_aside: bool = False,
) -> list[Summary]:
    """The summaries of replaying the stored deliveries received in [since, until) through each
    rule set, with time run out to `finish_at` (None: until what is pending has played out).
    `progress` is told how many deliveries are done (the slowest share's count). With one share
    and `read_aside` (see `reads_aside`), a second process reads and parses the log meanwhile."""
    if shares <= 1 and read_aside:
        return _replay_read_aside(database_url, specs, since, until, finish_at, db_timeout, progress)
    if shares <= 1:
        return _replay_share(database_url, specs, since, until, finish_at, None, db_timeout, progress)
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited connections
    results: multiprocessing.Queue[tuple[int, bool, Any]] = context.Queue()
    done = context.Array("q", shares, lock=False)
    workers = [
        context.Process(
            target=_share_main,
            args=(database_url, specs, since, until, finish_at, (index, shares), db_timeout, done, results),
            name=f"bridge-replay-{index}",
            daemon=True,
        )
        for index in range(shares)
    ]
    for worker in workers:
        worker.start()
    by_share: dict[int, list[Summary]] = {}
    try:
        while len(by_share) < shares:
            try:
                index, ok, payload = results.get(timeout=0.25)
            except queue.Empty:
                if progress is not None:
                    progress(min(done))
                lost = next((w for w in workers if w.exitcode not in (None, 0)), None)
                if lost is not None:
                    raise ShareFailed(f"replay process {lost.name} died (exit {lost.exitcode})") from None
                continue
            if not ok:
                raise ShareFailed(f"replay process {index} failed: {payload}")
            by_share[index] = payload
    finally:
        for worker in workers:
            if worker.is_alive() and len(by_share) < shares:
                worker.terminate()
            worker.join()
    if progress is not None:
        progress(min(done))
    return [merge([by_share[i][n] for i in range(shares)]) for n in range(len(specs))]


def reads_aside(shares: int, deliveries: int, jobs: int | None = None) -> bool:
    """Whether a replay on one share (rules that let hosts meet) reads and parses the log in a
    second process: when there is a second CPU, the history is long enough and `jobs` does not
    ask for one process."""
    return (
        shares == 1
        and (jobs is None or jobs > 1)
        and (os.cpu_count() or 1) > 1
        and deliveries >= MIN_DELIVERIES_PER_SHARE
    )


def _replay_read_aside(
    database_url: str,
    specs: Sequence[ReplaySpec],
    since: datetime | None,
    until: datetime | None,
    finish_at: datetime | None,
    db_timeout: float,
    progress: Callable[[int], None] | None,
) -> list[Summary]:
    """`_replay_share` of the whole history, with the log read and its bodies parsed by a second
    process (`_read_main`) while this one decides: parsing was a third of a replay's time, and
    rules that let hosts meet keep the deciding itself on one process. The parsed deliveries come
    in order, in chunks (`bridge.replay.wire`), through a pipe whose buffer bounds how far the
    reader runs ahead."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited connections
    receiving, sending = context.Pipe(duplex=False)
    reader = context.Process(
        target=_read_main,
        args=(database_url, [s.rules for s in specs], since, until, db_timeout, sending),
        name="bridge-replay-reader",
        daemon=True,
    )
    reader.start()
    sending.close()  # the reader's end: once it exits, a read here ends instead of waiting
    replays = [Replay(s.rules, s.label, s.silences) for s in specs]
    count = 0
    try:
        with _replaying_memory():
            while True:
                try:
                    data = receiving.recv_bytes()
                except EOFError:
                    reader.join(timeout=5)  # it closed its end: it is exiting, or has
                    raise ShareFailed(f"replay process {reader.name} died (exit {reader.exitcode})") from None
                if data[:1] == _FAILED:
                    raise ShareFailed(f"replay process {reader.name} failed: {data[1:].decode()}")
                items = wire.loads(data)
                if not items:
                    break  # the end of the log
                for item, routes in items:
                    received_at, shard, delivery = wire.unpack(item)
                    for replay, routed in zip(replays, routes, strict=True):
                        replay.feed_parsed(received_at, shard, delivery, routed)
                    count += 1
                    if count % STEP == 0:
                        _stepped(count, progress)
    finally:
        receiving.close()
        if reader.is_alive():
            reader.terminate()
        reader.join()
    if progress is not None:
        progress(count)
    return [replay.finish(finish_at) for replay in replays]


READ_CHUNK = 500
"""Deliveries per message from the reader: few enough to keep both processes busy at once."""
_FAILED = b"!"  # a message from the reader that says why it stopped (a chunk starts otherwise)


def _read_main(
    database_url: str,
    rule_sets: Sequence[RuleSet],
    since: datetime | None,
    until: datetime | None,
    db_timeout: float,
    sending: Connection,
) -> None:
    """The reading process of `_replay_read_aside`: every stored delivery in order, parsed,
    chunked; an empty chunk at the end. With each delivery go its alerts' first routes under
    each rule set (`bridge.replay.replayer.Route`; None for a delivery that no longer parses):
    what depends on the alert alone is worked out here, off the deciding process's path."""
    engine = create_db_engine(database_url, timeout=db_timeout, pool_size=1, read_only=True)
    routers = [Engine(rules) for rules in rule_sets]
    unrouted = (None,) * len(routers)
    try:
        chunk: list[tuple[Any, ...]] = []
        strings: dict[str, str] = {}  # the texts of the chunk, each one object (`wire.pack`)
        with make_session_factory(engine)() as session, _replaying_memory():
            for recorded in stored_deliveries(session, since, until):
                try:
                    delivery = parse_delivery(recorded.source, recorded.body, recorded.received_at)
                except PayloadError:
                    delivery = None
                routes = (
                    unrouted
                    if delivery is None
                    else tuple(first_routes(router, delivery.alerts) for router in routers)
                )
                packed = wire.pack(recorded.received_at, recorded.host_shard, delivery, strings)
                chunk.append((packed, routes))
                if len(chunk) == READ_CHUNK:
                    sending.send_bytes(wire.dumps(chunk))
                    chunk = []
                    strings.clear()
        if chunk:
            sending.send_bytes(wire.dumps(chunk))
        sending.send_bytes(wire.dumps([]))
    except (BrokenPipeError, ConnectionResetError):
        return  # the deciding process stopped reading (it failed, or was interrupted)
    except Exception as exc:  # the deciding process says what failed; a traceback line says where
        where = traceback.extract_tb(exc.__traceback__)[-1]
        why = f"{exc.__class__.__name__}: {exc} ({where.filename}:{where.lineno})"
        sending.send_bytes(_FAILED + why.encode())
    finally:
        engine.dispose()
        sending.close()


def merge(shares: Sequence[Summary]) -> Summary:
    """One summary of the shares of one replay, incidents numbered as one replay numbers them."""
    first = shares[0]
    total = Summary(first.label, exact_suppressed=first.exact_suppressed)
    for share in shares:
        total.deliveries += share.deliveries
        total.alerts += share.alerts
        total.unreadable += share.unreadable
        total.redeliveries += share.redeliveries
        total.outcomes.update(share.outcomes)
        total.suppressed.update(share.suppressed)
        for name, figures in share.rules.items():
            into = total.rule(name)
            into.alerts += figures.alerts
            into.incidents += figures.incidents
            into.suppressed += figures.suppressed
    starts = [s.first_at for s in shares if s.first_at is not None]
    ends = [s.last_at for s in shares if s.last_at is not None]
    total.first_at, total.last_at = min(starts, default=None), max(ends, default=None)
    # Each share's incidents are in the order it opened them; merging by step interleaves them.
    ordered = heapq.merge(*(s.incidents for s in shares), key=lambda incident: incident.step)
    total.incidents = [replace(incident, number=n) for n, incident in enumerate(ordered, start=1)]
    return total


def _replay_share(
    database_url: str,
    specs: Sequence[ReplaySpec],
    since: datetime | None,
    until: datetime | None,
    finish_at: datetime | None,
    share: tuple[int, int] | None,
    db_timeout: float,
    progress: Callable[[int], None] | None,
) -> list[Summary]:
    replays = [Replay(s.rules, s.label, s.silences, share=share) for s in specs]
    engine = create_db_engine(database_url, timeout=db_timeout, pool_size=1, read_only=True)
    count = 0
    try:
        with make_session_factory(engine)() as session, _replaying_memory():
            for count, recorded in enumerate(stored_share(session, since, until, share), 1):
                for replay in replays:
                    replay.feed(recorded)
                _stepped(count, progress)
    finally:
        engine.dispose()
    if progress is not None:
        progress(count)
    return [replay.finish(finish_at) for replay in replays]


def _share_main(
    database_url: str,
    specs: Sequence[ReplaySpec],
    since: datetime | None,
    until: datetime | None,
    finish_at: datetime | None,
    share: tuple[int, int],
    db_timeout: float,
    done: Any,
    results: multiprocessing.Queue[tuple[int, bool, Any]],
) -> None:
    index = share[0]

    def report(count: int) -> None:
        done[index] = count

    try:
        summaries = _replay_share(database_url, specs, since, until, finish_at, share, db_timeout, report)
    except Exception as exc:  # the parent says what failed; a traceback line says where
        where = traceback.extract_tb(exc.__traceback__)[-1]
        results.put((index, False, f"{exc.__class__.__name__}: {exc} ({where.filename}:{where.lineno})"))
        return
    results.put((index, True, summaries))
