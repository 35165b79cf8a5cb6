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

    def required_prefix(self) -> str:
        """Text every value this matcher accepts starts with ("" when nothing is certain): the
        value of an equality, the literal start of a regex. What lets a rule index skip rules."""
        if self.op is MatchOp.EQUAL:
            return self.value
        if self.op is MatchOp.REGEX:
            return literal_prefix(self.value)
        return ""


_SPECIAL = frozenset(".^$*+?{}[]()|\\")
_OPTIONAL = frozenset("*?{")  # the character before one of these may be absent


def literal_prefix(pattern: str) -> str:
    """The literal text a full match of `pattern` must start with, read conservatively: the
    characters before the first special one, less the last if a quantifier may drop it; ""
    when an alternation at the top level offers other starts. (Global inline flags such as
    `(?i)` can only stand at the very start, where they end the prefix at once.)"""
    if _top_level_alternation(pattern):
        return ""
    end = 0
    while end < len(pattern) and pattern[end] not in _SPECIAL:
        end += 1
    if end < len(pattern) and pattern[end] in _OPTIONAL:
        end -= 1
    return pattern[: max(end, 0)]


def _top_level_alternation(pattern: str) -> bool:
    """Does `pattern` have a `|` outside every group and character class?"""
    depth, class_start, escaped = 0, -1, False
    for position, char in enumerate(pattern):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif class_start >= 0:
            # a "]" first in the class ("[]", "[^]") is one of its members, not its end
            first = position == class_start + 1 or (
                position == class_start + 2 and pattern[position - 1] == "^"
            )
            if char == "]" and not first:
                class_start = -1
        elif char == "[":
            class_start = position
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
    return False


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
