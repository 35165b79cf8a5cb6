"""`bridge rules test`: parsing test files (every mistake as file:line), running them on the
simulator, the diff of a failing expectation, exit codes, and the shipped tests of rules/."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bridge.alert import Source, Status
from bridge.cli.main import main
from bridge.cli.ruletest import expand_paths, rules_test, run_paths
from bridge.dedup.loader import load_rules_dir
from bridge.dedup.ruletest import Feeder, exit_code
from bridge.dedup.ruletest_spec import DEFAULT_START, parse_test_file
from bridge.errors import RulesError

REPO_RULES = Path(__file__).resolve().parents[3] / "rules"

RULES = """\
defaults: {resolve_after: 5m, reopen_within: 1h, priority: P3}
rules:
  - name: drop-info
    match: {severity: info}
    action: drop
  - name: cpu
    match: {name: HighCPU}
    for: 5m
    priority: {critical: P2, default: P3}
    route: infra
"""


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "rules"
    (directory / "tests").mkdir(parents=True)
    (directory / "rules.yaml").write_text(RULES)
    return directory


def write(rules_dir: Path, text: str, name: str = "cpu.yaml") -> Path:
    path = rules_dir / "tests" / name
    path.write_text(text)
    return path


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(rules_test, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def problems(text: str, file: str = "t.yaml") -> list[str]:
    with pytest.raises(RulesError) as caught:
        parse_test_file(file, text)
    return [str(p) for p in caught.value.problems]


PASSING = """\
tests:
  - name: a short burst opens nothing
    alerts:
      - at: 0m
        firing: {name: HighCPU, host: web-01, severity: high}
      - at: 3m
        resolved: {name: HighCPU, host: web-01}
    expect:
      - at: 10m
        incidents: []
        alerts:
          - {name: HighCPU, host: web-01, disposition: cleared, reason: resolved before opening}
  - name: sustained CPU opens a P3 after 5m
    alerts:
      - at: 0m
        firing: {name: HighCPU, host: web-01, severity: high}
    expect:
      - at: 4m59s
        incidents: []
      - at: 5m
        incidents:
          - {rule: cpu, priority: P3, status: open, alerts: 1, route: infra, client: null, opened_at: 5m}
        alerts:
          - {name: HighCPU, disposition: incident, incident: 1, rule: cpu}
        outcomes: {waiting: 1, opened: 1}
"""


# -- running and reporting ----------------------------------------------------------------------


def test_passing_tests_print_pass_and_exit_0(rules_dir: Path) -> None:
    path = write(rules_dir, PASSING)
    code, output = invoke(str(path))
    assert code == 0
    assert output.splitlines() == [
        str(path),
        "  PASS  a short burst opens nothing",
        "  PASS  sustained CPU opens a P3 after 5m",
        "2 tests in 1 file: 2 passed, 0 failed",
    ]


def test_a_failing_field_says_expected_and_got_at_the_line_of_the_expectation(rules_dir: Path) -> None:
    path = write(
        rules_dir,
        """\
tests:
  - name: sustained CPU
    alerts:
      - {at: 0m, firing: {name: HighCPU, host: web-01, severity: critical}}
    expect:
      - at: 5m
        incidents:
          - {rule: cpu, priority: P3, status: resolved, title: HighCPU on web-01}
        alerts:
          - {name: HighCPU, disposition: waiting, reason: threshold}
        outcomes: {opened: 2}
""",
    )
    code, output = invoke(str(path))
    assert code == 1
    p = str(path)
    assert output.splitlines() == [
        p,
        "  FAIL  sustained CPU",
        f"        {p}:8: at 5m: incident 1: priority: expected P3, got P2",
        f"        {p}:8: at 5m: incident 1: status: expected resolved, got open",
        f"        {p}:10: at 5m: alert HighCPU on web-01 (alertmanager): disposition: expected waiting, "
        'got incident ("attached to incident 1 by rule cpu")',
        f"        {p}:10: at 5m: alert HighCPU on web-01 (alertmanager): reason: "
        'expected a reason containing "threshold", got "attached to incident 1 by rule cpu"',
        f"        {p}:6: at 5m: outcome opened: expected 2, got 1",
        "1 test in 1 file: 0 passed, 1 failed",
    ]


def test_a_wrong_number_of_incidents_lists_both_sides(rules_dir: Path) -> None:
    path = write(
        rules_dir,
        """\
