"""The engine's states in the database, and decisions applied to it, inside one session.

`StateStore` caches the rows a batch touches so that a batch of deliveries costs a handful of
queries, not round trips per alert: it is used with autoflush off, incident numbers are allocated
without flushing, the groups it makes, the incidents it opens, the alert links it makes and the
timers are written once at `finish()` (one statement per table), and everything else goes out in
the commit's one flush. Rows are loaded `FOR UPDATE` (PostgreSQL; SQLite serializes writers
anyway) so that concurrent workers never interleave changes to one group or incident. Alerts are read as their
stored states; only those a decision changes become ORM objects (most events of a storm change
nothing).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    Row,
    String,
    and_,
    event,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import Label

from bridge.alert import HOST_MAX, NAME_MAX, Alert, Status, fit
from bridge.db import per_transaction, timers
from bridge.db.bulk import adopt, even_out_updates, fresh, insert_numbered, insert_unstored, unstored
from bridge.db.models import AlertGroup, AlertRole, AlertRow, Incident, IncidentAlert
from bridge.db.queries import among
from bridge.db.timeline import add_entry
from bridge.dedup.engine import Engine
from bridge.dedup.groups import origin_text
from bridge.dedup.state import (
    AlertState,
    Decision,
    Disposition,
    EffectKind,
    GroupState,
    IncidentEffect,
    IncidentView,
    Member,
    StormEntry,
)
from bridge.priority import Priority
from bridge.services.hooks import IncidentChange, IncidentHooks, NoHooks
from bridge.ticketing.lifecycle import ACTIVE_STATUSES, SYSTEM_ACTOR, IncidentAction, IncidentStatus
from bridge.timeutil import parse_instant

_CHUNK = 500
CLIENT_MAX = cast(String, Incident.__table__.c.client.type).length or 0
"""The incidents' client column: a client named by a label's value is cut to fit (and says so)."""
TITLE_MAX = cast(String, Incident.__table__.c.title.type).length or 0
"""The incidents' and groups' title columns: a name with its host may be longer."""


class StateStore:
    def __init__(
        self,
        session: Session,
        engine: Engine,
        hooks: IncidentHooks | None = None,
        ack_from_source: bool = True,
    ) -> None:
        self.session = session
        self.engine = engine
        self.hooks = hooks or NoHooks()
        self.ack_from_source = ack_from_source  # an acknowledgement in Zabbix acknowledges the incident
        self.alerts: dict[str, AlertRow] = {}
        """The alerts' rows as ORM objects: those this transaction may change (every change to an
        alert goes through its object), as they stand now."""
        self._stored: dict[str, AlertState] = {}
        """The states of the alerts read as stored (`preload_alerts`), without ORM objects: most
        events of a storm are plain repeats, which change nothing and need no object. An alert
        without an object here was not changed by this transaction: its stored state is its state."""
        self._deferred: set[str] = set()
        """Alerts whose objects are loaded together, when the first of them is needed (`defer_alerts`)."""
        self.groups: dict[str, AlertGroup] = {}
        self.incidents: dict[int, Incident] = {}
        self._missing_alerts: set[str] = set()
        self._missing_groups: set[str] = set()
        self._links: dict[tuple[int, str], IncidentAlert] = {}
        # Per incident, the fingerprints whose link was looked up in the database this
        # transaction (found ones are in `_links`): a storm incident gathering hundreds of
        # alerts costs one query per incident and batch, not one per alert.
        self._links_asked: dict[int, set[str]] = {}
        self._batch_fingerprints: set[str] = set()  # every alert looked up, stored or not
        self._new_incidents: set[int] = set()
        # Incidents opened and links made since the last `finish`: never in the session, written
        # by `finish` in one statement per table as they stand then (the ORM's flush of a batch
        # opening 2,000 incidents cost more than opening them). Until then they are reached
        # through `incidents` and `_links` only: a query would not see them.
        self._unstored_incidents: list[Incident] = []
        self._unstored_links: list[IncidentAlert] = []
        # Groups made since the last `finish`, likewise (a storm of new alerts makes a group each):
        # nothing in a batch queries groups it holds in `groups`.
        self._unstored_groups: list[AlertGroup] = []
        # New alerts likewise on PostgreSQL (a storm's new alerts: the ORM's flush of 2,000 of
        # them was a sixth of a deciding worker), but an alert is queried by its group within
        # the batch (`_attach_members`): they are written where the store flushes (`_flush`)
        # and by `finish` (`_write_new_alerts`). SQLite keeps the ORM's flush: its ids come
        # from the insert.
        self._unstored_alerts: list[AlertRow] = []
        self._writes_new_alerts = session.get_bind().dialect.name == "postgresql"
        self._timers: dict[tuple[str, str], datetime] = {}
        # The storm watch changes with every alert of a storm: kept parsed here and written to
        # its row once, before the commit (`finish`), not parsed and serialised per decision.
        self._storms: dict[str, tuple[tuple[StormEntry, ...], tuple[str, str] | None]] = {}
        self._storm_rows: set[str] = set()  # storm watches changed since the last `finish`
        # A group's instants (occurrences, changes) parsed, with the stored lists they were parsed
        # from: a storm's inhibited repeats ask for their group's state three times an event.
        self._group_times: dict[str, _GroupTimes] = {}
        self._numbers = IncidentNumbers(session)
        # The suppression keys some alert may be held back by (a superset): a release that
        # holds nothing (most inhibiting alerts resolve without having held anything back)
        # then costs neither a flush nor a query. Loaded at the first release.
        self._holding: set[str] | None = None
        self._held_here: dict[str, set[str]] = {}  # key -> alerts this transaction held back by it
        self._held_stored: dict[str, set[str]] = {}  # key -> alerts stored as held by it (`preload_held`)
        self.answering: frozenset[str] = frozenset()
        """Alerts whose webhook waits for this transaction to answer with their incident: an
        alert attached to an incident otherwise joins it after its delivery was answered."""

    # -- loading --------------------------------------------------------------------------------

    def preload_alerts(self, fingerprints: Iterable[str]) -> None:
        """Read the stored states of these alerts (those not known yet), as plain rows of the
        columns a state needs: building ORM objects, with their labels and annotations, was the
        largest cost of a storm's deciding transaction. `hold_alerts` loads the objects of those
        a decision may change."""
        wanted = sorted(set(fingerprints) - self.alerts.keys() - self._stored.keys() - self._missing_alerts)
        self._batch_fingerprints.update(wanted)
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            query = select(*_STATE_COLUMNS).where(among(self.session, AlertRow.fingerprint, chunk))
            for row in self.session.execute(query):
                self._stored[row.fingerprint] = state_of(row)
            self._missing_alerts.update(fp for fp in chunk if fp not in self._stored)

    def hold_alerts(self, fingerprints: Iterable[str]) -> None:
        """Load the ORM objects of these alerts (those stored and not held yet; one not known yet
        is looked up): the rows their decisions change, in one query (chunked)."""
        wanted = sorted(set(fingerprints) - self.alerts.keys() - self._missing_alerts)
        self._batch_fingerprints.update(wanted)
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            for row in self.session.scalars(
                select(AlertRow).where(among(self.session, AlertRow.fingerprint, chunk))
            ):
                self.alerts.setdefault(row.fingerprint, row)
            self._missing_alerts.update(
                fp for fp in chunk if fp not in self.alerts and fp not in self._stored
            )

    def defer_alerts(self, fingerprints: Iterable[str]) -> None:
        """These alerts' events most likely change nothing, but may: their objects are loaded
        together (one query, not one each) when a decision first needs one of them."""
        self._deferred.update(fingerprints)

    def alert_row(self, fingerprint: str) -> AlertRow | None:
        """The alert's ORM object, if this transaction knows the alert (held, or read as stored:
        its object is loaded now); None for one it never looked up or found missing."""
        row = self.alerts.get(fingerprint)
        if row is None and fingerprint in self._stored:
            if fingerprint in self._deferred:
                wanted, self._deferred = {fingerprint, *self._deferred}, set()
            else:
                wanted = {fingerprint}
            self.hold_alerts(wanted)
            row = self.alerts.get(fingerprint)
        return row

    def preload_groups(self, keys: Iterable[str]) -> None:
        # sorted: concurrent workers lock in one order
        wanted = sorted(set(keys) - self.groups.keys() - self._missing_groups)
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            query = (
                select(AlertGroup)
                .where(among(self.session, AlertGroup.key, chunk))
                .order_by(AlertGroup.key)
                .with_for_update()
            )
            for row in self.session.scalars(query):
                self.groups[row.key] = row
            self._missing_groups.update(k for k in chunk if k not in self.groups)
        numbers = {g.incident_number for g in self.groups.values() if g.incident_number is not None}
        self._load_incidents(numbers)

    def _load_incidents(self, numbers: Iterable[int]) -> None:
        wanted = sorted(set(numbers) - self.incidents.keys())
        if wanted:
            query = (
                select(Incident)
                .where(among(self.session, Incident.number, wanted))
                .order_by(Incident.number)
                .with_for_update()
            )
            for row in self.session.scalars(query):
                self.incidents[row.number] = row

    def incident(self, number: int) -> Incident:
        if number not in self.incidents:
            self._load_incidents([number])
        return self.incidents[number]

    def alert_state(self, fingerprint: str) -> AlertState | None:
        row = self.alerts.get(fingerprint)
        if row is not None:
            return state_of(row)  # as it stands in this transaction
        if fingerprint not in self._stored and fingerprint not in self._missing_alerts:
            self.preload_alerts([fingerprint])
        return self._stored.get(fingerprint)

    def inhibiting_alerts(self, rules: list[str]) -> list[AlertRow | Row[Any]]:
        """Alerts of these rules (merged with others by `continue` or not) firing in their groups:
        for one this transaction holds, its row as it stands; for the others, their stored values,
        read without making ORM objects of them (every batch of a storm reads its thousand
        HostDown alerts; objects would be tracked, and flushed, for nothing)."""
        query = select(*_ALERT_COLUMNS).where(_inhibiting(rules))
        return [self.alerts.get(found.fingerprint, found) for found in self.session.execute(query)]

    def inhibiting_versions(self, rules: list[str]) -> list[tuple[str, str]] | None:
        """PostgreSQL: the fingerprints `inhibiting_alerts` would read, in the order it reads them
        (the same scan), each with its row's version (`xmin`: a new one with every change
        committed). None on SQLite."""
        if self.session.get_bind().dialect.name != "postgresql":
            return None
        query = select(AlertRow.fingerprint, _ROW_VERSION).where(_inhibiting(rules))
        return [(fingerprint, version) for fingerprint, version in self.session.execute(query)]

    def inhibiting_values(self, rules: list[str], fingerprints: list[str]) -> dict[str, tuple[Row[Any], str]]:
        """PostgreSQL: the stored values and row versions of those of `fingerprints` that are
        (still) inhibiting alerts of `rules`."""
        found: dict[str, tuple[Row[Any], str]] = {}
        for start in range(0, len(fingerprints), _CHUNK):
            chunk = fingerprints[start : start + _CHUNK]
            query = select(*_ALERT_COLUMNS, _ROW_VERSION).where(
                _inhibiting(rules), among(self.session, AlertRow.fingerprint, chunk)
            )
            for row in self.session.execute(query):
                found[row.fingerprint] = (cast(Row[Any], row), str(row.row_version))
        return found

    def held_by(self, key: str) -> list[AlertRow]:
        """Firing alerts held back by `key` (a maintenance window, a silence, an inhibiting alert):
        those stored so, and those this transaction held back, as they stand now. No flush: a
        storm resolving inhibiting alerts would otherwise flush once per alert."""
        if key not in self._holding_keys():
            return []
        stored = self._held_stored.get(key)
        if stored is None:
            query = select(AlertRow).where(AlertRow.suppressed_by == key, AlertRow.status == Status.FIRING)
            with self.session.no_autoflush:
                candidates = {row.fingerprint: row for row in self.session.scalars(query)}
        else:  # read with others by `preload_held`; rows changed since then are judged as they stand
            candidates = {fingerprint: self.alerts[fingerprint] for fingerprint in stored}
        for fingerprint in self._held_here.get(key, ()):
            candidates[fingerprint] = self.alerts[fingerprint]
        rows = []
        for fingerprint in sorted(candidates):
            row = self.alerts.setdefault(fingerprint, candidates[fingerprint])
            if row.suppressed_by == key and row.status == Status.FIRING:  # as it is now
                rows.append(row)
        return rows

    def preload_held(self, keys: Iterable[str]) -> None:
        """Read in one query the alerts held back by those of `keys` that hold any (a batch of a
        storm resolving its HostDown alerts releases a key per alert: one query per batch, not
        one per release). Before the batch changes anything held."""
        wanted = sorted(set(keys) & self._holding_keys() - self._held_stored.keys())
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            query = select(AlertRow, AlertRow.suppressed_by).where(
                among(self.session, AlertRow.suppressed_by, chunk), AlertRow.status == Status.FIRING
            )
            for key in chunk:
                self._held_stored[key] = set()
            with self.session.no_autoflush:
                for found, stored_key in self.session.execute(query):
                    self.alerts.setdefault(found.fingerprint, found)
                    self._missing_alerts.discard(found.fingerprint)
                    self._held_stored[stored_key or ""].add(found.fingerprint)

    def _holding_keys(self) -> set[str]:
        if self._holding is None:
            keys = select(AlertRow.suppressed_by).where(
                AlertRow.suppressed_by.is_not(None), AlertRow.status == Status.FIRING
            )
            with self.session.no_autoflush:
                self._holding = {k for k in self.session.scalars(keys.distinct()) if k}
            self._holding.update(self._held_here)  # not flushed yet, so not in what was just read
        return self._holding

    def group_state(self, key: str) -> GroupState | None:
        if key not in self.groups and key not in self._missing_groups:
            self.preload_groups([key])
        row = self.groups.get(key)
        if row is None:
            return None
        storm = self._storms.get(key)
        if storm is None:
            storm = (storm_entries(row.storm), storm_label(row.storm))
            if storm[0] or storm[1] is not None:
                self._storms[key] = storm
        times = self._group_times.get(key)
        if (
            times is None
            or times.stored_occurrences is not row.occurrences
            or times.stored_changes is not row.changes
        ):
            times = _GroupTimes(
                row.occurrences,
                row.changes,
                tuple(parse_instant(t) for t in row.occurrences),
                tuple(parse_instant(t) for t in row.changes or ()),
            )
            self._group_times[key] = times
        view = None
        if row.incident_number is not None:
            incident = self.incident(row.incident_number)
            status = incident.status
            if status is not IncidentStatus.CLOSED:
                view = IncidentView(
                    number=incident.number,
                    active=status.active,
                    priority=incident.priority,
                    resolved_at=incident.resolved_at if status is IncidentStatus.RESOLVED else None,
                )
        return GroupState(
            key=row.key,
            rule=row.rule,
            title=row.title,
            firing=row.firing,
            firing_since=row.firing_since,
            quiet_since=row.quiet_since,
            occurrences=times.occurrences,
            incident=view,
            severity=row.severity,
            changes=times.changes,
            flapping=row.flapping,
            last_seen=row.last_seen,
            storm=storm[0],
            storm_label=storm[1],
            client=row.client,
        )

    def group_states(self, keys: Iterable[str]) -> dict[str, GroupState]:
        result = {}
        for key in keys:
            state = self.group_state(key)
            if state is not None:
                result[key] = state
        return result

    # -- applying -------------------------------------------------------------------------------

    def apply(self, decision: Decision, alert: Alert | None, now: datetime) -> None:
        """Write a decision: the alert's row, the groups, incident changes (with timeline), timers."""
        if decision.alert is not None and alert is not None:
            self._save_alert(decision.alert, alert, now)
        for group in decision.groups:
            self._save_group(group, now)
        subject = decision.alert.fingerprint if decision.alert else None
        # Only a timer, or a group with more than this one alert firing, can have others to attach.
        lonely = subject is not None and all(g.firing <= 1 for g in decision.groups)
        for effect in decision.effects:
            self._apply_effect(effect, subject, now, lonely)
        for timer in decision.timers:
            self._timers[(timer.kind.value, timer.key)] = timer.due

    def finish(self) -> None:
        """Write what was kept for the end of the batch (storm watches, new alerts and groups,
        incidents and links, timers), before the commit."""
        for key in sorted(self._storm_rows):
            entries, label = self._storms[key]
            self.groups[key].storm = storm_json(entries, label)
        self._storm_rows.clear()
        self._write_new_alerts(last=True)
        self._store_new()
        if self._timers:
            timers.schedule_many(self.session, self._timers)
            self._timers.clear()
        even_out_updates(self.session, AlertRow)  # flushed at the commit

    def _store_new(self) -> None:
        """Insert the groups made, the incidents opened and the links made since the last
        `finish`, as they stand now, then forget them (and the links looked up): the objects are
        not the session's, so a later look-up must read the stored rows, not find these."""
        insert_unstored(self.session, Incident, self._unstored_incidents)
        insert_unstored(self.session, IncidentAlert, self._unstored_links)
        insert_unstored(self.session, AlertGroup, self._unstored_groups)
        for group in self._unstored_groups:
            del self.groups[group.key]
        self._unstored_groups.clear()
        for incident in self._unstored_incidents:
            del self.incidents[incident.number]
        self._unstored_incidents.clear()
        self._unstored_links.clear()
        self._new_incidents.clear()
        self._links.clear()
        self._links_asked.clear()

    def _write_new_alerts(self, *, last: bool = False) -> None:
        """Insert the new alerts made since the last call, as they stand now, in one statement
        (their ids drawn first). Within the batch they become the session's: queries from here
        on find them, and later changes to them are flushed as updates. The `last` time (the
        batch is over) they are forgotten instead, like `_store_new`'s objects: adopting 2,000
        objects cost a third of writing them, for nothing."""
        new = self._unstored_alerts
        self._unstored_alerts = []
        insert_numbered(self.session, AlertRow, new)
        if last:
            for row in new:
                del self.alerts[row.fingerprint]
        else:
            adopt(self.session, new)

    def _flush(self) -> None:
        """Put everything this batch changed so far where a query of alerts sees it: the new
        alerts it holds unstored, then the session's changes."""
        self._write_new_alerts()
        even_out_updates(self.session, AlertRow)
        self.session.flush()

    def _save_alert(self, state: AlertState, alert: Alert, now: datetime) -> None:
        values: dict[str, Any] = {
            "source": alert.source,
            "source_ref": alert.source_ref,
            "name": fit(alert.name, NAME_MAX),  # the parsers keep to these already
            "host": fit(alert.host, HOST_MAX),
            "severity": state.severity,
            "status": state.status,
            "labels": dict(alert.labels),
            "annotations": dict(alert.annotations),
            "url": alert.url,
            "starts_at": state.starts_at,
            "ends_at": state.ends_at,
            "last_event_at": now,
            "rule": state.rule,
            "group_key": state.group_key,
            "disposition": state.disposition,
            "reason": state.reason,
            "occurrences": state.occurrences,
            "suppressed_by": state.suppressed_by,
            "members": [
                {
                    "fingerprint": m.fingerprint,
                    "starts_at": m.starts_at.isoformat(),
                    "ends_at": m.ends_at.isoformat() if m.ends_at else None,
                }
                for m in state.members
            ],
        }
        if state.disposition is not Disposition.INCIDENT:
            values["incident_number"] = None
        elif state.incident is not None:
            values["incident_number"] = state.incident
        row = self.alert_row(state.fingerprint)
        if row is None:  # made with its values (a storm's new alerts: most of a batch)
            new = {"fingerprint": state.fingerprint, "first_seen_at": now, "origin": alert.origin}
            new |= {"incident_number": None, "missing_since": None, **values}
            if self._writes_new_alerts:
                row = unstored(AlertRow, **new)
                self._unstored_alerts.append(row)
            else:
                row = fresh(AlertRow, **new)
                self.session.add(row)
            self.alerts[state.fingerprint] = row
            self._missing_alerts.discard(state.fingerprint)
        else:
            if state.status == Status.FIRING and (
                row.status != Status.FIRING or row.starts_at != state.starts_at
            ):
                row.origin = alert.origin  # a new occurrence; the updates of one keep how it was found
            for name, value in values.items():
                if getattr(row, name) != value:  # only what changed: the flush writes those columns
                    setattr(row, name, value)
        if state.suppressed_by is not None:
            self._held_here.setdefault(state.suppressed_by, set()).add(state.fingerprint)
            if self._holding is not None:
                self._holding.add(state.suppressed_by)

    def _save_group(self, group: GroupState, now: datetime) -> None:
        values: dict[str, Any] = {
            "firing": group.firing,
            "firing_since": group.firing_since,
            "quiet_since": group.quiet_since,
            "occurrences": [t.isoformat() for t in group.occurrences],
            "severity": group.severity,
            "changes": [t.isoformat() for t in group.changes],
            "flapping": group.flapping,
            "last_seen": group.last_seen,
            "client": None if group.client is None else fit(group.client, CLIENT_MAX),
            "updated_at": now,
        }
        if group.incident is not None and group.incident.number is not None:
            values["incident_number"] = group.incident.number
        row = self.groups.get(group.key)
        if row is None:  # written at `finish` (a storm's new groups: most of a batch)
            new = {"incident_number": None, **values}
            title = fit(group.title, TITLE_MAX)
            row = unstored(AlertGroup, key=group.key, rule=group.rule, title=title, storm=None, **new)
            self._unstored_groups.append(row)
            self.groups[group.key] = row
            self._missing_groups.discard(group.key)
        else:
            for name, value in values.items():
                if getattr(row, name) != value:  # only what changed: the flush writes those columns
                    setattr(row, name, value)
        self._group_times[group.key] = _GroupTimes(
            row.occurrences, row.changes, group.occurrences, group.changes
        )
        if group.storm or group.storm_label is not None or row.storm is not None:
            self._storms[group.key] = (group.storm, group.storm_label)
            self._storm_rows.add(group.key)
            row.rule = group.rule  # a storm's group takes the rule (and title) of each new storm
            row.title = fit(group.title, TITLE_MAX)

    def _apply_effect(self, effect: IncidentEffect, subject: str | None, now: datetime, lonely: bool) -> None:
        """Carry out one effect of a decision on the group's incident (or open one)."""
        group = self.groups.get(effect.group_key)
        if effect.kind is EffectKind.OPEN:
            assert group is not None
            self._open(group, effect, subject, now, lonely)
            return
        number = effect.incident or (group.incident_number if group else None)
        if number is None:
            return
        incident = self.incident(number)
        kind = effect.kind
        if kind is EffectKind.REOPEN:
            assert group is not None
            self._reopen(incident, group, effect, subject, now, lonely)
        elif kind is EffectKind.ATTACH:
            alert = self.alert_row(effect.fingerprint) if effect.fingerprint else None
            if alert is not None:
                self._attach(incident, alert, now, effect.text, late=alert.fingerprint not in self.answering)
        elif kind is EffectKind.ALERT_RESOLVED:
            how = f" ({effect.text})" if effect.text else ""
            text = f"alert resolved: {self._what(effect.fingerprint)}{how}"
            self._log(incident, now, "alert_resolved", text, effect.fingerprint)
        elif kind is EffectKind.ALERT_UPDATED:
            self._log(incident, now, "alert_updated", effect.text, effect.fingerprint)
        elif kind is EffectKind.RAISE_PRIORITY and effect.priority is not None:
            self._raise_priority(incident, effect, now)
        elif kind is EffectKind.RESOLVE and incident.status in ACTIVE_STATUSES:
            incident.status = IncidentStatus.RESOLVED
            incident.resolved_at = now
            self._log(incident, now, "resolved", f"resolved: {effect.text}")
            self._changed(IncidentChange(incident, IncidentAction.RESOLVE, SYSTEM_ACTOR, now))
        elif kind is EffectKind.RELATED and effect.fingerprint:
            self._relate(incident, effect.fingerprint, effect.text, now)
        elif kind in (EffectKind.FLAPPING_STARTED, EffectKind.FLAPPING_ENDED):
            incident.flapping = kind is EffectKind.FLAPPING_STARTED
            self._log(incident, now, kind.value, effect.text)
        elif kind is EffectKind.NOTE:
            self._note(incident, effect, now)

    def _reopen(
        self,
        incident: Incident,
        group: AlertGroup,
        effect: IncidentEffect,
        subject: str | None,
        now: datetime,
        lonely: bool,
    ) -> None:
        incident.status = IncidentStatus.OPEN
        incident.resolved_at = None
        incident.acknowledged_at = None
        incident.reopen_count += 1
        incident.flapping = incident.flapping or effect.flapping
        self._log(incident, now, "reopened", f"reopened: {effect.text}")
        self._changed(IncidentChange(incident, IncidentAction.REOPEN, SYSTEM_ACTOR, now, effect.text))
        if not lonely:
            self._attach_members(incident, group, subject, now)

    def _raise_priority(self, incident: Incident, effect: IncidentEffect, now: datetime) -> None:
        assert effect.priority is not None
        old = incident.priority
        incident.priority = effect.priority
        text = f"priority {old} -> {effect.priority}: {effect.text}"
        self._log(incident, now, "priority", text, effect.fingerprint)
        self._changed(IncidentChange(incident, IncidentAction.PRIORITY, SYSTEM_ACTOR, now, effect.text))

    def _note(self, incident: Incident, effect: IncidentEffect, now: datetime) -> None:
        """Something a person did in the source; an acknowledgement there acknowledges here."""
        self._log(incident, now, "source_update", effect.text, effect.fingerprint, actor=effect.actor)
        if effect.acknowledge and self.ack_from_source and incident.status == IncidentStatus.OPEN:
            incident.status = IncidentStatus.ACKNOWLEDGED
            incident.acknowledged_at = now
            origin = effect.actor.split(":", 1)[0]
            text = f"acknowledged in {origin.capitalize()}"
            self._log(incident, now, "acknowledged", text, actor=effect.actor)
            self._changed(IncidentChange(incident, IncidentAction.ACK, effect.actor, now, origin=origin))

    def _changed(self, change: IncidentChange) -> None:
        self.hooks.incident_changed(self.session, change)

    def _what(self, fingerprint: str | None) -> str:
        alert = self.alert_row(fingerprint) if fingerprint else None
        return _describe(alert) if alert is not None else (fingerprint or "")

    def _open(
        self, group: AlertGroup, effect: IncidentEffect, subject: str | None, now: datetime, lonely: bool
    ) -> None:
        first = self.alerts.get(subject or "")
        incident = unstored(
            Incident,
            number=self._numbers.next(),
            title=fit(effect.title or group.title, TITLE_MAX),
            status=IncidentStatus.OPEN,
            priority=effect.priority or Priority.P3,
            group_key=group.key,
            rule=group.rule,
            source=first.source if first else None,
            host=first.host if first else None,
            alert_count=0,
            occurrence_count=0,
            first_alert_at=group.firing_since,
            last_alert_at=None,
            opened_at=now,
            reopen_count=0,
            updated_at=now,
            route=effect.route,
            client=None if effect.client is None else fit(effect.client, CLIENT_MAX),
            flapping=effect.flapping,
            type="incident",
            line=effect.line or "L1",
            escalation_round=0,
            return_count=0,
            description="",
        )
        self._unstored_incidents.append(incident)
        self.incidents[incident.number] = incident
        self._new_incidents.add(incident.number)
        group.incident_number = incident.number
        self._log(incident, now, "opened", f"opened {incident.priority} by {effect.text}")
        self.hooks.incident_opened(self.session, incident, now)
        if not lonely:
            attached = self._attach_members(incident, group, subject, now)
            if first is None and attached:
                # opened by a timer (a hold expired): its alerts say where it comes from
                earliest = min(attached, key=lambda row: (row.starts_at, row.fingerprint))
                incident.source, incident.host = earliest.source, earliest.host
        if first is not None and first.disposition == Disposition.INCIDENT and first.incident_number is None:
            first.incident_number = incident.number

    def _attach_members(
        self, incident: Incident, group: AlertGroup, subject: str | None, now: datetime
    ) -> list[AlertRow]:
        """OPEN / REOPEN: attach the group's firing alerts not yet in this incident (the triggering
        alert is attached by its own ATTACH action); returns those attached."""
        self._flush()  # the query below must see this batch's changes
        query = select(AlertRow).where(
            AlertRow.group_key == group.key,
            AlertRow.status == Status.FIRING,
            AlertRow.disposition.in_([Disposition.WAITING, Disposition.INCIDENT]),
        )
        attached: list[AlertRow] = []
        for found in self.session.scalars(query):
            row = self.alerts.setdefault(found.fingerprint, found)
            if row.fingerprint == subject or (
                row.disposition == Disposition.INCIDENT and row.incident_number == incident.number
            ):
                continue
            row.disposition = Disposition.INCIDENT
            row.incident_number = incident.number
            row.reason = ""
            self._attach(incident, row, now, origin_text(row.origin, row.source), late=True)
            attached.append(row)
        return attached

    def _attach(
        self, incident: Incident, alert: AlertRow, now: datetime, how: str = "", *, late: bool = True
    ) -> None:
        """An occurrence of the alert joins the incident: one more occurrence, maybe one more alert.
        `late`: it joins after its own delivery was answered (the hooks may tell the source)."""
        alert.incident_number = incident.number
        key = (incident.number, alert.fingerprint)
        link = self._link(incident.number, alert.fingerprint)
        joins = link is None or link.role == AlertRole.RELATED
        if link is None:
            link = unstored(
                IncidentAlert,
                incident_number=incident.number,
                fingerprint=alert.fingerprint,
                first_attached_at=now,
                last_attached_at=now,
                occurrences=1,
                role=AlertRole.MEMBER,
            )
            self._unstored_links.append(link)
        else:
            # One held back because of this incident before now joins it: from now on one of its
            # alerts (as the replay counts it), not a bystander.
            link.role = AlertRole.MEMBER
            link.occurrences += 1
            link.last_attached_at = now
        described = _describe(alert) + (f" ({how})" if how else "")
        if joins:
            incident.alert_count += 1
            self._log(incident, now, "alert_attached", f"alert attached: {described}", alert.fingerprint)
            self.hooks.alert_attached(self.session, incident, alert, now, late)
        else:
            self._log(incident, now, "alert_fired", f"alert fired again: {described}", alert.fingerprint)
        self._links[key] = link
        incident.occurrence_count += 1
        if incident.first_alert_at is None or alert.starts_at < incident.first_alert_at:
            incident.first_alert_at = alert.starts_at
        incident.last_alert_at = now if incident.last_alert_at is None else max(incident.last_alert_at, now)

    def _relate(self, incident: Incident, fingerprint: str, why: str, now: datetime) -> None:
        """An alert held back because of this incident's alert: listed with it, never lost."""
        key = (incident.number, fingerprint)
        link = self._link(incident.number, fingerprint)
        if link is None:
            link = unstored(
                IncidentAlert,
                incident_number=incident.number,
                fingerprint=fingerprint,
                first_attached_at=now,
                last_attached_at=now,
                occurrences=1,
                role=AlertRole.RELATED,
            )
            self._unstored_links.append(link)
            self._links[key] = link
        alert = self.alert_row(fingerprint)
        what = _describe(alert) if alert is not None else fingerprint
        self._log(incident, now, "related", f"related alert held back: {what} ({why})", fingerprint)

    def _link(self, number: int, fingerprint: str) -> IncidentAlert | None:
        """The alert's link to the incident, if it has one. The first look-up of an incident in
        this transaction loads its links for every alert the transaction knows so far, in one
        query (chunked): the alerts of a batch mostly join the same few incidents."""
        key = (number, fingerprint)
        link = self._links.get(key)
        if link is not None or number in self._new_incidents:
            return link  # a new incident has no links but the ones this transaction made
        asked = self._links_asked.setdefault(number, set())
        if fingerprint in asked:
            return None
        wanted = sorted({fingerprint, *self.alerts.keys(), *self._batch_fingerprints} - asked)
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            query = select(IncidentAlert).where(
                IncidentAlert.incident_number == number, among(self.session, IncidentAlert.fingerprint, chunk)
            )
            for found in self.session.scalars(query):
                self._links.setdefault((number, found.fingerprint), found)
        asked.update(wanted)
        return self._links.get(key)

    def _log(
        self,
        incident: Incident,
        at: datetime,
        kind: str,
        text: str,
        fingerprint: str | None = None,
        actor: str = SYSTEM_ACTOR,
    ) -> None:
        incident.updated_at = at
        if incident.status == IncidentStatus.STALE:  # any update clears stale
            incident.status, incident.stale_from = incident.stale_from or IncidentStatus.OPEN, None
            add_entry(self.session, incident.number, at, "unstale", f"no longer stale: {text}", actor=actor)
        add_entry(self.session, incident.number, at, kind, text, actor=actor, fingerprint=fingerprint)


