"""Run rule unit tests (`bridge rules test`) on the in-memory simulator and describe what differs.

Reading the files is the command's part (`bridge.cli_ruletest`); this module is pure. Each test
gets a fresh `Simulator` over the rules of its file's rules directory, with simulated
time: at every time the test mentions, the alert events of that time are fed first, then time
advances to it (timers due by then fire), then the expectations of that time are checked.
Failures name the test file line of the expectation and say expected versus got, so a failing
CI run reads without opening the simulator. See docs/rule-tests.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum

from bridge.alert import Alert, Source, Status
from bridge.dedup.engine import Engine
from bridge.dedup.rules import RuleSet
from bridge.dedup.ruletest_spec import (
    AlertExpectation,
    AlertRef,
    Check,
    Event,
    Expectation,
    IncidentExpectation,
    RuleTest,
    RuleTestFile,
)
from bridge.dedup.simulator import SimIncident, Simulator
from bridge.dedup.state import AlertState
from bridge.timeutil import format_duration

ZABBIX_INSTANCE = "test"
_PLAIN = re.compile(r"[\w][\w .\-/()<>%@+]*(?<! )")
"""Text shown without quotes: what reads the same in YAML and cannot hide a leading or trailing space."""


@dataclass(frozen=True, slots=True)
class Failure:
    line: int  # of the expectation in the test file
    text: str


@dataclass(frozen=True, slots=True)
class RuleTestResult:
    name: str
    line: int
    failures: tuple[Failure, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(frozen=True, slots=True)
class FileResult:
    file: str
    errors: tuple[str, ...] = ()  # why the file could not be run at all
    tests: tuple[RuleTestResult, ...] = ()


# -- running ------------------------------------------------------------------------------------


def run_file(spec: RuleTestFile, rules: RuleSet) -> tuple[RuleTestResult, ...]:
    return tuple(run_test(test, Engine(rules, spec.timezone)) for test in spec.tests)


def run_test(test: RuleTest, engine: Engine) -> RuleTestResult:
    sim = Simulator(engine, test.silences)
    feeder = Feeder()
    times = sorted({e.at for e in test.events} | {x.at for x in test.expectations})
    events, expectations = list(test.events), list(test.expectations)
    failures: list[Failure] = []
    for at in times:
        now = test.start + at
        while events and events[0].at == at:
            sim.feed(feeder.alert(events.pop(0), now), now)
        sim.advance(now)
        while expectations and expectations[0].at == at:
            failures.extend(check(expectations.pop(0), sim, feeder, test.start))
    return RuleTestResult(test.name, test.line, tuple(failures))


@dataclass
class Occurrence:
    number: int  # 1 for the first time the alert fires, 2 after it resolved and fired again...
    starts_at: datetime
    ends_at: datetime | None = None


@dataclass
class Feeder:
    """Turns timeline events into the `Alert`s the sources would deliver, occurrence by occurrence:
    a `firing:` of an alert already firing repeats that occurrence (as Alertmanager re-sends it), a
    `firing:` after a resolution starts a new one."""

    current: dict[str, Occurrence] = field(default_factory=dict)

    def alert(self, event: Event, now: datetime) -> Alert:
        ref = event.ref
        occurrence = self.current.get(ref.key)
        if event.status is Status.FIRING and (occurrence is None or occurrence.ends_at is not None):
            occurrence = Occurrence(occurrence.number + 1 if occurrence else 1, now)
        assert occurrence is not None  # the parser lets only a fired alert resolve
        if event.status is Status.RESOLVED and occurrence.ends_at is None:
            occurrence.ends_at = now
        self.current[ref.key] = occurrence
        source_ref, fingerprint = self._identity(ref)
        own = dict(ref.labels)
        labels = {"alertname": ref.name} if ref.source is Source.ALERTMANAGER else {}
        return Alert(
            source=ref.source,
            source_ref=source_ref,
            fingerprint=fingerprint,
            status=event.status,
            name=ref.name,
            host=ref.host,
            severity=event.severity,
            labels={**labels, **({"host": ref.host} if ref.host else {}), **own},
            annotations=dict(event.annotations),
            starts_at=occurrence.starts_at,
            ends_at=occurrence.ends_at if event.status is Status.RESOLVED else None,
            url="",
            received_at=now,
            recurring=ref.source is Source.ALERTMANAGER,
        )

    def fingerprint(self, ref: AlertRef) -> str | None:
        """The fingerprint of the alert's latest occurrence; None before it first fired."""
        return self._identity(ref)[1] if ref.key in self.current else None

    def _identity(self, ref: AlertRef) -> tuple[str, str]:
        """(source_ref, fingerprint) as the source would give them: Alertmanager keeps one
        fingerprint for the alert's life, Zabbix has a new problem event for every occurrence."""
        if ref.source is Source.ALERTMANAGER:
            return ref.key, f"alertmanager:{ref.key}"
        number = self.current[ref.key].number if ref.key in self.current else 1
        event_id = ref.key if number == 1 else f"{ref.key}.{number}"
        return event_id, f"zabbix:{ZABBIX_INSTANCE}:{event_id}"


