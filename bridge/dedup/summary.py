"""The summary `bridge rules check` prints: every rule in order with what it does, and the
maintenance windows. Pure: a loaded rule set in, lines out."""

from __future__ import annotations

from bridge.dedup.rules import Action, OpenWhen, Rule, RuleKind, RuleSet
from bridge.timeutil import format_duration

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def describe_ruleset(rules: RuleSet, directory: str) -> list[str]:
    files = ", ".join(sorted(rules.files)) or "no files"
    lines = [
        f"{directory}: OK, {len(rules.rules)} rules and {len(rules.maintenance)} maintenance windows "
        f"in {len(rules.files)} files ({files}), version {rules.version}"
    ]
    width = max([len(r.name) for r in rules.rules] + [len(rules.fallback.name)])
    for rule in rules.rules:
        lines.append(f"  {rule.name:<{width}}  {', '.join(rule_traits(rule))}")
        matchers = " ".join(str(m) for m in rule.matchers) or "(matches everything)"
        lines.append(f"  {'':<{width}}  match {matchers}   [{rule.file}:{rule.line}]")
    defaults = rules.fallback
    lines.append(f"  {defaults.name:<{width}}  {', '.join(rule_traits(defaults))}  (no rule matched)")
    for window in rules.maintenance:
        spans = [
            f"{'/'.join(DAY_NAMES[d] for d in sorted(w.days))} {w.start:%H:%M}-{w.end:%H:%M}"
            for w in window.windows
        ]
        spans += [f"{o.start.isoformat()} .. {o.end.isoformat()}" for o in window.once]
        matchers = " ".join(str(m) for m in window.matchers) or "every alert"
        lines.append(f"  maintenance {window.name}: {'; '.join(spans)} {window.tz.key}, {matchers}")
    if rules.storm is not None:
        storm = rules.storm
        out = [
            r.name
            for r in rules.rules
            if not r.storm and r.action is Action.OPEN and r.kind is RuleKind.ALERT
        ]
        lines.append(
            f"  storm: {storm.hosts} hosts within {format_duration(storm.within)} are one incident "
            f"(grace {format_duration(storm.grace)})" + (f"; not for {', '.join(out)}" if out else "")
        )
    return lines


def rule_traits(rule: Rule) -> list[str]:
    if rule.action is Action.DROP:
        return ["drop"]
    traits = []
    if rule.kind is RuleKind.HEARTBEAT and rule.every is not None:
        traits.append(f"heartbeat every {format_duration(rule.every)}")
    traits.append(f"group by {'+'.join(rule.group_by)}")
    if rule.threshold is not None:
        traits.append(f"{rule.threshold.count} within {format_duration(rule.threshold.within)}")
    if rule.hold is not None:
        traits.append(f"for {format_duration(rule.hold)}")
    if rule.open_when is OpenWhen.ANY:
        traits.append("open when any")
    by_severity = ", ".join(f"{s}={p}" for s, p in rule.priority.by_severity.items())
    traits.append(f"priority {by_severity + ', else ' if by_severity else ''}{rule.priority.default}")
    if rule.flapping is not None:
        traits.append(f"flapping {rule.flapping.changes} in {format_duration(rule.flapping.within)}")
    if rule.inhibits is not None:
        targets = " ".join(str(m) for m in rule.inhibits.matchers)
        traits.append(f"inhibits {targets} equal {'+'.join(rule.inhibits.equal)}")
    if rule.dedup_by:
        traits.append(f"dedup by {'+'.join(rule.dedup_by)}")
    if rule.route:
        traits.append(f"route {rule.route}")
    if rule.support_line:
        traits.append(f"line {rule.support_line}")
    if rule.proceed:
        traits.append("continue")
    if rule.kind is not RuleKind.HEARTBEAT:  # a heartbeat resolves on its next check-in
        traits.append(f"resolve after {format_duration(rule.resolve_after)}")
    return traits
