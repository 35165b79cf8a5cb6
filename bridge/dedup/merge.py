"""`dedup_by`: alerts equal in the chosen fields are one alert, firing while any of them fires.

Each raw alert is a member of the merged one, remembered with its own occurrence so that a late
or repeated delivery of a member changes nothing (as for any alert). The merged alert starts a
new occurrence when its first member fires after all had resolved, and resolves when its last
firing member resolves. Pure.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from bridge.alert import Alert, Status
from bridge.dedup.evolve import evolve
from bridge.dedup.rules import Rule
from bridge.dedup.state import AlertState, Member

KEEP_RESOLVED = timedelta(days=1)
"""How long a resolved member is remembered, so that its late redelivery is recognised as old."""


def merged_fingerprint(rule: Rule, alert: Alert) -> str:
    values = ",".join(f"{k}={alert.field(k)}" for k in rule.dedup_by)
    digest = hashlib.sha256(f"{rule.name}|{values}".encode()).hexdigest()[:16]
    return f"dedup:{rule.name}:{digest}"


def merge(
    alert: Alert, known: AlertState | None, rule: Rule, now: datetime
) -> tuple[Alert, tuple[Member, ...]] | None:
    """The merged alert's event for this member event, and the members to remember; None when the
    member event is older than what is known of that member (nothing to do)."""
    members = {m.fingerprint: m for m in (known.members if known else ())}
    own = members.get(alert.fingerprint)
    if own is not None and alert.recurring:
        if alert.starts_at < own.starts_at:
            return None
        if alert.starts_at == own.starts_at and own.ends_at is not None and alert.status is Status.FIRING:
            return None
    members[alert.fingerprint] = Member(
        alert.fingerprint, alert.starts_at, alert.ends_at if alert.status is Status.RESOLVED else None
    )
    firing = [m for m in members.values() if m.ends_at is None]
    kept = tuple(
        sorted(
            (m for m in members.values() if m.ends_at is None or now - m.ends_at < KEEP_RESOLVED),
            key=lambda m: m.fingerprint,
        )
    )
    fingerprint = merged_fingerprint(rule, alert)
    was_firing = known is not None and known.status is Status.FIRING
    if firing:
        if was_firing and known is not None:
            starts_at = known.starts_at  # still the same occurrence
        else:  # a new occurrence of the merged alert: after the last one ended, never before it
            starts_at = min(m.starts_at for m in firing)
            if known is not None:
                starts_at = max(starts_at, (known.ends_at or known.starts_at) + timedelta(microseconds=1))
        merged = evolve(
            alert,
            fingerprint=fingerprint,
            source_ref=fingerprint,
            status=Status.FIRING,
            starts_at=starts_at,
            ends_at=None,
            recurring=True,
        )
    else:
        ends_at = max(m.ends_at for m in members.values() if m.ends_at is not None)
        starts_at = known.starts_at if known is not None else alert.starts_at
        merged = evolve(
            alert,
            fingerprint=fingerprint,
            source_ref=fingerprint,
            status=Status.RESOLVED,
            starts_at=starts_at,
            ends_at=max(ends_at, starts_at),
            recurring=True,
        )
    return merged, kept
