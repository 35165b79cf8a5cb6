"""Why a rule decides about an alert: which rules were tried, why each earlier one did not match,
which matched, and what the rule in force will do with it. What `bridge rules explain` prints.
Pure: rules, an alert and an instant in, lines of text out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bridge.alert import Alert
from bridge.dedup.engine import group_key
from bridge.dedup.rules import Action, OpenWhen, Rule, RuleKind, RuleSet
from bridge.timeutil import format_duration


@dataclass(frozen=True, slots=True)
class Tried:
    rule: Rule
    matched: bool
    why: str  # the first matcher that failed (with the alert's value), or what matched


def tried_rules(rules: RuleSet, alert: Alert) -> list[Tried]:
    """Every rule up to the one in force, in order (the whole `continue` chain included)."""
    tried = []
    for rule in rules.rules:
        failed = next((m for m in rule.matchers if not m.matches(alert)), None)
        if failed is not None:
            actual = alert.field(failed.key)
            shown = repr(actual) if actual else "absent"
            tried.append(Tried(rule, False, f"{failed} does not match: {failed.key} is {shown}"))
            continue
        matched = " and ".join(str(m) for m in rule.matchers) or "no matchers: matches everything"
        tried.append(Tried(rule, True, matched))
        if not rule.proceed:
            return tried
    tried.append(Tried(rules.fallback, True, "no rule ended the search: the defaults decide"))
    return tried


def explain(rules: RuleSet, alert: Alert, at: datetime) -> list[str]:
    lines = [
        f"alert {alert.name!r} on {alert.host or '(no host)'} from {alert.source.value}, {alert.severity}"
    ]
    for step in tried_rules(rules, alert):
        where = f" ({step.rule.file}:{step.rule.line})" if step.rule.file else ""
        mark = "matched    " if step.matched else "no match   "
        lines.append(f"  {mark}{step.rule.name}{where}: {step.why}")
        if step.matched and step.rule.proceed:
            lines.append("             `continue: true`: later rules may add to the decision")
    rule = rules.first_match(alert)
    lines.append(f"rule in force: {rule.describe}")
    lines.extend(f"  {line}" for line in what_it_does(rule, alert))
    for window in rules.maintenance:
        until = window.until(alert, at)
        if until is not None:
            lines.append(
                f"  at {at:%Y-%m-%d %H:%M} UTC it is in maintenance {window.name} until {until:%H:%M} UTC"
            )
    if rules.storm is not None and rule.action is Action.OPEN and rule.kind is RuleKind.ALERT:
        storm = rules.storm
        if rule.storm:
            lines.append(
                f"  storms: counted with other hosts; {storm.hosts} hosts alerting within "
                f"{format_duration(storm.within)} are one storm incident"
            )
        else:
            lines.append("  storms: kept out of storm correlation (storm: false)")
    for inhibiting in rules.inhibiting:
        inhibition = inhibiting.inhibits
        if inhibition is not None and all(m.matches(alert) for m in inhibition.matchers):
            equal = ", ".join(inhibition.equal) or "nothing"
            lines.append(f"  inhibited while an alert of rule {inhibiting.name} fires with equal {equal}")
    return lines


def what_it_does(rule: Rule, alert: Alert) -> list[str]:
    if rule.action is Action.DROP:
        return ["drops it: recorded with the reason, never an incident"]
    done = []
    key = group_key(rule, alert)
    if rule.kind is RuleKind.HEARTBEAT and rule.every is not None:
        done.append(f"heartbeat: opens an incident when it has not come for {format_duration(rule.every)}")
    done.append(f"group {key} (group_by {', '.join(rule.group_by)})")
    if rule.dedup_by:
        done.append(f"alerts equal in {', '.join(rule.dedup_by)} count as one")
    gates = []
    if rule.threshold is not None:
        gates.append(f"{rule.threshold.count} occurrences within {format_duration(rule.threshold.within)}")
    if rule.hold is not None:
        gates.append(f"firing for {format_duration(rule.hold)}")
    joined = " or ".join(gates) if rule.open_when is OpenWhen.ANY else " and ".join(gates)
    if rule.open_when is OpenWhen.ANY and len(gates) == 2:
        done.append(f"opens an incident after {joined}, whichever comes first (open_when: any)")
    else:
        done.append("opens an incident " + (f"after {joined}" if gates else "at once"))

    done.append(f"priority {rule.priority.for_severity(alert.severity)} for severity {alert.severity}")
    if rule.route:
        done.append(f"escalation policy {rule.route}")
    if rule.client is not None:
        done.append(f"client {rule.client.client_of(alert) or '(none found)'}")
    if rule.support_line:
        done.append(f"line {rule.support_line}")
    if rule.flapping is not None:
        flapping = rule.flapping
        done.append(
            f"flapping at {flapping.changes} changes within {format_duration(flapping.within)} "
            f"(calm below {flapping.below})"
        )
    done.append(
        f"resolves after {format_duration(rule.resolve_after)} quiet, "
        f"reopens when firing again within {format_duration(rule.reopen_within)}"
    )
    return done