tests:
  - name: burst
    alerts:
      - {at: 0m, firing: {name: HighCPU, host: web-01}}
      - {at: 0m, firing: {name: Disk full, host: "db 01", severity: critical}}
    expect:
      - at: 6m
        incidents:
          - {rule: cpu, priority: P3}
""",
    )
    code, output = invoke(str(path))
    assert code == 1
    assert output.splitlines()[2:-1] == [
        f"        {path}:7: at 6m: expected 1 incident, got 2",
        "          expected:",
        "            line 9: {rule: cpu, priority: P3}",
        "          got:",
        "            incident 1: {rule: default, priority: P3, status: open, title: Disk full on db 01, "
        "alerts: 1, opened_at: 0s}",
        "            incident 2: {rule: cpu, priority: P3, status: open, title: HighCPU on web-01, alerts: 1, "
        "route: infra, opened_at: 5m}",
    ]


def test_an_alert_not_yet_seen_fails_clearly(rules_dir: Path) -> None:
    path = write(
        rules_dir,
        """\
tests:
  - name: too early
    alerts:
      - {at: 10m, firing: {name: HighCPU, host: web-01}}
    expect:
      - {at: 5m, alerts: [{name: HighCPU, disposition: waiting}]}
""",
    )
    code, output = invoke(str(path))
    assert code == 1
    assert f"{path}:6: at 5m: alert HighCPU on web-01 (alertmanager): not seen yet" in output


def test_silences_hold_alerts_back_until_they_end(rules_dir: Path) -> None:
    path = write(
        rules_dir,
        """\
tests:
  - name: silenced
    silences:
      - {match: {host: "=~web-.*"}, until: 1h, author: ivanov, comment: kernel upgrade}
    alerts:
      - {at: 0m, firing: {name: HighCPU, host: web-01, severity: critical}}
    expect:
      - at: 30m
        incidents: []
        alerts:
          - {host: web-01, disposition: suppressed, reason: "silenced by ivanov until 2026-01-05 01:00:00 UTC: kernel upgrade"}
      - at: 1h5m
        incidents: [{rule: cpu, priority: P2, status: open}]
""",
    )
    assert invoke(str(path)) == (0, f"{path}\n  PASS  silenced\n1 test in 1 file: 1 passed, 0 failed\n")


def test_start_and_timezone_place_the_test_in_time(rules_dir: Path) -> None:
    path = write(
        rules_dir,
        """\
timezone: Europe/Moscow
start: 2026-11-28 01:00
tests:
  - name: reasons in the file's zone
    alerts:
      - {at: 0m, firing: {name: HighCPU, host: web-01}}
    expect:
      - {at: 1m, alerts: [{name: HighCPU, reason: "opens at 2026-11-28 01:05:00 MSK if still firing"}]}
