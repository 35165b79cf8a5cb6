"""Rules files: every validation message, located to its file and line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bridge.alert import Severity
from bridge.dedup.loader import load_rules_dir, load_rules_texts
from bridge.dedup.rules import Action, OpenWhen, RuleKind, StormSpec
from bridge.errors import RulesError
from bridge.priority import Priority

REPO_RULES = Path(__file__).resolve().parents[3] / "rules"


def problems(text: str, name: str = "rules.yaml") -> list[str]:
    with pytest.raises(RulesError) as raised:
        load_rules_texts({name: text})
    return [str(p) for p in raised.value.problems]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "rules: [\n",
            "rules.yaml:2: YAML syntax error: expected the node content, but found '<stream end>'",
        ),
        (
            "- a\n- b\n",
            "rules.yaml:1: a rules file must be a mapping with `rules:` (and optionally `defaults:`, `maintenance:`)",
        ),
        ("rulez: []\n", "rules.yaml:1: unknown top-level key 'rulez' (did you mean 'rules'?)"),
        (
            "defaults:\n  group_bye: [host]\n",
            "rules.yaml:2: unknown key in defaults 'group_bye' (did you mean 'group_by'?)",
        ),
        ("defaults: 5\n", "rules.yaml:1: defaults must be a mapping"),
        ("rules: {a: 1}\n", "rules.yaml:1: rules must be a list of rules (each starting with `- name:`)"),
        ("rules:\n  - just-a-string\n", "rules.yaml:2: each rule must be a mapping with at least `name:`"),
        ("rules:\n  - match: {name: x}\n", "rules.yaml:2: rule has no `name:`"),
        (
            "rules:\n  - name: bad name\n",
            "rules.yaml:2: rule name 'bad name' may only use letters, digits, '.', '_' and '-'",
        ),
        (
            "rules:\n  - name: a\n    matches: {}\n",
            "rules.yaml:3: unknown rule key 'matches' (did you mean 'match'?)",
        ),
        (
            "rules:\n  - name: a\n    colour: red\n",
            "rules.yaml:3: unknown rule key 'colour' (allowed: name, description, kind, match, action, group_by, dedup_by, "
            "priority, for, threshold, open_when, storm, flapping, inhibits, every, resolve_after, reopen_within, route, client, "
            "line, silence_on_ack, continue)",
        ),
        (
            "rules:\n  - name: a\n    silence_on_ack: forever\n",
            "rules.yaml:3: 'forever' is not a duration (examples: 30s, 10m, 1h30m, 2d)",
        ),
        (
            "rules:\n  - name: a\n    match: [x]\n",
            "rules.yaml:3: match must be a mapping of field or label to matcher, e.g. {severity: critical}",
        ),
        (
            'rules:\n  - name: a\n    match:\n      name: "=~(unclosed"\n',
            "rules.yaml:4: bad regular expression '(unclosed': missing ), unterminated subpattern at position 0",
        ),
        (
            "rules:\n  - name: a\n    match: {bad-label: x}\n",
            "rules.yaml:3: cannot match on 'bad-label': not a field (fingerprint, host, name, severity, source, "
            "source_ref, status) nor a label name",
        ),
        (
            "rules:\n  - name: a\n    match: {name: [a, b]}\n",
            "rules.yaml:3: matcher for 'name' must be a single value such as 'db-01', '=~db-.*' or '!=info'",
        ),
        (
            "rules:\n  - name: a\n    action: page\n",
            "rules.yaml:3: action must be 'open' or 'drop', got 'page'",
        ),
        (
            "rules:\n  - name: a\n    for: 10\n",
            "rules.yaml:3: duration '10' needs a unit, e.g. 10m (units: s, m, h, d, w)",
        ),
        (
            "rules:\n  - name: a\n    for: ten minutes\n",
            "rules.yaml:3: 'ten minutes' is not a duration (examples: 30s, 10m, 1h30m, 2d)",
        ),
        ("rules:\n  - name: a\n    for: 0s\n", "rules.yaml:3: `for` must be longer than 0s"),
        (
            "rules:\n  - name: a\n    resolve_after: soon\n",
            "rules.yaml:3: 'soon' is not a duration (examples: 30s, 10m, 1h30m, 2d)",
        ),
        (
            "rules:\n  - name: a\n    priority: P9\n",
            "rules.yaml:3: priority must be one of P1, P2, P3, P4, P5, got 'P9'",
        ),
        (
            "rules:\n  - name: a\n    priority: [P1]\n",
            "rules.yaml:3: priority must be one of P1, P2, P3, P4, P5, or a mapping of severity to priority",
        ),
        (
            "rules:\n  - name: a\n    priority:\n      critcal: P1\n",
            "rules.yaml:4: unknown severity 'critcal' (did you mean 'critical'?)",
        ),
        (
            "rules:\n  - name: a\n    priority:\n      critical: P0\n",
            "rules.yaml:4: priority must be one of P1, P2, P3, P4, P5, got 'P0'",
        ),
        (
            "rules:\n  - name: a\n    threshold: 3\n",
            "rules.yaml:3: threshold must be a mapping like {count: 3, within: 15m}",
        ),
        (
            "rules:\n  - name: a\n    threshold: {count: 0, within: 5m}\n",
            "rules.yaml:3: threshold count must be a whole number >= 1",
        ),
        (
            "rules:\n  - name: a\n    threshold: {count: 3}\n",
            "rules.yaml:3: threshold needs `within:` (e.g. within: 15m)",
        ),
        (
            "rules:\n  - name: a\n    threshold: {count: 3, within: 5m, over: 1h}\n",
            "rules.yaml:3: unknown threshold key 'over' (allowed: count, within)",
        ),
        (
            "rules:\n  - name: a\n    group_by: host\n",
            "rules.yaml:3: group_by must be a list of field or label names, e.g. [source, host, name]",
        ),
        (
            "rules:\n  - name: a\n    group_by: [host, 'no such']\n",
            "rules.yaml:3: cannot group by 'no such': not a field nor a label name",
        ),
        (
            "rules:\n  - name: a\n    action: drop\n    for: 5m\n",
            "rules.yaml:4: `for` has no effect on a rule with action: drop",
        ),
        (
            "rules:\n  - name: a\n    match: {x: y}\n  - name: a\n    match: {x: z}\n",
            "rules.yaml:4: duplicate rule name 'a' (first at rules.yaml:2)",
        ),
        (
            "rules:\n  - name: everything\n  - name: never\n    match: {x: y}\n",
            "rules.yaml:3: rule 'never' can never match: rule 'everything' (rules.yaml:2) matches every alert first",
        ),
        ("rules:\n  - name: a\n    name: b\n", "rules.yaml:3: duplicate key 'name'"),
    ],
)
def test_every_mistake_is_reported_with_file_line_and_reason(text: str, expected: str) -> None:
    assert expected in problems(text)


def test_all_mistakes_are_reported_at_once_in_file_order() -> None:
    found = problems(
        "defaults:\n  resolve_after: x\nrules:\n  - name: a\n    for: y\n    match: {n: a}\n"
        "  - name: b\n    action: z\n"
    )
    assert [p.split(":")[1] for p in found] == ["2", "5", "8"]


def test_defaults_may_be_set_in_only_one_file() -> None:
    with pytest.raises(RulesError) as raised:
        load_rules_texts(
            {"a.yaml": "defaults: {resolve_after: 1m}\n", "b.yaml": "defaults: {resolve_after: 2m}\n"}
        )
    assert [str(p) for p in raised.value.problems] == ["b.yaml:1: defaults are already set in a.yaml:1"]


def test_rules_concatenate_across_files_in_name_order(tmp_path: Path) -> None:
    (tmp_path / "20-late.yaml").write_text("rules:\n  - name: late\n    match: {name: x}\n")
    (tmp_path / "10-early.yml").write_text("rules:\n  - name: early\n    match: {name: x}\n")
    (tmp_path / "rota.yaml").write_text("not: rules\n")
    (tmp_path / "notes.txt").write_text("ignored")
    ruleset = load_rules_dir(tmp_path)
    assert [r.name for r in ruleset.rules] == ["early", "late"]


def test_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RulesError, match="rules directory does not exist"):
        load_rules_dir(tmp_path / "nope")


def test_an_empty_file_holds_no_rules() -> None:
    ruleset = load_rules_texts({"empty.yaml": ""})
    assert ruleset.rules == ()
    assert ruleset.fallback.resolve_after == timedelta(minutes=5)


@pytest.mark.parametrize(
    ("texts", "declared"),
    [
        ({"a.yaml": "rules: []\n"}, True),
        ({"a.yaml": "defaults: {priority: P4}\n", "b.yaml": "rules: []\n"}, True),
        ({"a.yaml": ""}, False),  # a file cut to nothing
        ({"a.yaml": "defaults: {priority: P4}\n"}, False),  # cut before its rules
        ({"a.yaml": "defaults: {priority: P4}\nrules:\n"}, False),  # cut right after `rules:`
    ],
)
def test_only_an_explicit_empty_list_says_no_rules_are_meant(texts: dict[str, str], declared: bool) -> None:
    ruleset = load_rules_texts(texts)
    assert (ruleset.rules, ruleset.declared_empty) == ((), declared)


def test_rule_inherits_defaults_and_overrides_them() -> None:
    ruleset = load_rules_texts(
        {
            "r.yaml": """