@dataclass(frozen=True, slots=True)
class _GroupTimes:
    """A group's instants as parsed, and the stored lists they were parsed from (the lists are
    only ever replaced, never changed in place: a different list means other instants)."""

    stored_occurrences: list[str]
    stored_changes: list[str] | None
    occurrences: tuple[datetime, ...]
    changes: tuple[datetime, ...]


_ALERT_COLUMNS = tuple(AlertRow.__table__.columns)
"""An alert's stored values, as a Core row with the ORM row's attribute names."""
_STATE_COLUMNS = tuple(
    AlertRow.__table__.c[name]
    for name in (
        "fingerprint",
        "status",
        "starts_at",
        "ends_at",
        "severity",
        "rule",
        "group_key",
        "disposition",
        "reason",
        "incident_number",
        "occurrences",
        "suppressed_by",
        "members",
    )
)
"""What `state_of` reads of an alert."""
_ROW_VERSION: Label[str] = literal_column("alerts.xmin::text").label("row_version")
"""PostgreSQL's id of the transaction that wrote the row as it stands: any committed change
gives the row a new one."""


def _inhibiting(rules: list[str]) -> ColumnElement[bool]:
    """Alerts of these rules (merged with others by `continue` or not) firing in their groups."""
    names = or_(
        AlertRow.rule.in_(rules),
        *(AlertRow.rule.like(f"%+{name}") for name in rules),
        *(AlertRow.rule.like(f"{name}+%") for name in rules),
    )
    return and_(
        names,
        AlertRow.status == Status.FIRING,
        AlertRow.disposition.in_([Disposition.WAITING, Disposition.INCIDENT]),
    )


