"""Ownership, escalation and SLA of incidents, inside the transaction of each change.

When an incident opens it gets at once a responsible person (from the rota: the client's engineer
in its business hours, else whoever is on duty), a line, an escalation policy, SLA deadlines, the
durable timers that will act on them, and the registration message. Operator actions move the
timers: an acknowledgement stops escalation and starts the ack timeout, resolving stops the SLA
clocks, rejecting a resolution counts a return (more than `max_returns`: the head of IT takes it).
The timers themselves fire in `bridge.ticketing.escalation`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, tzinfo
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from bridge.db import per_transaction, timers
from bridge.db.models import AlertRow, Incident
from bridge.db.timeline import add_entry
from bridge.errors import PayloadError
from bridge.priority import Priority
from bridge.schedule.rotation import Override
from bridge.services import oncall
from bridge.services.hooks import IncidentChange
from bridge.services.live import LiveRota
from bridge.services.metrics import Metrics
from bridge.services.notifications import Notifier
from bridge.ticketing import sla
from bridge.ticketing.lifecycle import IncidentAction, IncidentStatus
from bridge.ticketing.messages import MessageKind
from bridge.ticketing.rota import Assignment, EscalationPolicy, Paged, Rota
from bridge.yamldoc import did_you_mean

log = logging.getLogger(__name__)


class DutyTimer(StrEnum):
    """Durable timers of one incident each (subject: the incident number)."""

    ESCALATION = "escalation"  # the next escalation step
    ACK_TIMEOUT = "ack_timeout"  # an acknowledged incident must show life by then
    SLA_ACK = "sla_ack"
    SLA_RESOLVE = "sla_resolve"
    STALE = "stale"
    LONG_OPEN = "long_open"  # tell the head of IT it is still open


class Duty:
    """The rota at work on incidents. An `IncidentHooks`: ticketing calls it inside each change."""

    def __init__(
        self, rota: LiveRota, notifier: Notifier, base_url: str | None, metrics: Metrics | None = None
    ) -> None:
        self.live = rota
        self.notifier = notifier
        self.metrics = metrics
        # Where people open an incident: BRIDGE_BASE_URL, or what `bridge serve` listens on. A
        # process that knows neither (a worker without BRIDGE_BASE_URL) links the path alone
        # rather than guess a host and port that may be another machine's.
        self.base_url = (base_url or "").rstrip("/")

    @property
    def rota(self) -> Rota:
        return self.live.rota

    # -- hooks ----------------------------------------------------------------------------------

    def incident_opened(self, session: Session, incident: Incident, now: datetime) -> None:
        """Owner, line, policy, deadlines, timers and the registration message of a new incident."""
        timers.fresh_subject(session, str(incident.number))  # a new number: none of its timers is stored
        rota = self.rota
        answers = self._answers(session, now)
        assignment = answers.responsible_for(incident.client, now)
        policy, policy_why = rota.policy_for(incident.route, incident.client)
        incident.policy = policy.name
        incident.line = incident.line or "L1"
        incident.escalation_round = 0
        incident.escalation_step = None
        why = assignment.why if assignment else "nobody in the rota covers this time"
        if assignment is not None:
            incident.assignee = assignment.person
        due = answers.deadlines(incident.client, incident.priority, incident.opened_at)
        self._set_deadlines(incident, due)
        what = [
            f"responsible: {rota.display(incident.assignee)} ({why})",
            f"line {incident.line}",
            f"escalation policy {policy.name}" + ("" if policy_why == "default" else f" ({policy_why})"),
            self._deadline_text(incident),
        ]
        self._log(session, incident, now, "assigned", "; ".join(what))
        self._arm(session, incident, now)
        registered: set[str] = set()
        if incident.assignee and (person := rota.person(incident.assignee)) is not None:
            self._send(session, incident, [Paged(person.handle, why)], MessageKind.REGISTRATION, why, now, "")
            registered.add(person.handle)
        self._step(session, incident, policy, 0, 0, now, "new incident", skip=registered)

    def alert_attached(
        self, session: Session, incident: Incident, alert: AlertRow, now: datetime, late: bool
    ) -> None:
        return None  # the duty hears of the incident, not of each alert

    def incident_changed(self, session: Session, change: IncidentChange) -> None:
        incident, action, now = change.incident, change.action, change.at
        number = str(incident.number)
        human = change.by_a_person
        if human:
            incident.worked_at = now
        policy = self._policy(incident)
        status = incident.status
        if action is IncidentAction.ACK:
            timers.cancel_all(session, [DutyTimer.ESCALATION, DutyTimer.SLA_ACK], number)
            if policy.ack_timeout:
                timers.defer(session, DutyTimer.ACK_TIMEOUT, number, now + policy.ack_timeout)
        elif action in (IncidentAction.RESOLVE, IncidentAction.CLOSE, IncidentAction.CANCEL):
            done = [DutyTimer.ESCALATION, DutyTimer.ACK_TIMEOUT, DutyTimer.SLA_ACK, DutyTimer.SLA_RESOLVE]
            timers.cancel_all(
                session, [*done, DutyTimer.STALE, DutyTimer.LONG_OPEN] if status.final else done, number
            )
        elif action in (IncidentAction.REJECT, IncidentAction.REOPEN):
            self._back_to_work(session, change)
        elif action is IncidentAction.ESCALATE:
            self.escalate(session, incident, now, _said(f"escalated by {change.actor}", change.comment))
        elif action is IncidentAction.ASSIGN:
            self._assigned(session, change)
        elif action is IncidentAction.PRIORITY:
            due = sla.deadlines(self.rota, incident.client, incident.priority, incident.opened_at)
            self._set_deadlines(incident, due)
            self._log(
                session,
                incident,
                now,
                "sla",
                f"deadlines for {incident.priority}: {self._deadline_text(incident)}",
            )
            self._arm_sla(session, incident)
        if human and status is IncidentStatus.ACKNOWLEDGED and action is not IncidentAction.ESCALATE:
            # Life on an acknowledged incident: escalation waits again for the ack timeout.
            timers.cancel(session, DutyTimer.ESCALATION, number)
            if policy.ack_timeout:
                timers.defer(session, DutyTimer.ACK_TIMEOUT, number, now + policy.ack_timeout)

    # -- escalation -----------------------------------------------------------------------------

    def escalate(self, session: Session, incident: Incident, now: datetime, why: str) -> None:
        """Page the next step now (escalate-now, a breach, a step's wait ran out)."""
        policy = self._policy(incident)
        if incident.escalation_step is None:
            following: tuple[int, int] | None = (0, incident.escalation_round)
        else:
            following = policy.after(incident.escalation_step, incident.escalation_round)
        if following is None:
            timers.cancel(session, DutyTimer.ESCALATION, str(incident.number))
            self._log(
                session,
                incident,
                now,
                "escalation",
                f"{why}: escalation policy {policy.name} has no step left (ran {policy.repeat} time(s))",
            )
            return
        self._step(session, incident, policy, *following, now, why)

    def _step(
        self,
        session: Session,
        incident: Incident,
        policy: EscalationPolicy,
        step: int,
        round_: int,
        now: datetime,
        why: str,
        skip: set[str] | None = None,
        depth: int = 0,
    ) -> None:
        """Page `step` of round `round_` and schedule the next one after the step's wait; a step
        that finds nobody to page passes straight on to the next."""
        if not policy.steps:
            return
        incident.escalation_step, incident.escalation_round = step, round_
        if self.metrics is not None:
            self.metrics.escalated(session, step + 1)
        current = policy.steps[step]
        label = f"step {step + 1}/{len(policy.steps)} of {policy.name}" + (
            f", round {round_ + 1}/{policy.repeat}" if policy.repeat > 1 else ""
        )
        everyone = self._answers(session, now).targets(policy, step, incident.assignee, incident.client, now)
        paged = [p for p in everyone if p.person not in (skip or set())]
        targets = ", ".join(str(t) for t in current.targets)
        if paged:
            self._send(
                session, incident, paged, MessageKind.ESCALATION, f"{why} ({label}: {targets})", now, label
            )
        elif not everyone:
            following = policy.after(step, round_)
            self._log(
                session, incident, now, "escalation", f"{why}: {label} ({targets}) finds nobody to page"
            )
            if following is not None and depth < len(policy.steps) * policy.repeat:
                self._step(session, incident, policy, *following, now, why, depth=depth + 1)
                return
        timers.defer(session, DutyTimer.ESCALATION, str(incident.number), now + current.wait)

    # -- after a resolution ---------------------------------------------------------------------

    def _back_to_work(self, session: Session, change: IncidentChange) -> None:
        incident, now = change.incident, change.at
        rota = self.rota
        rejected = change.action is IncidentAction.REJECT
        reason = _said(f"{'rejected' if rejected else 'reopened'} by {change.actor}", change.comment)
        head = rota.head_of_it()
        if rejected and incident.return_count > rota.max_returns and head is not None:
            if incident.assignee != head.handle:
                before = incident.assignee
                incident.assignee = head.handle
                self._log(
                    session,
                    incident,
                    now,
                    "assigned",
                    f"returned {incident.return_count} times (more than {rota.max_returns}): "
                    f"reassigned from {rota.display(before)} to the head of IT, {rota.display(head.handle)}",
                )
            reason += f"; returned {incident.return_count} times, now with the head of IT"
        told: set[str] = set()
        if incident.assignee and rota.person(incident.assignee):
            self._send(
                session,
                incident,
                [Paged(incident.assignee, "responsible")],
                MessageKind.RETURNED,
                reason,
                now,
                "",
            )
            told.add(incident.assignee)
        self._arm(session, incident, now)
        # Back to work means escalation from the start; the owner was just told, not paged twice.
        self._step(session, incident, self._policy(incident), 0, 0, now, reason, skip=told)

    def _assigned(self, session: Session, change: IncidentChange) -> None:
        incident, rota = change.incident, self.rota
        if incident.assignee and incident.assignee not in rota.people and rota.people:
            raise PayloadError(
                "to",
                f"unknown person {incident.assignee!r}{did_you_mean(incident.assignee, list(rota.people))}",
            )
        if incident.assignee and rota.person(incident.assignee) and change.actor != incident.assignee:
            paged = [Paged(incident.assignee, "new responsible")]
            reason = _said(f"assigned by {change.actor}", change.comment)
            self._send(session, incident, paged, MessageKind.ASSIGNED, reason, change.at, "")

    # -- SLA ------------------------------------------------------------------------------------

    @staticmethod
    def _set_deadlines(incident: Incident, due: sla.Deadlines) -> None:
        incident.ack_due_at, incident.resolve_due_at = due.ack, due.resolve

    def _deadline_text(self, incident: Incident) -> str:
        return (
            f"acknowledge by {self.local(incident.ack_due_at) or 'no target'}, "
            f"resolve by {self.local(incident.resolve_due_at) or 'no target'}"
        )

    def _arm(self, session: Session, incident: Incident, now: datetime) -> None:
        """Timers of an incident in work: SLA clocks, stale check, the long-open note."""
        number = str(incident.number)
        self._arm_sla(session, incident)
        timers.defer(session, DutyTimer.STALE, number, now + self.rota.stale_after)
        if self.rota.head_notify_open_after is not None and incident.resolved_at is None:
            timers.defer(
                session, DutyTimer.LONG_OPEN, number, incident.opened_at + self.rota.head_notify_open_after
            )

    def _arm_sla(self, session: Session, incident: Incident) -> None:
        number = str(incident.number)
        stop = []
        if incident.ack_due_at and incident.acknowledged_at is None and incident.ack_breached_at is None:
            timers.defer(session, DutyTimer.SLA_ACK, number, incident.ack_due_at)
        else:
            stop.append(DutyTimer.SLA_ACK)
        if incident.resolve_due_at and incident.resolve_breached_at is None:
            timers.defer(session, DutyTimer.SLA_RESOLVE, number, incident.resolve_due_at)
        else:
            stop.append(DutyTimer.SLA_RESOLVE)
        if stop:
            timers.cancel_all(session, stop, number)

    # -- messages -------------------------------------------------------------------------------

    def _send(
        self,
        session: Session,
        incident: Incident,
        paged: list[Paged],
        kind: str,
        reason: str,
        now: datetime,
        step: str,
    ) -> None:
        """Queue `kind` messages to each paged person, and say on the timeline who, how and why."""
        rota = self.rota
        context = self.context(incident, reason, step)
        reached: list[str] = []
        unreachable: list[str] = []
        for target in paged:
            person = rota.person(target.person)
            used = self.notifier.queue(session, person, kind, context, now, incident.number) if person else []
            shown = f"{rota.display(target.person)} ({target.why})"
            (reached if used else unreachable).append(f"{shown} by {', '.join(used)}" if used else shown)
        text = f"{kind}: {reason}" if kind != MessageKind.REGISTRATION else "registration message"
        if reached:
            self._log(session, incident, now, "paged", f"{text}: paging {'; '.join(reached)}")
        if unreachable:
            self._log(
                session, incident, now, "unreachable", f"{text}: no channel reaches {'; '.join(unreachable)}"
            )

    def notify(
        self, session: Session, incident: Incident, people: list[Paged], kind: str, reason: str, now: datetime
    ) -> None:
        self._send(session, incident, people, kind, reason, now, "")

    def context(self, incident: Incident, reason: str, step: str) -> Mapping[str, Any]:
        rota = self.rota
        return {
            "number": incident.number,
            "title": incident.title,
            "priority": incident.priority,
            "status": incident.status,
            "type": incident.type.replace("_", " "),
            "client": incident.client,
            "line": incident.line,
            "description": incident.description,
            "assignee": rota.display(incident.assignee),
            "assigned_why": reason,
            "ack_due": self.local(incident.ack_due_at),
            "resolve_due": self.local(incident.resolve_due_at),
            "opened": self.local(incident.opened_at),
            "return_count": incident.return_count,
            "reason": reason,
            "step": step,
            "link": f"{self.base_url}/incidents/{incident.number}",
        }

    def local(self, at: datetime | None) -> str | None:
        """An instant as people of the rota read it: ``Mon 2026-11-23 10:50 MSK``."""
        if at is None:
            return None
        return _local(at, self.rota.tz)

    # -- helpers --------------------------------------------------------------------------------

    def _answers(self, session: Session, now: datetime) -> RotaAnswers:
        """The rota's answers this transaction asked for (kept while the rota and the run-time
        overrides it read stay the same objects)."""
        rota = self.rota
        overrides = oncall.overrides(session, now)
        kept: RotaAnswers | None = session.info.get(_ANSWERS)
        if kept is None or kept.rota is not rota or kept.overrides is not overrides:
            kept = session.info[_ANSWERS] = RotaAnswers(rota, overrides)
        return kept

    def _policy(self, incident: Incident) -> EscalationPolicy:
        rota = self.rota
        return rota.policies.get(incident.policy or "", rota.policies[rota.default_policy])

    @staticmethod
    def _log(session: Session, incident: Incident, now: datetime, kind: str, text: str) -> None:
        add_entry(session, incident.number, now, kind, text)


@lru_cache(maxsize=1024)
def _local(at: datetime, tz: tzinfo) -> str:
    """`Duty.local`, worked out once per instant and zone: a batch opening hundreds of incidents
    at a few instants shows each one's deadlines and opening time (five per incident)."""
    return at.astimezone(tz).strftime("%a %Y-%m-%d %H:%M %Z")


def _said(what: str, comment: str) -> str:
    """ "escalated by orlov: disk full", or just the first part without a comment."""
    return f"{what}: {comment}" if comment else what


class RotaAnswers:
    """The rota's answers about incidents opening, asked once per transaction and question: a
    batch opening hundreds of incidents asks the same few (a delivery's alerts share its instant
    and mostly its client), and working out who is on duty walks every rotation's shifts. For
    one rota and one set of run-time overrides; the rota's answers are pure given those."""

    def __init__(self, rota: Rota, overrides: Mapping[str, tuple[Override, ...]]) -> None:
        self.rota = rota
        self.overrides = overrides
        self._responsible: dict[tuple[str | None, datetime], Assignment | None] = {}
        self._deadlines: dict[tuple[str | None, Priority, datetime], sla.Deadlines] = {}
        self._targets: dict[tuple[str, int, str | None, str | None, datetime], tuple[Paged, ...]] = {}

    def responsible_for(self, client: str | None, at: datetime) -> Assignment | None:
        key = (client, at)
        if key not in self._responsible:
            self._responsible[key] = self.rota.responsible_for(client, at, self.overrides)
        return self._responsible[key]

    def deadlines(self, client: str | None, priority: Priority, opened_at: datetime) -> sla.Deadlines:
        key = (client, priority, opened_at)
        found = self._deadlines.get(key)
        if found is None:
            found = self._deadlines[key] = sla.deadlines(self.rota, client, priority, opened_at)
        return found

    def targets(
        self, policy: EscalationPolicy, step: int, responsible: str | None, client: str | None, at: datetime
    ) -> list[Paged]:
        """Whom `step` of `policy` pages (`Rota.targets`)."""
        key = (policy.name, step, responsible, client, at)
        found = self._targets.get(key)
        if found is None:
            paged = self.rota.targets(policy.steps[step], responsible, client, at, self.overrides)
            found = self._targets[key] = tuple(paged)
        return list(found)


_ANSWERS = per_transaction.key("bridge.rota_answers")