defaults:
  group_by: [host]
  resolve_after: 2m
  reopen_within: 30m
  priority: {critical: P1, default: P4}
rules:
  - name: own
    match: {name: X}
    group_by: [name]
    priority: p2
    resolve_after: 0s
  - name: inherited
    match: {name: Y}
"""
        }
    )
    own, inherited = ruleset.rules
    assert own.group_by == ("name",)
    assert own.priority.for_severity(Severity.CRITICAL) is Priority.P2
    assert own.resolve_after == timedelta(0)
    assert inherited.group_by == ("host",)
    assert inherited.reopen_within == timedelta(minutes=30)
    assert inherited.priority.for_severity(Severity.CRITICAL) is Priority.P1
    assert inherited.priority.for_severity(Severity.INFO) is Priority.P4
    assert ruleset.fallback.group_by == ("host",)


def test_matcher_values_keep_what_was_written() -> None:
    ruleset = load_rules_texts({"r.yaml": "rules:\n  - name: a\n    match: {nseverity: 05, flag: yes}\n"})
    assert [(m.key, m.value) for m in ruleset.rules[0].matchers] == [("nseverity", "05"), ("flag", "yes")]


def test_yaml_anchors_and_merge_keys_work() -> None:
    ruleset = load_rules_texts(
        {
            "r.yaml": """