def state_of(row: AlertRow | Row[Any]) -> AlertState:
    """The engine's state of an alert, from its row (or its stored values)."""
    return AlertState(
        fingerprint=row.fingerprint,
        status=row.status,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        severity=row.severity,
        rule=row.rule,
        group_key=row.group_key,
        disposition=row.disposition,
        reason=row.reason,
        incident=row.incident_number,
        occurrences=row.occurrences,
        suppressed_by=row.suppressed_by,
        members=tuple(
            Member(
                m["fingerprint"],
                parse_instant(m["starts_at"]),
                parse_instant(m["ends_at"]) if m.get("ends_at") else None,
            )
            for m in row.members or ()
        ),
    )


def _describe(alert: AlertRow) -> str:
    host = f" on {alert.host}" if alert.host and alert.host not in alert.name else ""
    return f"{alert.name}{host} ({alert.severity})"


class IncidentNumbers:
    """Allocates incident numbers without flushing: unique and increasing, never reused, even
    after a rollback.

    PostgreSQL: a transaction takes the numbering turn (an advisory lock held till it ends), draws
    its first number from the column's sequence, counts on from it, and moves the sequence to the
    last number it used just before it commits: a batch opening hundreds of incidents costs one
    round trip for its numbers, not one each, and leaves no gaps. Every allocator takes the turn
    first, so nobody draws from the sequence meanwhile (an incident opened by hand waits for the
    deciding batch's commit). A transaction that rolls back leaves the sequence at its first
    number: the numbers it counted were never stored. SQLite (one writer at a time, and this
    transaction holds the write lock) continues AUTOINCREMENT's own counter.

    The count is the transaction's (kept in `session.info`), whichever allocator asks.
    """

    def __init__(self, session: Session) -> None:
        self.session = session

    def next(self) -> int:
        counted: _Counted | None = self.session.info.get(_NUMBERS)
        if counted is None:
            counted = _Counted(first=self._first(), last=None)
            self.session.info[_NUMBERS] = counted
        number = counted.first if counted.last is None else counted.last + 1
        counted.last = number
        return number

    def _first(self) -> int:
        if self.session.get_bind().dialect.name == "postgresql":
            query = text(
                "WITH turn AS MATERIALIZED (SELECT pg_advisory_xact_lock(:key)) "
                "SELECT nextval(pg_get_serial_sequence('incidents', 'number')) FROM turn"
            )
            return int(self.session.execute(query, {"key": NUMBERING_LOCK}).scalar_one())
        used = self.session.execute(text("SELECT seq FROM sqlite_sequence WHERE name = 'incidents'")).scalar()
        return int(used or 0) + 1


