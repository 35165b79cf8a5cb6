"""A YAML file read for validation: its values, the line of every key and value, and problems.

PyYAML's safe loader composes the node tree, which knows where everything is; values are then
built from it (scalars by the safe constructor, so the usual YAML types apply) while recording
each one's line. Checks report `file:line: reason` problems into a shared list instead of
raising, so a file's every mistake is reported at once. Rules files and the rota use it.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import yaml
from yaml.constructor import SafeConstructor

from bridge.errors import RuleProblem
from bridge.timeutil import parse_duration

Path_ = tuple[object, ...]
"""Where a value sits in the document: keys and list indexes from the root."""


def did_you_mean(word: str, choices: tuple[str, ...] | list[str]) -> str:
    hint = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {hint[0]!r}?)" if hint else f" (allowed: {', '.join(choices)})"


@dataclass
class YamlDocument:
    file: str
    text: str
    problems: list[RuleProblem]
    root: Any = None
    lines: dict[Path_, int] = field(default_factory=dict)
    key_lines: dict[Path_, int] = field(default_factory=dict)
    raw: dict[Path_, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._constructor = SafeConstructor()
        try:
            node = yaml.compose(self.text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            line = exc.problem_mark.line + 1 if exc.problem_mark else 0
            self.problems.append(RuleProblem(self.file, line, f"YAML syntax error: {exc.problem}"))
            return
        except yaml.YAMLError as exc:
            self.problems.append(RuleProblem(self.file, 0, f"YAML error: {exc}"))
            return
        if node is not None:  # an empty file holds nothing
            self.root = self._convert(node, ())

    # -- YAML nodes to values, remembering lines ------------------------------------------------

    def _convert(self, node: yaml.Node, path: Path_) -> Any:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            explicit = {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"}
            self._constructor.flatten_mapping(node)  # `<<: *anchor` merges come first; explicit keys override
            result: dict[str, Any] = {}
            written: set[str] = set()
            for key_node, value_node in node.value:
                key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else repr(key_node)
                if key in written and id(key_node) in explicit:
                    self.problems.append(
                        RuleProblem(self.file, key_node.start_mark.line + 1, f"duplicate key {key!r}")
                    )
                if id(key_node) in explicit:
                    written.add(key)
                self.key_lines[(*path, key)] = key_node.start_mark.line + 1
                result[key] = self._convert(value_node, (*path, key))
            return result
        if isinstance(node, yaml.SequenceNode):
            return [self._convert(item, (*path, i)) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        self.raw[path] = node.value
        return self._constructor.construct_object(node)

    # -- reporting ------------------------------------------------------------------------------

    def line(self, path: Path_) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def key_line(self, path: Path_) -> int:
        return self.key_lines.get(path) or self.line(path)

    def problem(self, path: Path_, reason: str, *, at_key: bool = False) -> None:
        line = self.key_line(path) if at_key else self.line(path)
        self.problems.append(RuleProblem(self.file, line, reason))

    def check_keys(self, path: Path_, value: dict[str, Any], allowed: tuple[str, ...], what: str) -> None:
        for key in value:
            if key not in allowed:
                self.problem((*path, key), f"unknown {what} {key!r}{did_you_mean(key, allowed)}", at_key=True)

    def text_of(self, path: Path_, value: Any) -> str:
        """A scalar as it was written (`05` stays "05", `yes` stays "yes")."""
        return self.raw.get(path, str(value))

    # -- values ---------------------------------------------------------------------------------

    def mapping(self, path: Path_, value: Any, what: str) -> dict[str, Any] | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem(path, f"{what} must be a mapping")
            return None
        return value

    def string(self, path: Path_, value: Any, what: str) -> str | None:
        if value is None:
            return None
        if isinstance(value, dict | list) or value == "":
            self.problem(path, f"{what} must be a non-empty text")
            return None
        return self.text_of(path, value)

    def boolean(self, path: Path_, value: Any, fallback: bool) -> bool:
        if value is None:
            return fallback
        if not isinstance(value, bool):
            self.problem(path, f"`{path[-1]}` must be true or false, got {self.text_of(path, value)!r}")
            return fallback
        return value

    def integer(self, path: Path_, value: Any, what: str, minimum: int) -> int | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            self.problem(path, f"{what} must be a whole number >= {minimum}")
            return None
        return value

    def duration(self, path: Path_, value: Any, fallback: timedelta | None, *, positive: bool = False) -> Any:
        if value is None:
            return fallback
        if not isinstance(value, str):
            text = self.text_of(path, value)
            self.problem(path, f"duration {text!r} needs a unit, e.g. {text}m (units: s, m, h, d, w)")
            return fallback
        try:
            delta = parse_duration(value)
        except ValueError as exc:
            self.problem(path, str(exc))
            return fallback
        if positive and delta <= timedelta(0):
            self.problem(path, f"`{path[-1]}` must be longer than 0s")
        return delta

    def timezone(self, path: Path_, value: Any, fallback: ZoneInfo) -> ZoneInfo:
        if value is None:
            return fallback
        text = self.text_of(path, value)
        try:
            return ZoneInfo(text)
        except (ZoneInfoNotFoundError, ValueError):
            hint = difflib.get_close_matches(text, sorted(available_timezones()), n=1)
            said = f"did you mean {hint[0]!r}?" if hint else "an IANA name such as Europe/Moscow or UTC"
            self.problem(path, f"unknown time zone {text!r} ({said})")
            return fallback

    def instant(self, path: Path_, value: Any, tz: ZoneInfo) -> datetime | None:
        """A date and time; without an offset it is wall-clock time in `tz`."""
        if value is None:
            return None
        text = self.text_of(path, value)
        try:
            parsed = datetime.fromisoformat(text.replace(" ", "T", 1) if "T" not in text else text)
        except ValueError:
            self.problem(
                path, f"{text!r} is not a date and time (e.g. 2026-11-28 01:00 or 2026-11-28T01:00+03:00)"
            )
            return None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=tz)