""",
    )
    spec = parse_test_file(str(path), path.read_text())
    assert spec.tests[0].start.isoformat() == "2026-11-27T22:00:00+00:00"
    assert invoke(str(path))[0] == 0


def test_json_output(rules_dir: Path) -> None:
    path = write(rules_dir, PASSING.replace("priority: P3, status", "priority: P1, status"))
    code, output = invoke("--json", str(path))
    assert code == 1
    report = json.loads(output)
    assert (report["passed"], report["failed"], report["errors"]) == (1, 1, 0)
    failing = report["files"][0]["tests"][1]
    assert failing["name"] == "sustained CPU opens a P3 after 5m"
    assert failing["failures"] == [{"line": 22, "text": "at 5m: incident 1: priority: expected P1, got P3"}]


def test_a_directory_stands_for_its_yaml_files_and_rules_can_be_overridden(
    rules_dir: Path, tmp_path: Path
) -> None:
    write(rules_dir, PASSING, "a.yaml")
    write(rules_dir, PASSING, "b.yml")
    (rules_dir / "tests" / "notes.txt").write_text("not a test")
    assert [p.name for p in expand_paths([rules_dir / "tests"])] == ["a.yaml", "b.yml"]
    code, output = invoke(str(rules_dir / "tests"))
    assert (code, output.splitlines()[-1]) == (0, "4 tests in 2 files: 4 passed, 0 failed")
    # the same tests against other rules: cpu has no `for:` there, so they fail
    other = tmp_path / "other"
    other.mkdir()
    (other / "rules.yaml").write_text(RULES.replace("    for: 5m\n", ""))
    code, output = invoke("--rules", str(other), str(rules_dir / "tests"))
    assert code == 1
    assert "at 4m59s: expected 0 incidents, got 1" in output


def test_the_rules_key_is_relative_to_the_test_file(rules_dir: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "ci" / "rule-tests"
    elsewhere.mkdir(parents=True)
    path = elsewhere / "cpu.yaml"
    path.write_text("rules: ../../rules\n" + PASSING)
    assert parse_test_file(str(path), path.read_text()).rules_dir == elsewhere / "../../rules"
    assert invoke(str(path))[0] == 0


# -- files that cannot run: exit 2 --------------------------------------------------------------


def test_a_rules_directory_that_does_not_load_is_refused_with_its_errors(rules_dir: Path) -> None:
    path = write(rules_dir, "rules: broken\n" + PASSING)
    (rules_dir / "tests" / "broken").mkdir()
    (rules_dir / "tests" / "broken" / "rules.yaml").write_text("rules:\n  - name: x\n    treshold: 3\n")
    code, output = invoke(str(path))
    assert code == 2
    assert output.splitlines() == [
        str(path),
        f"  ERROR {path}:1: the rules in {rules_dir / 'tests' / 'broken'} do not load:",
        f"          {rules_dir / 'tests' / 'broken' / 'rules.yaml'}:3: unknown rule key 'treshold' "
        "(did you mean 'threshold'?)",
        "0 tests in 1 file: 0 passed, 0 failed, 1 file could not be run",
    ]


def test_a_missing_rules_directory_and_a_missing_file_exit_2(rules_dir: Path) -> None:
    path = write(rules_dir, "rules: nowhere\n" + PASSING)
    code, output = invoke(str(path), str(rules_dir / "tests" / "absent.yaml"))
    assert code == 2
    assert f"{path}:1: the rules in {rules_dir / 'tests' / 'nowhere'} do not load:" in output
    assert "rules directory does not exist" in output
    assert f"ERROR {rules_dir / 'tests' / 'absent.yaml'}: cannot read:" in output


def test_a_bad_file_exits_2_even_when_others_pass(rules_dir: Path) -> None:
    good = write(rules_dir, PASSING, "good.yaml")
    bad = write(rules_dir, "tests:\n  - name: x\n    alert: []\n", "bad.yaml")
    code, output = invoke(str(good), str(bad))
    assert code == 2
    assert f"  ERROR {bad}:3: unknown test key 'alert' (did you mean 'alerts'?)" in output
    assert output.splitlines()[-1] == "2 tests in 2 files: 2 passed, 0 failed, 1 file could not be run"


# -- parsing: every mistake at its line ---------------------------------------------------------


def test_yaml_syntax_error() -> None:
    assert problems("tests:\n  - name: [unclosed\n") == [
        "t.yaml:3: YAML syntax error: expected ',' or ']', but got '<stream end>'"
    ]


def test_empty_and_shapeless_files() -> None:
    assert problems("") == ["t.yaml:1: the file is empty: it needs `tests:`"]
    assert problems("- a\n") == [
        "t.yaml:1: a rule test file must be a mapping with `tests:` (and optionally `rules:`)"
    ]
    assert problems("rules: ..\n") == ["t.yaml:1: `tests:` must be a non-empty list"]


def test_unknown_keys_get_a_did_you_mean() -> None:
    text = """\
test: 1
tests:
  - name: x
    alert: []
    alerts:
      - at: 0m
        firing: {name: A, hots: web-01, severity: hihg}
        reslved: {}
    expect:
      - at: 5m
        incident: []
        incidents:
          - {rule: r, priorty: P3}
        alerts:
          - {name: A, dispositon: waiting}
