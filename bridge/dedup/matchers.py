"""Alertmanager-style matchers: ``value`` / ``=value`` (equal), ``!=``, ``=~`` and ``!~`` (full regex).

As in Alertmanager, an absent label has the value "" and regexes are anchored at both ends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from bridge.alert import Alert


class MatchOp(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    key: str
    op: MatchOp
    value: str
    regex: re.Pattern[str] | None = None

    def matches(self, alert: Alert) -> bool:
        actual = alert.field(self.key)
        if self.op is MatchOp.EQUAL:
            return actual == self.value
        if self.op is MatchOp.NOT_EQUAL:
            return actual != self.value
        assert self.regex is not None
        found = self.regex.fullmatch(actual) is not None
        return found if self.op is MatchOp.REGEX else not found

    def __str__(self) -> str:
        return f"{self.key}{self.op.value}{self.value!r}"


def parse_matcher(key: str, expression: str) -> Matcher:
    """Compile ``key: expression``; raises ValueError (with the regex error) for a bad regex."""
    for op in (MatchOp.REGEX, MatchOp.NOT_REGEX, MatchOp.NOT_EQUAL):
        if expression.startswith(op.value):
            value = expression[len(op.value) :]
            break
    else:
        op = MatchOp.EQUAL
        value = expression[1:] if expression.startswith("=") else expression
    regex = None
    if op in (MatchOp.REGEX, MatchOp.NOT_REGEX):
        try:
            regex = re.compile(value)
        except re.error as exc:
            raise ValueError(f"bad regular expression {value!r}: {exc}") from None
    return Matcher(key=key, op=op, value=value, regex=regex)
