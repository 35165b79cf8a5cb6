"""The incident timers firing: escalation steps, ack timeouts, SLA breaches, stale and long-open
checks. Each due timer is claimed once (``FOR UPDATE SKIP LOCKED``, then deleted) in its own
transaction with the incident locked, so however many workers tick, a step fires once; and as
they are rows, a restart loses none.

Timers are checked against the incident when they fire, not moved on every change: an ack
timeout or stale check that finds the incident touched since simply waits again from then.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bridge.clock import Clock
from bridge.db import timers
from bridge.db.models import Incident
from bridge.db.timeline import add_entry
from bridge.services.dispatch import Fired, TimerHandler
from bridge.services.duty import Duty, DutyTimer
from bridge.ticketing.lifecycle import IncidentStatus
from bridge.ticketing.messages import MessageKind
from bridge.ticketing.rota import Paged
from bridge.timeutil import format_duration


class DutyTimers:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, duty: Duty) -> None:
        self.sessions = sessions
        self.clock = clock
        self.duty = duty
        self.timers: dict[str, Callable[[Session, Incident, datetime, datetime], None]] = {
            DutyTimer.ESCALATION: self._escalation,
            DutyTimer.ACK_TIMEOUT: self._ack_timeout,
            DutyTimer.SLA_ACK: self._sla_ack,
            DutyTimer.SLA_RESOLVE: self._sla_resolve,
            DutyTimer.STALE: self._stale,
            DutyTimer.LONG_OPEN: self._long_open,
        }

    def handlers(self) -> dict[str, TimerHandler]:
        """The incident timers, one handler per kind, for the tick."""
        return {kind: partial(self._fire, kind) for kind in self.timers}

    def _fire(self, kind: str, subject: str, now: datetime) -> Fired:
        return Fired.FIRED if self.fire(kind, subject, now) else Fired.GONE

    def fire(self, kind: str, subject: str, now: datetime) -> int:
        """Fire one timer if it is still due and nobody else took it."""
        with self.sessions() as session, session.begin():
            incident = session.scalars(
                select(Incident).where(Incident.number == int(subject)).with_for_update()
            ).first()
            due = timers.claim(session, kind, subject, now)
            if due is None:
                return 0
            if incident is not None:
                self.timers[kind](session, incident, due, now)
            return 1

    # -- handlers -------------------------------------------------------------------------------

    def _escalation(self, session: Session, incident: Incident, due: datetime, now: datetime) -> None:
        status = incident.status
        if not status.active:
            return
        if status is IncidentStatus.ACKNOWLEDGED and not self._ack_timed_out(incident, now):
            return  # acknowledged and alive: the ack timeout decides when escalation resumes
        self.duty.escalate(
            session,
            incident,
            due,
            "not acknowledged"
            if status is not IncidentStatus.ACKNOWLEDGED
            else "acknowledged but not worked on",
        )

    def _ack_timed_out(self, incident: Incident, now: datetime) -> bool:
        policy = self.duty.rota.policies.get(incident.policy or "")
        if policy is None or policy.ack_timeout is None or incident.acknowledged_at is None:
            return False
        alive = max(incident.acknowledged_at, incident.worked_at or incident.acknowledged_at)
        return alive + policy.ack_timeout <= now

    def _ack_timeout(self, session: Session, incident: Incident, due: datetime, now: datetime) -> None:
        if incident.status != IncidentStatus.ACKNOWLEDGED or incident.acknowledged_at is None:
            return
        policy = self.duty.rota.policies.get(incident.policy or "")
        if policy is None or policy.ack_timeout is None:
            return
        alive = max(incident.acknowledged_at, incident.worked_at or incident.acknowledged_at)
        if alive + policy.ack_timeout > due:
            timers.defer(session, DutyTimer.ACK_TIMEOUT, str(incident.number), alive + policy.ack_timeout)
            return
        why = (
            f"ack timeout: acknowledged {format_duration(due - incident.acknowledged_at)} ago and neither "
            f"resolved nor updated for {format_duration(policy.ack_timeout)}"
        )
        self._log(session, incident, due, "ack_timeout", why)
        # Remind the owner who went quiet, then escalation carries on after the step it had reached.
        if incident.assignee:
            self.duty.notify(
                session, incident, [Paged(incident.assignee, "responsible")], MessageKind.ESCALATION, why, due
            )
        wait = policy.steps[incident.escalation_step or 0].wait if policy.steps else policy.ack_timeout
        timers.defer(session, DutyTimer.ESCALATION, str(incident.number), due + wait)

    def _sla_ack(self, session: Session, incident: Incident, due: datetime, now: datetime) -> None:
        if incident.acknowledged_at is not None or incident.ack_breached_at is not None:
            return
        if not incident.status.active or incident.ack_due_at is None:
            return
        if incident.ack_due_at > due:  # moved (a priority change): wait for the new deadline
            timers.defer(session, DutyTimer.SLA_ACK, str(incident.number), incident.ack_due_at)
            return
        incident.ack_breached_at = incident.ack_due_at
        self._breach(session, incident, due, f"not acknowledged by {self.duty.local(incident.ack_due_at)}")

    def _sla_resolve(self, session: Session, incident: Incident, due: datetime, now: datetime) -> None:
        if incident.resolve_breached_at is not None or incident.resolve_due_at is None:
            return
        if not incident.status.active:
            return
        if incident.resolve_due_at > due:
            timers.defer(session, DutyTimer.SLA_RESOLVE, str(incident.number), incident.resolve_due_at)
            return
        incident.resolve_breached_at = incident.resolve_due_at
        self._breach(session, incident, due, f"not resolved by {self.duty.local(incident.resolve_due_at)}")

    def _breach(self, session: Session, incident: Incident, at: datetime, what: str) -> None:
        """A breached target: recorded, the incident marked, the owner and maybe the head of IT told,
        and escalation goes one step further."""
        rota = self.duty.rota
        reason = f"{incident.priority} target {what}"
        incident.updated_at = at
        if self.duty.metrics is not None:
            self.duty.metrics.sla_breached(session, incident.priority)
        self._log(session, incident, at, "sla_breached", f"SLA breached: {reason}")
        people = [Paged(incident.assignee, "responsible")] if incident.assignee else []
        head = rota.head_of_it()
        if (
            head is not None
            and incident.priority in rota.head_notify_breaches
            and head.handle != incident.assignee
        ):
            people.append(Paged(head.handle, f"head of IT: {incident.priority} breaches are reported"))
        if people:
            self.duty.notify(session, incident, people, MessageKind.BREACH, reason, at)
        self.duty.escalate(session, incident, at, f"SLA breached: {reason}")

    def _stale(self, session: Session, incident: Incident, due: datetime, now: datetime) -> None:
        status = incident.status
        if status.final:
            return
        after = self.duty.rota.stale_after
        number = str(incident.number)
        if status is IncidentStatus.STALE or status is IncidentStatus.RESOLVED:
            timers.defer(session, DutyTimer.STALE, number, due + after)  # look again later
            return
        if incident.updated_at + after > due:
            timers.defer(session, DutyTimer.STALE, number, incident.updated_at + after)
            return
        quiet = format_duration(due - incident.updated_at)
        incident.stale_from = incident.status
        incident.status = IncidentStatus.STALE
        self._log(
            session,
            incident,
            due,
            "stale",
            f"stale: no change for {quiet} (since {self.duty.local(incident.updated_at)})",
        )
        if incident.assignee:
            self.duty.notify(
                session,
                incident,
                [Paged(incident.assignee, "responsible")],
                MessageKind.STALE,
                f"for {quiet}",
                due,
            )
        timers.defer(session, DutyTimer.STALE, number, due + after)

    def _long_open(self, session: Session, incident: Incident, due: datetime, now: datetime) -> None:
        if not incident.status.active:
            return
        head = self.duty.rota.head_of_it()
        if head is None:
            return
        reason = f"open for {format_duration(due - incident.opened_at)}"
        self.duty.notify(
            session,
            incident,
            [Paged(head.handle, "head of IT: long-running incidents")],
            MessageKind.LONG_OPEN,
            reason,
            due,
        )

    @staticmethod
    def _log(session: Session, incident: Incident, at: datetime, kind: str, text: str) -> None:
        add_entry(session, incident.number, at, kind, text)
