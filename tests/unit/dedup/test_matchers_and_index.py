"""Matchers behave like Alertmanager's; the rule index never changes which rule matches first."""

from __future__ import annotations

import re
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.alert import Alert
from bridge.dedup.loader import load_rules_texts
from bridge.dedup.matchers import Matcher, MatchOp, literal_prefix, parse_matcher
from bridge.dedup.rules import Action, Defaults, PrioritySpec, Rule, RuleSet
from bridge.priority import Priority
from tests.support.alerts import alert


@pytest.mark.parametrize(
    ("key", "expression", "expected_op", "value"),
    [
        ("name", "Disk", MatchOp.EQUAL, "Disk"),
        ("name", "=Disk", MatchOp.EQUAL, "Disk"),
        ("name", "!=Disk", MatchOp.NOT_EQUAL, "Disk"),
        ("name", "=~Disk.*", MatchOp.REGEX, "Disk.*"),
        ("name", "!~Disk.*", MatchOp.NOT_REGEX, "Disk.*"),
        ("name", "==x", MatchOp.EQUAL, "=x"),
    ],
)
def test_parse_matcher(key: str, expression: str, expected_op: MatchOp, value: str) -> None:
    matcher = parse_matcher(key, expression)
    assert (matcher.op, matcher.value) == (expected_op, value)


@pytest.mark.parametrize(
    ("key", "expression", "matches"),
    [
        ("name", "=~Disk", False),  # anchored: "DiskFull" does not fully match "Disk"
        ("name", "=~Disk.*", True),
        ("name", "!~Disk.*", False),
        ("host", "web-01", True),
        ("host", "!=web-01", False),
        ("severity", "warning", True),
        ("job", "", True),  # an absent label is ""
        ("job", "!=", False),
        ("instance", "=~web-01:.*", True),
        ("labels.alertname", "DiskFull", True),
        ("annotations.summary", "", True),
    ],
)
def test_matcher_semantics(key: str, expression: str, matches: bool) -> None:
    assert parse_matcher(key, expression).matches(alert("DiskFull", "web-01")) is matches


def test_bad_regex_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="bad regular expression"):
        parse_matcher("name", "=~(")


RULES = load_rules_texts(
    {
        "r.yaml": """
rules:
  - {name: r0, match: {severity: critical}}
  - {name: r1, match: {name: DiskFull, host: "!=db-01"}}
  - {name: r2, match: {name: "=~Disk.*"}}
  - {name: r3, match: {host: db-01}}
  - {name: r4, match: {name: DiskFull}}
  - {name: r5, match: {job: node, severity: "!=info"}}
  - {name: r6, match: {name: HighCPU, severity: warning}}
"""
    }
)


@settings(max_examples=500, deadline=None)
@given(
    st.sampled_from(["DiskFull", "DiskSlow", "HighCPU", "Other"]),
    st.sampled_from(["db-01", "web-01", ""]),
    st.sampled_from(["critical", "high", "warning", "info"]),
    st.sampled_from([{}, {"job": "node"}, {"job": "other"}]),
)
def test_indexed_first_match_equals_a_linear_scan(
    name: str, host: str, severity: str, labels: dict[str, str]
) -> None:
    event = alert(name, host, severity=severity, labels=labels)
    linear = next((r for r in RULES.rules if r.matches(event)), RULES.fallback)
    assert RULES.first_match(event) is linear


# -- the index against a plain scan, over generated rules and alerts ------------------------------

KEYS = ["name", "host", "severity", "team", "service"]
VALUES = ["", "a", "ab", "abc", "b", "ba", "Disk", "DiskFull", "db-01", "critical", "warning"]
REGEXES = ["a.*", "ab.*", "abc", "Disk.*", "(a|b).*", "a|ba", "ab*", "a[b|]c?", ".*", "D(isk|x)Full", "b+a"]


@st.composite
def matchers(draw: st.DrawFn) -> Matcher:
    key = draw(st.sampled_from(KEYS))
    op = draw(st.sampled_from(["", "!=", "=~", "!~"]))
    value = draw(st.sampled_from(REGEXES if op in ("=~", "!~") else VALUES))
    return parse_matcher(key, op + value)


@st.composite
def rule_sets(draw: st.DrawFn) -> RuleSet:
    """Rules as the loader builds them, shadowed ones included (the loader refuses those; the
    index must not care)."""
    defaults = Defaults()
    rules = [
        Rule(
            name=f"r{n}",
            matchers=tuple(draw(st.lists(matchers(), max_size=3))),
            action=Action.OPEN,
            group_by=defaults.group_by,
            priority=PrioritySpec(draw(st.sampled_from(list(Priority)))),
            hold=None,
            threshold=None,
            resolve_after=defaults.resolve_after,
            reopen_within=defaults.reopen_within,
            proceed=draw(st.booleans()) and draw(st.booleans()),
            explicit=frozenset({"priority"}),
            chain=(f"r{n}",),
        )
        for n in range(draw(st.integers(0, 25)))
    ]
    return RuleSet(rules, defaults)


def scanned_chain(rules: RuleSet, event: Alert) -> list[Rule]:
    """What `RuleSet.matching` must return: every rule in order, no index."""
    chain = []
    for rule in rules.rules:
        if rule.matches(event):
            chain.append(rule)
            if not rule.proceed:
                return chain
    return [*chain, rules.fallback]


@settings(max_examples=300, deadline=None)
@given(
    rule_sets(),
    st.lists(
        st.tuples(
            st.sampled_from(VALUES[1:]),
            st.sampled_from(VALUES),
            st.sampled_from(["critical", "high", "warning", "info"]),
            st.dictionaries(st.sampled_from(["team", "service"]), st.sampled_from(VALUES), max_size=2),
        ),
        min_size=1,
        max_size=20,
    ),
)
def test_the_index_decides_as_a_plain_scan_over_generated_rules(
    rules: RuleSet, events: list[tuple[str, str, str, dict[str, str]]]
) -> None:
    for name, host, severity, labels in events:
        event = alert(name, host, severity=severity, labels=labels)
        scanned = scanned_chain(rules, event)
        assert rules.matching(event) == scanned
        first = rules.first_match(event)
        assert first.chain == tuple(r.name for r in scanned) or (len(scanned) == 1 and first is scanned[0])


@settings(max_examples=1000, deadline=None)
@given(
    st.text(alphabet="ab|()[]*+?{}.^$\\1,Dk", max_size=10),
    st.lists(st.text(alphabet="abDk|()[]*.", max_size=8), max_size=10),
)
def test_a_regex_fully_matches_only_values_starting_with_its_literal_prefix(
    pattern: str, values: list[str]
) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "possible nested set": a pattern like any other here
            compiled = re.compile(pattern)
    except re.error:
        return
    prefix = literal_prefix(pattern)
    for value in [*values, prefix, pattern]:
        if compiled.fullmatch(value):
            assert value.startswith(prefix), (pattern, prefix, value)


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("Disk space.*", "Disk space"),
        ("Node(CPU|Memory).*", "Node"),
        ("(Disk|Filesystem).*", ""),
        ("HostDown|NodeDown", ""),
        ("abc*", "ab"),
        ("ab[|]c", "ab"),
        ("(?i)disk.*", ""),
        (r"web\.01", "web"),
    ],
)
def test_literal_prefix(pattern: str, prefix: str) -> None:
    assert literal_prefix(pattern) == prefix