NUMBERING_LOCK = 0x62726E6F
"""PostgreSQL advisory lock key ("brno"): transactions allocating incident numbers take turns."""
_NUMBERS = per_transaction.key("bridge.incident_numbers")


@dataclass
class _Counted:
    """The numbers a transaction allocated: from `first` (drawn from the sequence) to `last`."""

    first: int
    last: int | None


@event.listens_for(Session, "before_commit")
def _move_sequence(session: Session) -> None:
    """Move the sequence past the numbers counted on from the one drawn (PostgreSQL; SQLite's
    counter follows the rows stored)."""
    counted: _Counted | None = session.info.pop(_NUMBERS, None)
    if counted is None or counted.last is None or counted.last == counted.first:
        return
    if session.get_bind().dialect.name == "postgresql":
        query = text("SELECT setval(pg_get_serial_sequence('incidents', 'number'), :last)")
        session.execute(query, {"last": counted.last})


def storm_json(entries: tuple[StormEntry, ...], label: tuple[str, str] | None) -> dict[str, Any]:
    """The storm watch of a group as stored (see `bridge.dedup.storm`)."""
    return {
        "label": list(label) if label is not None else None,
        "entries": [
            {
                "at": e.at.isoformat(),
                "host": e.host,
                "fingerprint": e.fingerprint,
                "labels": [list(pair) for pair in e.labels],
                "member": e.member,
            }
            for e in entries
        ],
    }


def storm_entries(stored: dict[str, Any] | None) -> tuple[StormEntry, ...]:
    if not stored:
        return ()
    return tuple(
        StormEntry(
            at=parse_instant(e["at"]),
            host=e["host"],
            fingerprint=e["fingerprint"],
            labels=tuple((str(k), str(v)) for k, v in e.get("labels", ())),
            member=bool(e.get("member", False)),
        )
        for e in stored.get("entries", ())
    )


def storm_label(stored: dict[str, Any] | None) -> tuple[str, str] | None:
    label = (stored or {}).get("label")
    return (str(label[0]), str(label[1])) if label else None