"""
    assert problems(text) == [
        "t.yaml:1: unknown top-level key 'test' (did you mean 'tests'?)",
        "t.yaml:4: unknown test key 'alert' (did you mean 'alerts'?)",
        "t.yaml:7: unknown alert key 'hots' (did you mean 'host'?)",
        "t.yaml:7: unknown severity 'hihg' (did you mean 'high'?)",
        "t.yaml:8: unknown alert event key 'reslved' (did you mean 'resolved'?)",
        "t.yaml:11: unknown expectation key 'incident' (did you mean 'incidents'?)",
        "t.yaml:13: unknown incident key 'priorty' (did you mean 'priority'?)",
        "t.yaml:15: unknown key of an expected alert 'dispositon' (did you mean 'disposition'?)",
        "t.yaml:15: say what to check about the alert: disposition, reason, incident, rule, status",
    ]


def test_bad_values_are_refused() -> None:
    text = """\
timezone: Europe/Moskow
tests:
  - name: x
    start: yesterday
    alerts:
      - {at: ten, firing: {name: A, source: nagios}}
      - {at: 5, firing: {name: B}}
      - {at: 1m, firing: {name: C}, resolved: {name: C}}
      - 5
    expect:
      - at: 5m
        incidents:
          - {priority: P7, status: opened, alerts: -1, flapping: maybe, opened_at: soon}
          - 3
        alerts:
          - {name: A, disposition: waitng, status: burning, incident: 0}
        outcomes: {opend: 1, dropped: -1}
      - at: 6m
"""
    assert problems(text) == [
        "t.yaml:1: unknown time zone 'Europe/Moskow' (did you mean 'Europe/Moscow'?)",
        "t.yaml:4: 'yesterday' is not a date and time (e.g. 2026-11-28 01:00 or 2026-11-28T01:00+03:00)",
        "t.yaml:6: 'ten' is not a duration (examples: 30s, 10m, 1h30m, 2d)",
        "t.yaml:6: unknown source 'nagios' (allowed: alertmanager, zabbix)",
        "t.yaml:7: duration '5' needs a unit, e.g. 5m (units: s, m, h, d, w)",
        "t.yaml:8: each alert event needs exactly one of `firing:` or `resolved:`",
        "t.yaml:9: each alert event must be a mapping like {at: 0m, firing: {name: A}}",
        "t.yaml:13: unknown priority 'P7' (allowed: P1, P2, P3, P4, P5)",
        "t.yaml:13: unknown incident status 'opened' (did you mean 'open'?)",
        "t.yaml:13: `alerts` must be a whole number >= 0",
        "t.yaml:13: `flapping` must be true or false, got 'maybe'",
        "t.yaml:13: 'soon' is not a duration (examples: 30s, 10m, 1h30m, 2d)",
        "t.yaml:14: each incident must be a mapping of what to check, e.g. {rule: cpu-load, priority: P3}",
        "t.yaml:16: unknown disposition 'waitng' (did you mean 'waiting'?)",
        "t.yaml:16: `incident` must be a whole number >= 1",
        "t.yaml:16: unknown alert status 'burning' (did you mean 'firing'?)",
        "t.yaml:17: unknown outcome 'opend' (did you mean 'opened'?)",
        "t.yaml:17: outcome count 'dropped' must be a whole number >= 0",
        "t.yaml:18: an expectation needs `incidents:`, `alerts:` or `outcomes:`",
    ]


def test_every_resolution_and_expected_alert_picks_exactly_one_alert() -> None:
    text = """\
tests:
  - name: x
    alerts:
      - {at: 0m, firing: {name: A, host: a, labels: {disk: sda}}}
      - {at: 0m, firing: {name: A, host: b}}
      - {at: 1m, resolved: {name: A}}
      - {at: 1m, resolved: {name: B}}
      - {at: 2m, resolved: {}}
      - {at: 3m, firing: {name: C}}
      - {at: 2m, resolved: {name: C}}
    expect:
      - at: 5m
        alerts:
          - {name: A, labels: {disk: sda}, disposition: waiting}
          - {host: nowhere, disposition: waiting}
"""
    listing = "A on a {disk=sda} (alertmanager); A on b (alertmanager)"
    assert problems(text) == [
        f"t.yaml:6: 2 alerts match ({listing}): add `host:` or `labels:` to pick one",
        f"t.yaml:7: no alert fired before it matches (alerts: {listing})",
        "t.yaml:8: say which alert it resolves: `name:`, `host:`, `labels:` or `source:`",
        f"t.yaml:10: no alert fired before it matches (alerts: {listing})",  # fires only at 3m
        f"t.yaml:15: no alert of this test matches (alerts: {listing}; C (alertmanager))",
    ]


def test_tests_need_names_alerts_and_expectations() -> None:
    text = """\
