"""Load rules from YAML files and validate them, reporting every mistake as ``file:line: reason``.

Files are read with PyYAML's safe loader; the composed node tree gives each key and value its
line. Validation collects all problems before failing so that an engineer fixes a file in one go.
Every ``*.yaml`` / ``*.yml`` in the rules directory is a rules file except ``rota.yaml``; files are
taken in name order and their rules concatenated in that order.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from bridge.alert import ALERT_FIELDS, Severity
from bridge.dedup.matchers import Matcher, parse_matcher
from bridge.dedup.rules import Action, Defaults, PrioritySpec, Rule, RuleSet, Threshold
from bridge.errors import RuleProblem, RulesError
from bridge.priority import Priority
from bridge.timeutil import parse_duration

NOT_RULE_FILES = frozenset({"rota.yaml", "rota.yml"})
TOP_KEYS = ("defaults", "rules")
DEFAULTS_KEYS = ("group_by", "resolve_after", "reopen_within", "priority")
RULE_KEYS = (
    "name",
    "description",
    "match",
    "action",
    "group_by",
    "priority",
    "for",
    "threshold",
    "resolve_after",
    "reopen_within",
    "silence_on_ack",
)
THRESHOLD_KEYS = ("count", "within")
_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")

Path_ = tuple[object, ...]


def rule_files(directory: Path) -> list[Path]:
    """The rules files of a directory, in the order their rules apply."""
    return sorted(
        p
        for p in directory.iterdir()
        if p.is_file() and p.suffix in (".yaml", ".yml") and p.name not in NOT_RULE_FILES
    )


def load_rules_dir(directory: Path) -> RuleSet:
    """Load and validate every rules file in `directory`; raises RulesError listing all problems."""
    if not directory.is_dir():
        raise RulesError([RuleProblem(str(directory), 0, "rules directory does not exist")])
    texts: dict[str, str] = {}
    for path in rule_files(directory):
        try:
            texts[str(path)] = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RulesError([RuleProblem(str(path), 0, f"cannot read: {exc}")]) from None
    return load_rules_texts(texts)


def load_rules_texts(texts: Mapping[str, str]) -> RuleSet:
    """Load rules from ``{file name: YAML text}`` (in the given order)."""
    problems: list[RuleProblem] = []
    rules: list[Rule] = []
    defaults: Defaults | None = None
    defaults_at = ""
    docs = []
    for name, text in texts.items():
        doc = _Document(name, text, problems)
        if doc.root is None:
            continue
        docs.append(doc)
        if "defaults" in doc.root:
            if defaults is not None:
                doc.problem(("defaults",), f"defaults are already set in {defaults_at}", at_key=True)
            else:
                defaults = doc.defaults()
                defaults_at = f"{name}:{doc.key_line(('defaults',))}"
    defaults = defaults or Defaults()
    seen: dict[str, str] = {}
    catch_all: Rule | None = None
    for doc in docs:
        for rule, matches_everything in doc.rules(defaults):
            where = f"{rule.file}:{rule.line}"
            if rule.name in seen:
                problems.append(
                    RuleProblem(
                        rule.file,
                        rule.line,
                        f"duplicate rule name {rule.name!r} (first at {seen[rule.name]})",
                    )
                )
            seen.setdefault(rule.name, where)
            if catch_all is not None:
                problems.append(
                    RuleProblem(
                        rule.file,
                        rule.line,
                        f"rule {rule.name!r} can never match: rule {catch_all.name!r} "
                        f"({catch_all.file}:{catch_all.line}) matches every alert first",
                    )
                )
            elif matches_everything:
                catch_all = rule
            rules.append(rule)
    if problems:
        order = {name: i for i, name in enumerate(texts)}
        problems.sort(key=lambda p: (order.get(p.file, -1), p.line))
        raise RulesError(problems)
    return RuleSet(rules, defaults, sources=dict(texts))


@dataclass
class _Document:
    """One YAML file: its values, the line of every key and value, and the problems found."""

    file: str
    text: str
    problems: list[RuleProblem]
    root: dict[str, Any] | None = None
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
        if node is None:
            return  # an empty file holds no rules
        value = self._convert(node, ())
        if not isinstance(value, dict):
            self.problem((), "a rules file must be a mapping with `rules:` (and optionally `defaults:`)")
            return
        self.root = value
        self._check_keys((), value, TOP_KEYS, "top-level key")

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

    def _check_keys(self, path: Path_, value: dict[str, Any], allowed: tuple[str, ...], what: str) -> None:
        for key in value:
            if key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else f" (allowed: {', '.join(allowed)})"
                self.problem((*path, key), f"unknown {what} {key!r}{suggestion}", at_key=True)

    # -- sections -------------------------------------------------------------------------------

    def defaults(self) -> Defaults:
        assert self.root is not None
        path: Path_ = ("defaults",)
        value = self.root["defaults"]
        if value is None:
            return Defaults()
        if not isinstance(value, dict):
            self.problem(path, "defaults must be a mapping")
            return Defaults()
        self._check_keys(path, value, DEFAULTS_KEYS, "key in defaults")
        base = Defaults()
        return Defaults(
            group_by=self._group_by((*path, "group_by"), value.get("group_by"), base.group_by),
            resolve_after=self._duration(
                (*path, "resolve_after"), value.get("resolve_after"), base.resolve_after
            ),
            reopen_within=self._duration(
                (*path, "reopen_within"), value.get("reopen_within"), base.reopen_within
            ),
            priority=self._priority((*path, "priority"), value.get("priority"), base.priority),
        )

    def rules(self, defaults: Defaults) -> list[tuple[Rule, bool]]:
        """The file's rules, each with whether it matches every alert (no `match:` at all)."""
        assert self.root is not None
        value = self.root.get("rules")
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(("rules",), "rules must be a list of rules (each starting with `- name:`)")
            return []
        result = []
        for i, item in enumerate(value):
            rule = self._rule(("rules", i), item, defaults)
            if rule is not None:
                result.append((rule, not item.get("match")))
        return result

    def _rule(self, path: Path_, value: Any, defaults: Defaults) -> Rule | None:
        if not isinstance(value, dict):
            self.problem(path, "each rule must be a mapping with at least `name:`")
            return None
        self._check_keys(path, value, RULE_KEYS, "rule key")
        name = value.get("name")
        if not isinstance(name, str) or not name:
            self.problem(path, "rule has no `name:`")
            name = f"#{path[-1]}"
        elif not _RULE_NAME.match(name):
            self.problem(
                (*path, "name"), f"rule name {name!r} may only use letters, digits, '.', '_' and '-'"
            )
        action_text = value.get("action", "open")
        try:
            action = Action(action_text)
        except ValueError:
            self.problem((*path, "action"), f"action must be 'open' or 'drop', got {action_text!r}")
            action = Action.OPEN
        hold = self._duration((*path, "for"), value.get("for"), None, positive=True)
        rule = Rule(
            name=name,
            matchers=self._matchers((*path, "match"), value.get("match")),
            action=action,
            group_by=self._group_by((*path, "group_by"), value.get("group_by"), defaults.group_by),
            priority=self._priority((*path, "priority"), value.get("priority"), defaults.priority),
            hold=hold,
            threshold=self._threshold((*path, "threshold"), value.get("threshold")),
            resolve_after=self._duration(
                (*path, "resolve_after"), value.get("resolve_after"), defaults.resolve_after
            ),
            reopen_within=self._duration(
                (*path, "reopen_within"), value.get("reopen_within"), defaults.reopen_within
            ),
            silence_on_ack=self._duration(
                (*path, "silence_on_ack"), value.get("silence_on_ack"), None, positive=True
            ),
            file=self.file,
            line=self.line(path),
        )
        if action is Action.DROP:
            for key in ("for", "threshold", "priority", "group_by", "silence_on_ack"):
                if key in value:
                    self.problem(
                        (*path, key), f"`{key}` has no effect on a rule with action: drop", at_key=True
                    )
        return rule  # with problems recorded the whole load fails, but the name still counts for duplicates

    # -- values ---------------------------------------------------------------------------------

    def _matchers(self, path: Path_, value: Any) -> tuple[Matcher, ...]:
        if value is None:
            return ()
        if not isinstance(value, dict):
            self.problem(
                path, "match must be a mapping of field or label to matcher, e.g. {severity: critical}"
            )
            return ()
        result = []
        for key, expression in value.items():
            where = (*path, key)
            if not self._valid_key(key):
                self.problem(
                    where,
                    f"cannot match on {key!r}: not a field ({', '.join(sorted(ALERT_FIELDS))}) "
                    "nor a label name",
                    at_key=True,
                )
                continue
            if isinstance(expression, dict | list) or expression is None:
                self.problem(
                    where,
                    f"matcher for {key!r} must be a single value such as 'db-01', '=~db-.*' or '!=info'",
                )
                continue
            text = self.raw.get(where, str(expression))
            try:
                result.append(parse_matcher(key, text))
            except ValueError as exc:
                self.problem(where, str(exc))
        return tuple(result)

    def _group_by(self, path: Path_, value: Any, fallback: tuple[str, ...]) -> tuple[str, ...]:
        if value is None:
            return fallback
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(path, "group_by must be a list of field or label names, e.g. [source, host, name]")
            return fallback
        for i, key in enumerate(value):
            if not self._valid_key(key):
                self.problem((*path, i), f"cannot group by {key!r}: not a field nor a label name")
        return tuple(value)

    def _duration(
        self, path: Path_, value: Any, fallback: timedelta | None, *, positive: bool = False
    ) -> Any:
        if value is None:
            return fallback
        if not isinstance(value, str):
            text = self.raw.get(path, str(value))
            self.problem(path, f"duration {text!r} needs a unit, e.g. {text}m (units: s, m, h, d, w)")
            return fallback
        try:
            delta = parse_duration(value)
        except ValueError as exc:
            self.problem(path, str(exc))
            return fallback
        if positive and delta <= timedelta(0):
            self.problem(path, "must be longer than 0s")
        return delta

    def _priority(self, path: Path_, value: Any, fallback: PrioritySpec) -> PrioritySpec:
        if value is None:
            return fallback
        choices = ", ".join(p.value for p in Priority)
        if isinstance(value, str):
            try:
                return PrioritySpec(default=Priority(value.upper()))
            except ValueError:
                self.problem(path, f"priority must be one of {choices}, got {value!r}")
                return fallback
        if not isinstance(value, dict):
            self.problem(path, f"priority must be one of {choices}, or a mapping of severity to priority")
            return fallback
        by_severity: dict[Severity, Priority] = {}
        default = fallback.default
        allowed = (*[s.value for s in Severity], "default")
        for key, item in value.items():
            where = (*path, key)
            if key not in allowed:
                hint = difflib.get_close_matches(key, allowed, n=1)
                suggestion = f" (did you mean {hint[0]!r}?)" if hint else f" (allowed: {', '.join(allowed)})"
                self.problem(where, f"unknown severity {key!r}{suggestion}", at_key=True)
                continue
            try:
                priority = Priority(str(item).upper())
            except ValueError:
                self.problem(where, f"priority must be one of {choices}, got {item!r}")
                continue
            if key == "default":
                default = priority
            else:
                by_severity[Severity(key)] = priority
        return PrioritySpec(default=default, by_severity=by_severity)

    def _threshold(self, path: Path_, value: Any) -> Threshold | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem(path, "threshold must be a mapping like {count: 3, within: 15m}")
            return None
        self._check_keys(path, value, THRESHOLD_KEYS, "threshold key")
        count = value.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            self.problem(
                (*path, "count") if "count" in value else path, "threshold count must be a whole number >= 1"
            )
            return None
        if "within" not in value:
            self.problem(path, "threshold needs `within:` (e.g. within: 15m)")
            return None
        within = self._duration((*path, "within"), value.get("within"), None, positive=True)
        if within is None:
            return None
        return Threshold(count=count, within=within)

    @staticmethod
    def _valid_key(key: str) -> bool:
        if key in ALERT_FIELDS:
            return True
        for prefix in ("labels.", "annotations."):
            if key.startswith(prefix):
                return bool(_LABEL_NAME.match(key[len(prefix) :]))
        return bool(_LABEL_NAME.match(key))
