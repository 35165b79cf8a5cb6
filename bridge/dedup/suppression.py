"""What holds an alert back although a rule would let it through: a maintenance window, a
silence, or another alert that explains it (inhibition). Pure.

Checked in that order; the first that applies wins. A held-back alert is recorded with its
reason and looked at again when what held it back ends (see `EngineTimer.RELEASE` and
`Decision.releases`), so nothing that is still firing afterwards is lost.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from bridge.alert import Alert
from bridge.dedup.evolve import quick_init
from bridge.dedup.matchers import Matcher
from bridge.dedup.rules import Rule, RuleSet
from bridge.dedup.state import AlertState, Context, Disposition, Inhibitor


@quick_init
@dataclass(frozen=True, slots=True)
class Suppression:
    disposition: Disposition  # SUPPRESSED or INHIBITED
    key: str  # "maintenance:<name>", "silence:<id>" or "inhibit:<fingerprint>"
    reason: str
    until: datetime | None  # when it ends, if that is known in advance
    related: Inhibitor | None = None  # inhibition: the alert that explains this one


def _all_match(matchers: tuple[Matcher, ...], alert: Alert) -> bool:
    """`all(m.matches(alert) for m in matchers)` without a generator per alert and rule."""
    for matcher in matchers:  # noqa: SIM110 - all() would build a generator per call
        if not matcher.matches(alert):
            return False
    return True


def suppression_for(
    rules: RuleSet, context: Context, alert: Alert, now: datetime, when: Callable[[datetime], str]
) -> Suppression | None:
    """What holds `alert` back at `now`, if anything; `when` formats times for the reason."""
    for window in rules.maintenance:
        until = window.until(alert, now)
        if until is not None:
            return Suppression(
                Disposition.SUPPRESSED,
                f"maintenance:{window.name}",
                f"in maintenance {window.name} until {when(until)}",
                until,
            )
    for silence in context.silences:
        if silence.active(now) and silence.matches(alert):
            said = f": {silence.comment}" if silence.comment else ""
            return Suppression(
                Disposition.SUPPRESSED,
                f"silence:{silence.id}",
                f"silenced by {silence.author} until {when(silence.ends_at)}{said}",
                silence.ends_at,
            )
    for rule in rules.inhibiting:
        inhibition = rule.inhibits
        assert inhibition is not None
        if not _all_match(inhibition.matchers, alert):
            continue
        for source in context.inhibitors.get(rule.name, {}).get(inhibition.key(alert), {}).values():
            if source.fingerprint != alert.fingerprint:
                where = f" (incident {source.incident})" if source.incident is not None else ""
                return Suppression(
                    Disposition.INHIBITED,
                    f"inhibit:{source.fingerprint}",
                    f"inhibited by {source.description}{where}",
                    None,
                    source,
                )
    return None


def inhibitor_of(rule: Rule, state: AlertState, alert: Alert) -> tuple[str, tuple[str, ...]] | None:
    """(rule name, equal values) under which this alert inhibits others right now, if it does."""
    if rule.inhibits is None or not state.in_group:
        return None
    return rule.name, rule.inhibits.key(alert)


def describe_source(alert: Alert) -> str:
    return f"{alert.name} on {alert.host}" if alert.host and alert.host not in alert.name else alert.name


class InhibitorIndex:
    """The alerts inhibiting others right now, kept in step with decisions by whoever applies them."""

    def __init__(self) -> None:
        self.index: dict[str, dict[tuple[str, ...], dict[str, Inhibitor]]] = {}
        # Where each fingerprint stands in `index`, so that moving one is O(1): a storm of
        # HostDown alerts must not make every update walk every down host.
        self._where: dict[str, tuple[str, tuple[str, ...]]] = {}

    def update(self, rule: Rule, state: AlertState, alert: Alert) -> None:
        """Record `state` (of an alert of `rule`): it inhibits others while it fires in its group."""
        if rule.inhibits is None:
            return
        self.place(state.fingerprint, inhibitor_entry(rule, state, alert))

    def place(self, fingerprint: str, entry: InhibitorEntry | None) -> None:
        """Record where the alert `fingerprint` stands now: `entry` (see `inhibitor_entry`), or
        inhibiting nothing."""
        was = self._where.pop(fingerprint, None)
        if was is not None:
            by_key = self.index[was[0]]
            by_key[was[1]].pop(fingerprint, None)
            if not by_key[was[1]]:
                del by_key[was[1]]
        if entry is not None:
            name, key, inhibitor = entry
            self.index.setdefault(name, {}).setdefault(key, {})[fingerprint] = inhibitor
            self._where[fingerprint] = (name, key)


InhibitorEntry = tuple[str, tuple[str, ...], Inhibitor]
"""Where an inhibiting alert sits in an `InhibitorIndex`: its rule's name, its equal values, itself."""


def inhibitor_entry(rule: Rule, state: AlertState, alert: Alert) -> InhibitorEntry | None:
    """The alert's entry in an `InhibitorIndex` (None: it inhibits nothing right now). It depends
    on the rule and on what is stored of the alert only, so it can be kept while both stay."""
    found = inhibitor_of(rule, state, alert)
    if found is None:
        return None
    name, key = found
    return name, key, Inhibitor(state.fingerprint, describe_source(alert), state.incident)