# -- checking -----------------------------------------------------------------------------------


def check(expectation: Expectation, sim: Simulator, feeder: Feeder, start: datetime) -> list[Failure]:
    at = f"at {format_duration(expectation.at)}"
    failures: list[Failure] = []
    if expectation.incidents is not None:
        failures.extend(_check_incidents(expectation, expectation.incidents, sim.incidents, start, at))
    for item in expectation.alerts:
        failures.extend(_check_alert(item, sim, feeder, at))
    for outcome, count in expectation.outcomes.items():
        got = sim.outcomes[outcome]
        if got != count:
            failures.append(
                Failure(expectation.line, f"{at}: outcome {outcome}: expected {count}, got {got}")
            )
    return failures


def _check_incidents(
    expectation: Expectation,
    expected: tuple[IncidentExpectation, ...],
    got: list[SimIncident],
    start: datetime,
    at: str,
) -> list[Failure]:
    if len(expected) != len(got):
        lines = [f"{at}: expected {_count(len(expected), 'incident')}, got {len(got)}", "  expected:"]
        lines += [f"    line {e.line}: {_show_checks(e.checks)}" for e in expected] or ["    (none)"]
        lines.append("  got:")
        lines += [f"    {_show_incident(i, start)}" for i in got] or ["    (none)"]
        return [Failure(expectation.line, "\n".join(lines))]
    failures = []
    for item, incident in zip(expected, got, strict=True):
        values = incident_values(incident, start)
        for c in item.checks:
            if values[c.key] != c.expected:
                diff = f"expected {_show(c.expected)}, got {_show(values[c.key])}"
                failures.append(Failure(item.line, f"{at}: incident {incident.number}: {c.key}: {diff}"))
    return failures


def _check_alert(item: AlertExpectation, sim: Simulator, feeder: Feeder, at: str) -> list[Failure]:
    fingerprint = feeder.fingerprint(item.ref)
    state = None if fingerprint is None else find_alert(sim, fingerprint)
    if state is None:
        return [Failure(item.line, f"{at}: alert {item.ref}: not seen yet")]
    values: dict[str, object] = {
        "disposition": state.disposition,
        "reason": state.describe(),
        "incident": state.incident,
        "rule": state.rule,
        "status": state.status,
    }
    failures = []
    for c in item.checks:
        got = values[c.key]
        if c.key == "reason":
            assert isinstance(c.expected, str) and isinstance(got, str)
            if c.expected not in got:
                failures.append(
                    Failure(
                        item.line,
                        f"{at}: alert {item.ref}: reason: "
                        f"expected a reason containing {_quoted(c.expected)}, got {_quoted(got)}",
                    )
                )
        elif got != c.expected:
            why = f" ({_quoted(state.describe())})" if c.key == "disposition" and state.describe() else ""
            failures.append(
                Failure(
                    item.line,
                    f"{at}: alert {item.ref}: {c.key}: expected {_show(c.expected)}, got {_show(got)}{why}",
                )
            )
    return failures


