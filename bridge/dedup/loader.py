"""Load rules from YAML files and validate them, reporting every mistake as ``file:line: reason``.

Every ``*.yaml`` / ``*.yml`` in the rules directory is a rules file except ``rota.yaml``; files are
taken in name order and their rules concatenated in that order. All problems of all files are
collected before failing, so that an engineer fixes them in one go. See docs/rules.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bridge.alert import ALERT_FIELDS, Severity
from bridge.dedup.matchers import Matcher, parse_matcher
from bridge.dedup.rules import (
    Action,
    ClientSpec,
    Defaults,
    Flapping,
    Inhibition,
    Maintenance,
    OpenWhen,
    PrioritySpec,
    Rule,
    RuleKind,
    RuleSet,
    StormSpec,
    Threshold,
)
from bridge.errors import RuleProblem, RulesError
from bridge.priority import SUPPORT_LINES, Priority
from bridge.schedule.windows import OneOff, WeeklyWindow, parse_window
from bridge.yamldoc import Path_, YamlDocument, did_you_mean

NOT_RULE_FILES = frozenset({"rota.yaml", "rota.yml"})
TOP_KEYS = ("defaults", "rules", "maintenance", "storm")
STORM_KEYS = ("hosts", "within", "grace")
DEFAULTS_KEYS = ("group_by", "resolve_after", "reopen_within", "priority")
RULE_KEYS = (
    "name",
    "description",
    "kind",
    "match",
    "action",
    "group_by",
    "dedup_by",
    "priority",
    "for",
    "threshold",
    "open_when",
    "storm",
    "flapping",
    "inhibits",
    "every",
    "resolve_after",
    "reopen_within",
    "route",
    "client",
    "line",
    "silence_on_ack",
    "continue",
)
THRESHOLD_KEYS = ("count", "within")
FLAPPING_KEYS = ("changes", "within", "below")
INHIBITS_KEYS = ("match", "equal")
CLIENT_KEYS = ("label", "host_group")
MAINTENANCE_KEYS = ("name", "description", "match", "every", "from", "until", "timezone")
NOT_FOR_HEARTBEATS = ("action", "for", "threshold", "open_when", "storm", "flapping", "inhibits", "dedup_by")
NOT_FOR_DROP = (
    "for",
    "threshold",
    "open_when",
    "storm",
    "priority",
    "group_by",
    "silence_on_ack",
    "flapping",
    "route",
    "client",
    "line",
)

_LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


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
    docs = [doc for name, text in texts.items() if (doc := RulesDocument(name, text, problems)).usable]
    defaults: Defaults | None = None
    defaults_at = ""
    for doc in docs:
        if "defaults" in doc.root:
            if defaults is not None:
                doc.problem(("defaults",), f"defaults are already set in {defaults_at}", at_key=True)
            else:
                defaults = doc.defaults()
                defaults_at = f"{doc.file}:{doc.key_line(('defaults',))}"
    defaults = defaults or Defaults()
    storm: StormSpec | None = None
    storm_at = ""
    for doc in docs:
        if "storm" in doc.root:
            if storm_at:
                doc.problem(("storm",), f"storm is already set in {storm_at}", at_key=True)
            else:
                storm = doc.storm()
                storm_at = f"{doc.file}:{doc.key_line(('storm',))}"
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    catch_all: Rule | None = None
    for doc in docs:
        for rule, matches_everything in doc.rules(defaults):
            if rule.name in seen:
                problems.append(
                    RuleProblem(
                        rule.file,
                        rule.line,
                        f"duplicate rule name {rule.name!r} (first at {seen[rule.name]})",
                    )
                )
            seen.setdefault(rule.name, f"{rule.file}:{rule.line}")
            if catch_all is not None:
                problems.append(
                    RuleProblem(
                        rule.file,
                        rule.line,
                        f"rule {rule.name!r} can never match: rule {catch_all.name!r} "
                        f"({catch_all.file}:{catch_all.line}) matches every alert first",
                    )
                )
            elif matches_everything and not rule.proceed:
                catch_all = rule
            rules.append(rule)
    maintenance: list[Maintenance] = []
    named: dict[str, str] = {}
    for doc in docs:
        for window in doc.maintenance():
            if window.name in named:
                problems.append(
                    RuleProblem(
                        window.file,
                        window.line,
                        f"duplicate maintenance name {window.name!r} (first at {named[window.name]})",
                    )
                )
            named.setdefault(window.name, f"{window.file}:{window.line}")
            maintenance.append(window)
    if problems:
        order = {name: i for i, name in enumerate(texts)}
        problems.sort(key=lambda p: (order.get(p.file, -1), p.line))
        raise RulesError(problems)
    return RuleSet(
        rules,
        defaults,
        sources=dict(texts),
        maintenance=tuple(maintenance),
        declared_empty=any(doc.root.get("rules") == [] for doc in docs),
        storm=storm,
    )


class RulesDocument(YamlDocument):
    """One rules file."""

    @property
    def usable(self) -> bool:
        if self.root is None:
            return False
        if not isinstance(self.root, dict):
            self.problem(
                (),
                "a rules file must be a mapping with `rules:` (and optionally `defaults:`, `maintenance:`)",
            )
            return False
        self.check_keys((), self.root, TOP_KEYS, "top-level key")
        return True

    # -- sections -------------------------------------------------------------------------------

    def defaults(self) -> Defaults:
        path: Path_ = ("defaults",)
        value = self.root["defaults"]
        if value is None:
            return Defaults()
        if not isinstance(value, dict):
            self.problem(path, "defaults must be a mapping")
            return Defaults()
        self.check_keys(path, value, DEFAULTS_KEYS, "key in defaults")
        base = Defaults()
        return Defaults(
            group_by=self._fields((*path, "group_by"), value.get("group_by"), base.group_by, "group by"),
            resolve_after=self.duration(
                (*path, "resolve_after"), value.get("resolve_after"), base.resolve_after
            ),
            reopen_within=self.duration(
                (*path, "reopen_within"), value.get("reopen_within"), base.reopen_within
            ),
            priority=self._priority((*path, "priority"), value.get("priority"), base.priority),
        )

    def storm(self) -> StormSpec | None:
        """`storm:` settings; `storm: off` (or false) is no storm correlation."""
        path: Path_ = ("storm",)
        value = self.root["storm"]
        if value is None or value is False or value == "off":
            return None
        if not isinstance(value, dict):
            self.problem(path, "storm must be a mapping like {hosts: 10, within: 2m}, or off")
            return None
        self.check_keys(path, value, STORM_KEYS, "storm key")
        hosts = self.integer(
            (*path, "hosts") if "hosts" in value else path, value.get("hosts"), "storm hosts", 2
        )
        if "hosts" not in value:
            self.problem(path, "storm needs `hosts:` (how many distinct hosts alerting at once make a storm)")
        if "within" not in value:
            self.problem(path, "storm needs `within:` (e.g. within: 2m)")
        within = self.duration((*path, "within"), value.get("within"), None, positive=True)
        grace = self.duration((*path, "grace"), value.get("grace"), within, positive=True)
        if hosts is None or within is None or grace is None:
            return None
        return StormSpec(hosts=hosts, within=within, grace=grace)

    def rules(self, defaults: Defaults) -> list[tuple[Rule, bool]]:
        """The file's rules, each with whether it matches every alert (no `match:` at all)."""
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

    def maintenance(self) -> list[Maintenance]:
        value = self.root.get("maintenance")
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(
                ("maintenance",), "maintenance must be a list of windows (each starting with `- name:`)"
            )
            return []
        windows = []
        for i, item in enumerate(value):
            window = self._maintenance(("maintenance", i), item)
            if window is not None:
                windows.append(window)
        return windows

    # -- one rule -------------------------------------------------------------------------------

    def _rule(self, path: Path_, value: Any, defaults: Defaults) -> Rule | None:
        if not isinstance(value, dict):
            self.problem(path, "each rule must be a mapping with at least `name:`")
            return None
        self.check_keys(path, value, RULE_KEYS, "rule key")
        name = value.get("name")
        if not isinstance(name, str) or not name:
            self.problem(path, "rule has no `name:`")
            name = f"#{path[-1]}"
        elif not _RULE_NAME.match(name):
            self.problem(
                (*path, "name"), f"rule name {name!r} may only use letters, digits, '.', '_' and '-'"
            )
        kind = self._choice((*path, "kind"), value.get("kind"), RuleKind, RuleKind.ALERT)
        action = self._choice((*path, "action"), value.get("action"), Action, Action.OPEN)
        rule = Rule(
            name=name,
            matchers=self._matchers((*path, "match"), value.get("match")),
            action=action,
            group_by=self._fields((*path, "group_by"), value.get("group_by"), defaults.group_by, "group by"),
            priority=self._priority((*path, "priority"), value.get("priority"), defaults.priority),
            hold=self.duration((*path, "for"), value.get("for"), None, positive=True),
            threshold=self._threshold((*path, "threshold"), value.get("threshold")),
            open_when=self._choice((*path, "open_when"), value.get("open_when"), OpenWhen, OpenWhen.ALL),
            storm=self.boolean((*path, "storm"), value.get("storm"), True),
            resolve_after=self.duration(
                (*path, "resolve_after"), value.get("resolve_after"), defaults.resolve_after
            ),
            reopen_within=self.duration(
                (*path, "reopen_within"), value.get("reopen_within"), defaults.reopen_within
            ),
            silence_on_ack=self.duration(
                (*path, "silence_on_ack"), value.get("silence_on_ack"), None, positive=True
            ),
            kind=kind,
            every=self.duration((*path, "every"), value.get("every"), None, positive=True),
            dedup_by=self._fields((*path, "dedup_by"), value.get("dedup_by"), (), "deduplicate by"),
            flapping=self._flapping((*path, "flapping"), value.get("flapping")),
            inhibits=self._inhibits((*path, "inhibits"), value.get("inhibits")),
            route=self.string((*path, "route"), value.get("route"), "route"),
            client=self._client((*path, "client"), value.get("client")),
            support_line=self._line((*path, "line"), value.get("line")),
            proceed=self.boolean((*path, "continue"), value.get("continue"), False),
            explicit=frozenset(value) - {"name", "description", "match", "continue", "kind"},
            chain=(name,),
            file=self.file,
            line=self.line(path),
        )
        self._consistent(path, value, rule)
        return rule  # with problems recorded the whole load fails, but the name still counts for duplicates

    def _consistent(self, path: Path_, value: dict[str, Any], rule: Rule) -> None:
        """Keys that contradict each other."""
        if rule.kind is RuleKind.HEARTBEAT:
            if rule.every is None and "every" not in value:
                self.problem(
                    path, "a heartbeat rule needs `every:` (how often the heartbeat must come, e.g. 5m)"
                )
            if not value.get("match"):
                self.problem(path, "a heartbeat rule needs `match:` (which alert is the heartbeat)")
            for key in NOT_FOR_HEARTBEATS:
                if key in value:
                    self.problem((*path, key), f"`{key}` has no effect on a heartbeat rule", at_key=True)
        elif "every" in value:
            self.problem((*path, "every"), "`every` is for heartbeat rules (kind: heartbeat)", at_key=True)
        alerting = rule.action is not Action.DROP and rule.kind is RuleKind.ALERT
        if alerting and "open_when" in value and ("for" not in value or "threshold" not in value):
            self.problem(
                (*path, "open_when"),
                "`open_when` says how `for:` and `threshold:` combine: the rule needs both",
                at_key=True,
            )
        if rule.action is Action.DROP:
            for key in NOT_FOR_DROP:
                if key in value:
                    self.problem(
                        (*path, key), f"`{key}` has no effect on a rule with action: drop", at_key=True
                    )

    # -- one maintenance window -----------------------------------------------------------------

    def _maintenance(self, path: Path_, value: Any) -> Maintenance | None:
        if not isinstance(value, dict):
            self.problem(path, "each maintenance window must be a mapping with at least `name:`")
            return None
        self.check_keys(path, value, MAINTENANCE_KEYS, "maintenance key")
        name = value.get("name")
        if not isinstance(name, str) or not _RULE_NAME.match(name):
            self.problem(
                path if name is None else (*path, "name"),
                "maintenance needs a `name:` of letters, digits, '.', '_' and '-'",
            )
            name = f"#{path[-1]}"
        tz = self.timezone((*path, "timezone"), value.get("timezone"), ZoneInfo("UTC"))
        windows: list[WeeklyWindow] = []
        every = value.get("every")
        texts = every if isinstance(every, list) else ([] if every is None else [every])
        for i, text in enumerate(texts):
            where = (*path, "every", i) if isinstance(every, list) else (*path, "every")
            try:
                windows.append(parse_window(str(text)))
            except ValueError as exc:
                self.problem(where, str(exc))
        once: list[OneOff] = []
        start = self.instant((*path, "from"), value.get("from"), tz)
        end = self.instant((*path, "until"), value.get("until"), tz)
        if ("from" in value) != ("until" in value):
            self.problem(path, "a one-off maintenance needs both `from:` and `until:`")
        elif start is not None and end is not None:
            if end <= start:
                self.problem((*path, "until"), "`until` must be after `from`")
            else:
                once.append(OneOff(start.astimezone(UTC), end.astimezone(UTC)))
        if "every" not in value and "from" not in value:
            self.problem(path, 'maintenance needs `every:` (e.g. "sat 01:00-05:00") or `from:` and `until:`')
        return Maintenance(
            name=name,
            matchers=self._matchers((*path, "match"), value.get("match")),
            windows=tuple(windows),
            once=tuple(once),
            tz=tz,
            file=self.file,
            line=self.line(path),
        )

    # -- values ---------------------------------------------------------------------------------

    def _choice(self, path: Path_, value: Any, kind: type[Any], fallback: Any) -> Any:
        if value is None:
            return fallback
        try:
            return kind(value)
        except ValueError:
            choices = " or ".join(repr(k.value) for k in kind)
            self.problem(path, f"{path[-1]} must be {choices}, got {value!r}")
            return fallback

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
            if not valid_key(key):
                fields = ", ".join(sorted(ALERT_FIELDS))
                self.problem(
                    where, f"cannot match on {key!r}: not a field ({fields}) nor a label name", at_key=True
                )
                continue
            if isinstance(expression, dict | list) or expression is None:
                self.problem(
                    where,
                    f"matcher for {key!r} must be a single value such as 'db-01', '=~db-.*' or '!=info'",
                )
                continue
            try:
                result.append(parse_matcher(key, self.text_of(where, expression)))
            except ValueError as exc:
                self.problem(where, str(exc))
        return tuple(result)

    def _fields(self, path: Path_, value: Any, fallback: tuple[str, ...], what: str) -> tuple[str, ...]:
        if value is None:
            return fallback
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(
                path, f"{path[-1]} must be a list of field or label names, e.g. [source, host, name]"
            )
            return fallback
        for i, key in enumerate(value):
            if not valid_key(key):
                self.problem((*path, i), f"cannot {what} {key!r}: not a field nor a label name")
        return tuple(value)

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
                self.problem(where, f"unknown severity {key!r}{did_you_mean(key, allowed)}", at_key=True)
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
        self.check_keys(path, value, THRESHOLD_KEYS, "threshold key")
        count = value.get("count")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            self.problem(
                (*path, "count") if "count" in value else path, "threshold count must be a whole number >= 1"
            )
            return None
        if "within" not in value:
            self.problem(path, "threshold needs `within:` (e.g. within: 15m)")
            return None
        within = self.duration((*path, "within"), value.get("within"), None, positive=True)
        return None if within is None else Threshold(count=count, within=within)

    def _flapping(self, path: Path_, value: Any) -> Flapping | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem(path, "flapping must be a mapping like {changes: 6, within: 30m}")
            return None
        self.check_keys(path, value, FLAPPING_KEYS, "flapping key")
        changes = self.integer(
            (*path, "changes") if "changes" in value else path, value.get("changes"), "flapping changes", 2
        )
        if "changes" not in value:
            self.problem(path, "flapping needs `changes:` (how many fires and resolutions make it flapping)")
        if "within" not in value:
            self.problem(path, "flapping needs `within:` (e.g. within: 30m)")
        within = self.duration((*path, "within"), value.get("within"), None, positive=True)
        if changes is None or within is None:
            return None
        below = self.integer((*path, "below"), value.get("below"), "flapping below", 0)
        if below is None:
            below = changes // 2
        elif below >= changes:
            self.problem((*path, "below"), f"`below` ({below}) must be less than `changes` ({changes})")
        return Flapping(changes=changes, within=within, below=below)

    def _inhibits(self, path: Path_, value: Any) -> Inhibition | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            self.problem(
                path, 'inhibits must be a mapping like {match: {severity: "!=critical"}, equal: [host]}'
            )
            return None
        self.check_keys(path, value, INHIBITS_KEYS, "inhibits key")
        equal = self._fields((*path, "equal"), value.get("equal"), (), "compare")
        if not equal:
            self.problem(path, "inhibits needs `equal:` (the fields that must be equal, e.g. [host])")
        return Inhibition(matchers=self._matchers((*path, "match"), value.get("match")), equal=equal)

    def _line(self, path: Path_, value: Any) -> str | None:
        if value is None:
            return None
        text = self.text_of(path, value).upper()
        if text not in SUPPORT_LINES:
            self.problem(path, f"line must be one of {', '.join(SUPPORT_LINES)}, got {value!r}")
            return None
        return text

    def _client(self, path: Path_, value: Any) -> ClientSpec | None:
        if value is None:
            return None
        if isinstance(value, str):
            return ClientSpec(value=value)
        if not isinstance(value, dict) or len(value) != 1:
            self.problem(path, 'client must be a name, {label: customer} or {host_group: "Clients/(.*)"}')
            return None
        self.check_keys(path, value, CLIENT_KEYS, "client key")
        if "label" in value:
            label = self.string((*path, "label"), value["label"], "client label")
            if label is not None and not valid_key(label):
                self.problem((*path, "label"), f"{label!r} is not a label name")
            return ClientSpec(label=label)
        if "host_group" in value:
            text = self.text_of((*path, "host_group"), value["host_group"])
            try:
                return ClientSpec(host_group=re.compile(text))
            except re.error as exc:
                self.problem((*path, "host_group"), f"bad regular expression {text!r}: {exc}")
        return None


def valid_key(key: str) -> bool:
    """A field name, `labels.x`, `annotations.x`, or a bare label name."""
    if key in ALERT_FIELDS:
        return True
    for prefix in ("labels.", "annotations."):
        if key.startswith(prefix):
            return bool(_LABEL_NAME.match(key[len(prefix) :]))
    return bool(_LABEL_NAME.match(key))
