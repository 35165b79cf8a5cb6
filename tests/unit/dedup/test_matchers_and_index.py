"""Matchers behave like Alertmanager's; the rule index never changes which rule matches first."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.dedup.loader import load_rules_texts
from bridge.dedup.matchers import MatchOp, parse_matcher
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
