"""Rule engine speed: decisions per second through the pure engine (in-memory simulator).

Workload: 5,000 alerts (1,000 hosts x 5 names, a fifth of them info; each host has a team, a
service and an environment label); every alert fires, is re-sent 3 times (Alertmanager's
repeat), resolves, fires again and resolves again: 50,000 events in arrival order. Decided with

- the example rules in rules/;
- `--rules N` generated rules as an estate's engineers write them (per-team and per-service
  rules on label equality, a fifth with a regex, some negative matchers, a few drops), before the
  example rules: the alerts' teams and services are among those they name;
- for each count of `--cannot-match` (default 10, 100, 1000, 5000): that many generated rules
  naming teams, services and alert names the alerts do not have (regexes included), before the
  same example rules: the cost must not grow with them.

Also the time to find the matching rules for one alert (uncached). Times are medians over the
rounds, as wall time and as this process's CPU time per decision (on a shared machine the CPU
time is what the engine costs; the wall time also counts waiting for a core).

    python -m bench.engine [--hosts 1000] [--rounds 5] [--rules 1000] [--cannot-match 10,100,1000,5000]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import REPO, report
from bridge.alert import Alert, Severity, Source, Status
from bridge.dedup.engine import Engine
from bridge.dedup.loader import load_rules_texts, rule_files
from bridge.dedup.rules import RuleSet
from bridge.dedup.simulator import Simulator

NAMES = [
    ("HostDown", Severity.CRITICAL),
    ("NodeFilesystemAlmostOutOfSpace", Severity.WARNING),
    ("NodeHighCPU", Severity.HIGH),
    ("High ICMP ping loss", Severity.WARNING),
    ("Chatter", Severity.INFO),
]
T0 = datetime(2026, 11, 22, tzinfo=UTC)
TEAMS = 40
SERVICES = 200


def host_labels(h: int) -> dict[str, str]:
    """Who owns host `h`: its team, service and environment (what per-team rules match on)."""
    service = h % SERVICES
    return {
        "team": f"team-{service % TEAMS:02d}",
        "service": f"svc-{service:03d}",
        "env": "staging" if h % 5 == 0 else "prod",
    }


REGEX_NAMES = ["=~Node.*", "=~High.*", "=~.*CPU.*", "=~(Host|Node)Down", "=~.*[Pp]ing.*", "=~Disk.*"]
UNMATCHED_REGEXES = ["=~Legacy.*", "=~Mainframe.*", "=~Tape.*", "=~Oracle.*Tablespace.*", "=~SAN.*"]


def generated_rules(count: int, seed: int, matchable: bool) -> str:
    """`count` rules as YAML, as an estate's engineers write them. With `matchable` they name the
    teams and services of the bench's hosts; without, teams, services and alert names (and
    regexes) that none of its alerts has, so that none can match."""
    rng = random.Random(seed)
    team_word, service_word = ("team", "svc") if matchable else ("gone-team", "retired-svc")
    lines = ["rules:"]
    for n in range(count):
        service = rng.randrange(SERVICES)
        team = f"{team_word}-{service % TEAMS:02d}"
        svc = f"{service_word}-{service:03d}"
        kind = rng.random()
        name = f"{'r' if matchable else 'x'}{n:05d}"
        if kind < 0.40:  # a team's rule for one of its services
            match = f"{{team: {team}, service: {svc}}}"
            extra = f"route: {team}, priority: {{critical: P1, default: P3}}"
        elif kind < 0.55:  # a team's criticals
            match = f"{{team: {team}, severity: critical}}"
            extra = f"route: {team}, priority: P1"
        elif kind < 0.70:  # a fifth with a regex: on the alert name, within a team or a service
            regex = rng.choice(REGEX_NAMES if matchable else UNMATCHED_REGEXES)
            where = f"team: {team}" if rng.random() < 0.5 else f"service: {svc}"
            match = f'{{{where}, name: "{regex}"}}'
            extra = "for: 10m"
        elif kind < 0.75:  # a regex on the host names of a service, no equality at all
            prefix = "host" if matchable else "oldhost"
            match = f'{{host: "=~{prefix}-0{rng.randrange(10)}.*"}}'
            extra = f"route: {team}, for: 5m"
        elif kind < 0.85:  # negative matchers: a team's alerts off production wait longer
            match = f'{{team: {team}, env: "!=prod", severity: "!=critical"}}'
            extra = "for: 30m, priority: P4"
        elif kind < 0.93:  # staging chatter of a service is dropped
            match = f"{{service: {svc}, env: staging}}"
            extra = "action: drop"
        else:  # one alert name across the estate, not the criticals
            alert_name = rng.choice(NAMES)[0] if matchable else f"Retired{rng.randrange(50)}"
            match = f'{{name: "{alert_name}", severity: "!=critical"}}'
            extra = "for: 5m"
        lines.append(f"  - {{name: {name}, match: {match}, {extra}}}")
    return "\n".join(lines) + "\n"


def rule_set(generated: str | None) -> RuleSet:
    """The example rules, after `generated` rules if given (they come first: first match wins)."""
    texts = {path.name: path.read_text() for path in rule_files(REPO / "rules")}
    if generated is not None:
        texts = {"00-generated.yaml": generated, **texts}
    return load_rules_texts(texts)


def events(hosts: int) -> list[Alert]:
    result = []
    for h in range(hosts):
        host = f"host-{h:04d}"
        for n, (name, severity) in enumerate(NAMES):
            offset = timedelta(seconds=h * 0.7 + n * 11)
            for episode in range(2):
                start = T0 + offset + timedelta(hours=episode)
                end = start + timedelta(minutes=7 + n)
                base = dict(
                    source=Source.ALERTMANAGER,
                    source_ref=f"{h}-{n}",
                    fingerprint=f"am:{h}-{n}",
                    name=name,
                    host=host,
                    severity=severity,
                    labels={
                        "alertname": name,
                        "instance": f"{host}:9100",
                        "severity": severity.value,
                        **host_labels(h),
                    },
                    annotations={},
                    url="",
                )
                for repeat in range(4):
                    result.append(
                        Alert(
                            status=Status.FIRING,
                            starts_at=start,
                            ends_at=None,
                            received_at=start + timedelta(seconds=30 + repeat * 60),
                            **base,
                        )
                    )  # type: ignore[arg-type]
                result.append(
                    Alert(
                        status=Status.RESOLVED,
                        starts_at=start,
                        ends_at=end,
                        received_at=end + timedelta(seconds=30),
                        **base,
                    )
                )  # type: ignore[arg-type]
    result.sort(key=lambda e: e.received_at)
    return result


def measure(rules: RuleSet, stream: list[Alert], rounds: int) -> dict[str, Any]:
    """Median decisions per second over `rounds` fresh simulators, and the first-match time."""
    rates, cpu, incidents = [], [], 0
    for _ in range(rounds):
        sim = Simulator(Engine(rules))
        started, used = time.perf_counter(), time.process_time()
        for event in stream:
            sim.feed(event)
        sim.advance(stream[-1].received_at + timedelta(hours=3))
        rates.append(len(stream) / (time.perf_counter() - started))
        cpu.append((time.process_time() - used) / len(stream) * 1e6)
        incidents = len(sim.incidents)
    probe = stream[len(stream) // 2]
    matches = []
    for _ in range(rounds):
        started = time.perf_counter()
        for _ in range(20000):
            rules.matching(probe)  # uncached: what the index makes of every rule
        matches.append((time.perf_counter() - started) / 20000 * 1e6)
    return {
        "rules": len(rules.rules),
        "decisions_per_s": round(statistics.median(rates)),
        "us_per_decision": round(1e6 / statistics.median(rates), 1),
        # CPU time per decision: what it costs when others share the machine's cores
        "cpu_us_per_decision": round(statistics.median(cpu), 1),
        "first_match_us": round(statistics.median(matches), 2),
        "incidents": incidents,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rules", type=int, default=1000, help="generated rules that match (0: none)")
    parser.add_argument("--cannot-match", default="10,100,1000,5000", help="counts, comma-separated")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    stream = events(args.hosts)
    examples = measure(rule_set(None), stream, args.rounds)
    figures: dict[str, Any] = {"events": len(stream), **examples}
    if args.rules:
        figures["generated"] = measure(
            rule_set(generated_rules(args.rules, args.seed, matchable=True)), stream, args.rounds
        )
    counts = [int(c) for c in args.cannot_match.split(",") if c.strip()]
    figures["cannot_match"] = {
        str(count): measure(rule_set(generated_rules(count, args.seed, matchable=False)), stream, args.rounds)
        for count in counts
    }
    report(
        "engine",
        f"{args.hosts * len(NAMES)} alerts, {len(stream)} events (fire, 3 repeats, resolve, twice "
        f"each), median of {args.rounds} rounds; top level: the example rules; generated: "
        f"{args.rules} realistic rules (seed {args.seed}) before them; cannot_match: N rules "
        "no alert matches before them",
        figures,
    )


if __name__ == "__main__":
    main()