tests:
  - alerts: []
    expect: []
  - name: x
  - name: x
    alerts: [{at: 0m, firing: {name: A}}]
    expect: [{at: 0m, incidents: []}]
  - just a string
"""
    assert problems(text) == [
        "t.yaml:2: test has no `name:`",
        "t.yaml:4: test has no `alerts:` (the timeline of alert events)",
        "t.yaml:4: test has no `expect:` (what should have happened, and when)",
        "t.yaml:5: duplicate test name 'x' (first at line 4)",
        "t.yaml:8: each test must be a mapping with `name:`, `alerts:` and `expect:`",
    ]


def test_bad_silences_are_refused() -> None:
    text = """\
tests:
  - name: x
    silences:
      - {match: {host: "=~(web"}, until: 1h}
      - {from: 1h, until: 30m}
      - {match: {host: web-01}}
      - {match: {"bad key": x}, until: 1h, comment: c}
    alerts: [{at: 0m, firing: {name: A}}]
    expect: [{at: 0m, incidents: []}]
"""
    assert problems(text) == [
        "t.yaml:4: bad regular expression '(web': missing ), unterminated subpattern at position 0",
        "t.yaml:5: a silence needs `match:` with at least one matcher",
        "t.yaml:5: `until` must be after `from`",
        "t.yaml:6: a silence needs `until:` (when it ends, e.g. 2h after the test's start)",
        "t.yaml:7: cannot match on 'bad key': not a field nor a label name",
    ]


def test_a_good_file_parses_into_events_in_time_order() -> None:
    spec = parse_test_file(
        "rules/tests/t.yaml",
        """\
tests:
  - name: x
    alerts:
      - {at: 5m, resolved: {name: A}}
      - {at: 0m, firing: {name: A, host: h, severity: high, annotations: {summary: s}}}
    expect: [{at: 5m, incidents: []}]
""",
    )
    assert spec.rules_dir == Path("rules/tests/..")
    assert spec.rules_line == 1
    test = spec.tests[0]
    assert test.start == DEFAULT_START
    assert [(e.at, e.status, e.line) for e in test.events] == [
        (timedelta(0), Status.FIRING, 5),
        (timedelta(minutes=5), Status.RESOLVED, 4),
    ]
    assert test.events[1].severity == test.events[0].severity  # a resolution keeps what it resolves
    assert test.events[1].annotations == {"summary": "s"}


# -- the alerts the sources would send -------------------------------------------------------------


def test_alertmanager_keeps_its_fingerprint_and_zabbix_gets_a_new_problem_per_occurrence() -> None:
    spec = parse_test_file(
        "t.yaml",
        """\
tests:
  - name: x
    alerts:
      - {at: 0m, firing: {name: A, host: h, labels: {env: prod}}}
      - {at: 1m, firing: {name: A, host: h, labels: {env: prod}}}
      - {at: 2m, resolved: {name: A}}
      - {at: 3m, firing: {name: A, host: h, labels: {env: prod}}}
      - {at: 0m, firing: {source: zabbix, name: Z, host: h}}
      - {at: 2m, resolved: {source: zabbix}}
      - {at: 3m, firing: {source: zabbix, name: Z, host: h}}
    expect: [{at: 5m, incidents: []}]
""",
    )
    test = spec.tests[0]
    feeder = Feeder()
    sent = [feeder.alert(e, test.start + e.at) for e in test.events]
    am = [a for a in sent if a.source is Source.ALERTMANAGER]
    assert len({a.fingerprint for a in am}) == 1
    assert [a.starts_at - test.start for a in am] == [
        timedelta(0),
        timedelta(0),
        timedelta(0),
        timedelta(minutes=3),
    ]
    assert am[2].ends_at is not None and am[2].ends_at - test.start == timedelta(minutes=2)
    assert am[0].labels == {"alertname": "A", "host": "h", "env": "prod"}
    assert am[0].recurring
    zabbix = [a for a in sent if a.source is Source.ZABBIX]
    assert [a.fingerprint for a in zabbix] == [
        zabbix[0].fingerprint,
        zabbix[0].fingerprint,
        zabbix[0].fingerprint + ".2",
    ]
    assert zabbix[0].fingerprint.startswith("zabbix:test:")
    assert not zabbix[0].recurring


def test_the_same_fields_give_the_same_fingerprint_in_every_run() -> None:
    text = "tests:\n  - name: x\n    alerts: [{at: 0m, firing: {name: A, host: h}}]\n    expect: [{at: 0m, incidents: []}]\n"
    keys = {parse_test_file("t.yaml", text).tests[0].events[0].ref.key for _ in range(3)}
    assert keys == {"d8fc8df9697b4d26"}


def test_a_given_fingerprint_is_the_alert_identity() -> None:
    text = """\