def find_alert(sim: Simulator, fingerprint: str) -> AlertState | None:
    """The state of an alert, also when `dedup_by` merged it into another one."""
    state = sim.alerts.get(fingerprint)
    if state is not None:
        return state
    for merged in sim.alerts.values():
        if any(m.fingerprint == fingerprint for m in merged.members):
            return merged
    return None


def incident_values(incident: SimIncident, start: datetime) -> dict[str, object]:
    """What an incident expectation can check, with times as offsets from the test's start."""
    return {
        "rule": incident.rule,
        "priority": incident.priority,
        "status": incident.status,
        "title": incident.title,
        "group_key": incident.group_key,
        "alerts": len(incident.alerts),
        "related": len(incident.related),
        "flapping": incident.flapping,
        "route": incident.route,
        "client": incident.client,
        "reopen_count": incident.reopen_count,
        "opened_at": incident.opened_at - start,
        "resolved_at": None if incident.resolved_at is None else incident.resolved_at - start,
    }


# -- showing ------------------------------------------------------------------------------------


def _show(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, timedelta):
        return format_duration(value)
    if isinstance(value, str):
        return value if _PLAIN.fullmatch(value) else _quoted(value)
    return str(value)


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _show_checks(checks: tuple[Check, ...]) -> str:
    return "{" + ", ".join(f"{c.key}: {_show(c.expected)}" for c in checks) + "}"


def _show_incident(incident: SimIncident, start: datetime) -> str:
    """The incident as an expectation would say it, leaving out what is unset, zero or false."""
    values = incident_values(incident, start)
    shown = ", ".join(
        f"{k}: {_show(v)}"
        for k, v in values.items()
        if k != "group_key" and (k in ("alerts", "opened_at") or v not in (None, 0, False))
    )
    return f"incident {incident.number}: {{{shown}}}"


def _count(number: int, word: str) -> str:
    return f"{number} {word}" + ("" if number == 1 else "s")


def format_report(results: list[FileResult]) -> str:
    """PASS / FAIL per test with each failure under it, ERROR per file that could not run, a summary."""
    lines = []
    for result in results:
        lines.append(result.file)
        for error in result.errors:
            first, *rest = error.split("\n")
            lines.append(f"  ERROR {first}")
            lines.extend(f"        {more}" for more in rest)
        for test in result.tests:
            lines.append(f"  {'PASS' if test.passed else 'FAIL'}  {test.name}")
            for failure in test.failures:
                first, *rest = failure.text.split("\n")
                lines.append(f"        {result.file}:{failure.line}: {first}")
                lines.extend(f"        {more}" for more in rest)
    lines.append(summary(results))
    return "\n".join(lines)


def summary(results: list[FileResult]) -> str:
    tests = [t for r in results for t in r.tests]
    failed = sum(not t.passed for t in tests)
    text = f"{_count(len(tests), 'test')} in {_count(len(results), 'file')}: "
    text += f"{len(tests) - failed} passed, {failed} failed"
    broken = sum(bool(r.errors) for r in results)
    return text + (f", {_count(broken, 'file')} could not be run" if broken else "")


def report_json(results: list[FileResult]) -> dict[str, object]:
    tests = [t for r in results for t in r.tests]
    return {
        "passed": sum(t.passed for t in tests),
        "failed": sum(not t.passed for t in tests),
        "errors": sum(bool(r.errors) for r in results),
        "files": [
            {
                "file": r.file,
                "errors": list(r.errors),
                "tests": [
                    {
                        "name": t.name,
                        "line": t.line,
                        "passed": t.passed,
                        "failures": [{"line": f.line, "text": f.text} for f in t.failures],
                    }
                    for t in r.tests
                ],
            }
            for r in results
        ],
    }


def exit_code(results: list[FileResult]) -> int:
    """0 when every test passed, 1 when one failed, 2 when a file could not be read, parsed or run."""
    if any(r.errors for r in results):
        return 2
    return 1 if any(not t.passed for r in results for t in r.tests) else 0