rules:
  - &base
    name: a
    match: {name: A}
    for: 5m
  - <<: *base
    name: b
    match: {name: B}
"""
        }
    )
    assert [(r.name, r.hold) for r in ruleset.rules] == [
        ("a", timedelta(minutes=5)),
        ("b", timedelta(minutes=5)),
    ]


def test_version_changes_with_content() -> None:
    one = load_rules_texts({"r.yaml": "rules: []\n"})
    two = load_rules_texts({"r.yaml": "rules: []\n# a comment\n"})
    assert one.version != two.version
    assert one.version == load_rules_texts({"r.yaml": "rules: []\n"}).version


def test_the_shipped_example_rules_load() -> None:
    ruleset = load_rules_dir(REPO_RULES)
    names = [r.name for r in ruleset.rules]
    assert names[:3] == ["watchdog", "info-inhibitor", "drop-info"]
    assert ruleset.by_name["watchdog"].kind is RuleKind.HEARTBEAT
    assert ruleset.by_name["drop-info"].action is Action.DROP
    assert ruleset.by_name["host-down"].inhibits is not None
    assert [m.name for m in ruleset.maintenance] == ["db-nightly"]
    assert ruleset.by_name["disk-space"].hold == timedelta(minutes=15)
    assert ruleset.by_name["ping-loss"].open_when is OpenWhen.ANY
    assert ruleset.storm == StormSpec(hosts=10, within=timedelta(minutes=2), grace=timedelta(minutes=2))
    assert not ruleset.by_name["cpu-load"].storm and ruleset.by_name["host-down"].storm