tests:
  - name: x
    alerts:
      - {at: 0m, firing: {name: A, host: h, fingerprint: abc}}
      - {at: 1m, firing: {name: B, host: h, fingerprint: abc}}
    expect: [{at: 0m, incidents: []}]
"""
    assert problems(text) == ["t.yaml:5: fingerprint 'abc' is already used by A on h (alertmanager)"]


# -- the shipped tests --------------------------------------------------------------------------


def test_the_rules_loader_does_not_take_the_tests_for_rules() -> None:
    assert [Path(f).name for f in load_rules_dir(REPO_RULES).files] == ["rules.yaml"]


def test_the_shipped_rule_tests_pass() -> None:
    files = expand_paths([REPO_RULES / "tests"])
    assert files, "rules/tests/ has no tests"
    results = run_paths(files)
    failures = [f"{r.file}: {t.name}: {f.text}" for r in results for t in r.tests for f in t.failures] + [
        e for r in results for e in r.errors
    ]
    assert failures == []
    assert exit_code(results) == 0


def test_the_shipped_rule_tests_check_every_rule() -> None:
    """Each rule of rules/ is named by an expectation of some shipped test (`rule: ...`)."""
    checked = set()
    for path in expand_paths([REPO_RULES / "tests"]):
        for test in parse_test_file(str(path), path.read_text()).tests:
            for expectation in test.expectations:
                items = [*(expectation.incidents or ()), *expectation.alerts]
                checked |= {c.expected for item in items for c in item.checks if c.key == "rule"}
    rules = {r.name for r in load_rules_dir(REPO_RULES).rules} | {"default"}
    assert rules - checked == set()


def test_the_command_is_named_test_for_the_rules_group() -> None:
    assert isinstance(rules_test, click.Command)
    assert rules_test.name == "test"


def test_bridge_rules_test_runs_as_a_command_of_bridge(rules_dir: Path) -> None:

    result = CliRunner().invoke(main, ["rules", "test", str(write(rules_dir, PASSING))])
    assert (result.exit_code, result.output.splitlines()[-1]) == (0, "2 tests in 1 file: 2 passed, 0 failed")


def test_maintenance_windows_come_from_the_rules(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    (rules / "tests").mkdir(parents=True)
    (rules / "rules.yaml").write_text(
        RULES
        + "maintenance:\n  - name: db-nightly\n    match: {host: db-01}\n"
        + '    every: "sat 01:00-05:00"\n    timezone: Europe/Moscow\n'
    )
    path = rules / "tests" / "maintenance.yaml"
    path.write_text(
        """\
timezone: Europe/Moscow
start: 2026-11-28 00:00
tests:
  - name: held back during the window, decided when it ends
    alerts:
      - {at: 2h, firing: {name: Backup failed, host: db-01, severity: high}}
      - {at: 2h, firing: {name: Backup failed, host: db-02, severity: high}}
    expect:
      - at: 4h59m
        incidents: [{title: Backup failed on db-02, opened_at: 2h}]
        alerts:
          - {host: db-01, disposition: suppressed, reason: in maintenance db-nightly until 2026-11-28 05:00:00 MSK}
      - at: 5h
        incidents:
          - {title: Backup failed on db-02}
          - {title: Backup failed on db-01, opened_at: 5h}
"""
    )
    assert invoke(str(path))[0] == 0
    broken = path.read_text().replace("opened_at: 5h", "opened_at: 2h")
    path.write_text(broken)
    code, output = invoke(str(path))
    assert code == 1
    assert f"{path}:16: at 5h: incident 2: opened_at: expected 2h, got 5h" in output
