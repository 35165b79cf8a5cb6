"""Database tables (SQLAlchemy 2.0 typed declarative). Schema changes go through Alembic.

Every datetime is stored and returned as aware UTC (`UTCDateTime`), whatever the database, and
every column that holds one of bridge's enumerations reads and writes its members (`text_enum`),
stored as their text.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from bridge.alert import (
    DELIVERY_KEY_MAX,
    FINGERPRINT_MAX,
    HOST_MAX,
    NAME_MAX,
    SOURCE_REF_MAX,
    Severity,
    Source,
    Status,
)
from bridge.dedup.state import Disposition
from bridge.priority import Priority
from bridge.ticketing.lifecycle import IncidentStatus, IncidentType
from bridge.ticketing.messages import MessageKind
from bridge.ticketing.roles import Role

E = TypeVar("E", bound=StrEnum)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite keeps no zone, so add it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


def text_enum(enum: type[E], length: int) -> Enum:
    """A column of `enum`'s members, stored as their values in a VARCHAR(length): no database
    enum type and no CHECK, so a new member needs no migration. A string that is no member may
    still be compared with (a filter for an unknown status finds nothing, as it should)."""

    def values(members: Sequence[E]) -> list[str]:
        return [member.value for member in members]

    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=values,
        validate_strings=False,
    )


def incident_ref() -> ForeignKey:
    """A reference to an incident, checked at commit: a batch may write rows that point to an
    incident before the incident's own row (numbers are allocated without a flush)."""
    return ForeignKey("incidents.number", deferrable=True, initially="DEFERRED")


BigId = BigInteger().with_variant(Integer(), "sqlite")  # SQLite only autoincrements INTEGER


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
    }


class IntakeStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class Intake(Base):
    """One accepted webhook delivery, exactly as posted: the durable log everything starts from."""

    __tablename__ = "intake"
    __table_args__ = (
        Index(
            "ix_intake_pending",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "ix_intake_failed",
            "id",
            sqlite_where=text("status = 'failed'"),
            postgresql_where=text("status = 'failed'"),
        ),
        Index("ix_intake_received_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[Source] = mapped_column(text_enum(Source, 20))
    dedup_key: Mapped[str] = mapped_column(String(DELIVERY_KEY_MAX), unique=True)
    received_at: Mapped[datetime]
    body: Mapped[bytes] = mapped_column(LargeBinary)
    alert_count: Mapped[int] = mapped_column(Integer)
    host_shard: Mapped[int | None] = mapped_column(Integer)  # Delivery.host_shard; NULL: several hosts
    status: Mapped[IntakeStatus] = mapped_column(text_enum(IntakeStatus, 10), default=IntakeStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    """Alerts of it already decided: a large delivery is decided in slices, one transaction each."""
    error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None]
    requeued_at: Mapped[datetime | None]  # when the sweeper last took it up (production mode)


class IntakeKey(Base):
    """The idempotency key of a delivery in the intake log. On PostgreSQL the log is partitioned by
    time and a unique index cannot span partitions, so a delivery is stored only if its key goes
    in here first (one statement, `bridge.db.intake.store_delivery`); pruned with its delivery.
    SQLite keeps its unique index on `intake.dedup_key` and leaves this table empty."""

    __tablename__ = "intake_keys"
    __table_args__ = (Index("ix_intake_keys_received_at", "received_at"),)

    dedup_key: Mapped[str] = mapped_column(String(DELIVERY_KEY_MAX), primary_key=True)
    received_at: Mapped[datetime]


class IntakeTally(Base):
    """What pruned deliveries counted, by the hour they were received: the noise report's
    deliveries and events per source stay the same after a prune, on whole hours."""

    __tablename__ = "intake_tallies"
    __table_args__ = (UniqueConstraint("hour", "source", name="uq_intake_tallies_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    hour: Mapped[datetime]  # received_at truncated to the hour
    source: Mapped[str] = mapped_column(String(20))
    deliveries: Mapped[int] = mapped_column(BigInteger)
    events: Mapped[int] = mapped_column(BigInteger)


class AlertTally(Base):
    """What pruned alert rows counted, by the hour they were first seen and the hour of their last
    event: the reports' figures (alerts and occurrences per source, rule, name, host, disposition
    and reason) stay the same after a prune, on whole hours."""

    __tablename__ = "alert_tallies"
    __table_args__ = (
        UniqueConstraint(
            "hour",
            "source",
            "rule",
            "name",
            "disposition",
            "suppressed_by",
            "last_hour",
            "host",
            "reason",
            name="uq_alert_tallies_key",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    hour: Mapped[datetime]  # first_seen_at truncated to the hour
    source: Mapped[str] = mapped_column(String(20))
    rule: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    disposition: Mapped[str] = mapped_column(String(10))
    suppressed_by: Mapped[str] = mapped_column(String(255), default="")  # "" when nothing held it
    last_hour: Mapped[datetime]  # last_event_at truncated to the hour (the noise report's period)
    host: Mapped[str] = mapped_column(String(HOST_MAX), default="")
    reason: Mapped[str] = mapped_column(String(30), default="")  # why it paged nobody, one word
    alerts: Mapped[int] = mapped_column(BigInteger)
    occurrences: Mapped[int] = mapped_column(BigInteger)


class Incident(Base):
    __tablename__ = "incidents"
    __table_args__ = (
        # At most one active incident per group: the database, not the code, guarantees it.
        Index(
            "uq_incidents_active_group",
            "group_key",
            unique=True,
            sqlite_where=text("status IN ('open', 'acknowledged', 'stale')"),
            postgresql_where=text("status IN ('open', 'acknowledged', 'stale')"),
        ),
        Index("ix_incidents_status_priority", "status", "priority"),
        Index("ix_incidents_assignee", "assignee"),
        Index("ix_incidents_client", "client"),
        {"sqlite_autoincrement": True},  # numbers never repeat
    )

    number: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(500))
    status: Mapped[IncidentStatus] = mapped_column(text_enum(IncidentStatus, 20), default=IncidentStatus.OPEN)
    priority: Mapped[Priority] = mapped_column(text_enum(Priority, 2))
    group_key: Mapped[str | None] = mapped_column(String(255))
    rule: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str | None] = mapped_column(String(20))
    host: Mapped[str | None] = mapped_column(String(HOST_MAX))
    alert_count: Mapped[int] = mapped_column(Integer, default=0)
    occurrence_count: Mapped[int] = mapped_column(Integer, default=0)
    first_alert_at: Mapped[datetime | None]
    last_alert_at: Mapped[datetime | None]
    opened_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime]
    route: Mapped[str | None] = mapped_column(String(100))  # escalation policy / team chosen by the rules
    client: Mapped[str | None] = mapped_column(String(200))
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
    # Ownership, escalation and SLA (bridge.ticketing.duty):
    type: Mapped[IncidentType] = mapped_column(text_enum(IncidentType, 20), default=IncidentType.INCIDENT)
    description: Mapped[str] = mapped_column(Text, default="")
    reporter: Mapped[str | None] = mapped_column(String(200))  # who called or wrote, for manual ones
    assignee: Mapped[str | None] = mapped_column(String(100))  # the responsible person's rota handle
    line: Mapped[str] = mapped_column(String(2), default="L1")
    policy: Mapped[str | None] = mapped_column(String(100))  # escalation policy
    escalation_step: Mapped[int | None] = mapped_column(Integer)  # the step last paged (0-based)
    escalation_round: Mapped[int] = mapped_column(Integer, default=0)
    ack_due_at: Mapped[datetime | None]
    resolve_due_at: Mapped[datetime | None]
    ack_breached_at: Mapped[datetime | None]
    resolve_breached_at: Mapped[datetime | None]
    return_count: Mapped[int] = mapped_column(Integer, default=0)  # resolutions rejected
    stale_from: Mapped[IncidentStatus | None] = mapped_column(
        text_enum(IncidentStatus, 20)
    )  # the status it had before going stale
    worked_at: Mapped[datetime | None]  # the last time a person did something to it


class TimelineEntry(Base):
    """Something that happened to an incident: who, when, what. Never updated, never deleted."""

    __tablename__ = "timeline"
    __table_args__ = (Index("ix_timeline_incident", "incident_number", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_number: Mapped[int] = mapped_column(incident_ref())
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    text: Mapped[str] = mapped_column(Text, default="")
    fingerprint: Mapped[str | None] = mapped_column(String(FINGERPRINT_MAX))
    via: Mapped[str | None] = mapped_column(String(20))
    """The channel a person acted by when not the console or the API: "telegram"."""


class AlertRow(Base):
    """The latest known state of one alert (one fingerprint) and bridge's decision about it."""

    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_group", "group_key"),
        Index("ix_alerts_incident", "incident_number"),
        Index("ix_alerts_last_event", "last_event_at"),
        Index("ix_alerts_suppressed_by", "suppressed_by"),
        # What every deciding batch asks of the firing alerts (migration 0019).
        Index(
            "ix_alerts_firing_rule",
            "rule",
            sqlite_where=text("status = 'firing'"),
            postgresql_where=text("status = 'firing'"),
        ),
        Index(
            "ix_alerts_firing_held",
            "suppressed_by",
            sqlite_where=text("status = 'firing' AND suppressed_by IS NOT NULL"),
            postgresql_where=text("status = 'firing' AND suppressed_by IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    fingerprint: Mapped[str] = mapped_column(String(FINGERPRINT_MAX), unique=True)
    source: Mapped[Source] = mapped_column(text_enum(Source, 20))
    source_ref: Mapped[str] = mapped_column(String(SOURCE_REF_MAX))
    name: Mapped[str] = mapped_column(String(NAME_MAX))
    host: Mapped[str] = mapped_column(String(HOST_MAX))
    severity: Mapped[Severity] = mapped_column(text_enum(Severity, 10))
    status: Mapped[Status] = mapped_column(text_enum(Status, 10))
    labels: Mapped[dict[str, Any]]
    annotations: Mapped[dict[str, Any]]
    url: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime]
    last_event_at: Mapped[datetime]
    rule: Mapped[str] = mapped_column(String(200))
    group_key: Mapped[str | None] = mapped_column(String(255))
    disposition: Mapped[Disposition] = mapped_column(text_enum(Disposition, 10))
    reason: Mapped[str] = mapped_column(Text, default="")
    incident_number: Mapped[int | None] = mapped_column(incident_ref())
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    missing_since: Mapped[datetime | None]  # reconciliation: firing here, absent from its source since
    suppressed_by: Mapped[str | None] = mapped_column(String(255))  # maintenance:, silence:, inhibit:
    members: Mapped[list[Any]] = mapped_column(JSONType, default=list)  # dedup_by: the raw alerts merged
    origin: Mapped[str] = mapped_column(String(20), default="", server_default="")
    """How bridge learned of the alert's current occurrence: "" (a webhook) or "reconciliation"."""


class AlertRole(StrEnum):
    """How an alert belongs to an incident."""

    MEMBER = "member"  # it is (or was) one of the incident's alerts
    RELATED = "related"  # held back because of the incident (inhibited), listed with it


class IncidentAlert(Base):
    """An alert that was ever part of an incident; stays when the alert later moves on."""

    __tablename__ = "incident_alerts"

    incident_number: Mapped[int] = mapped_column(incident_ref(), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(FINGERPRINT_MAX), primary_key=True)
    first_attached_at: Mapped[datetime]
    last_attached_at: Mapped[datetime]
    occurrences: Mapped[int] = mapped_column(Integer, default=1)
    role: Mapped[AlertRole] = mapped_column(text_enum(AlertRole, 10), default=AlertRole.MEMBER)


class AlertGroup(Base):
    """The engine's state of one group of alerts (see `bridge.dedup.state.GroupState`)."""

    __tablename__ = "alert_groups"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    rule: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(500))
    firing: Mapped[int] = mapped_column(Integer, default=0)
    firing_since: Mapped[datetime | None]
    quiet_since: Mapped[datetime | None]
    occurrences: Mapped[list[Any]]
    severity: Mapped[Severity | None] = mapped_column(text_enum(Severity, 10))
    changes: Mapped[list[Any]] = mapped_column(
        JSONType, default=list
    )  # flapping: recent fires and resolutions
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen: Mapped[datetime | None]  # heartbeat rules
    storm: Mapped[dict[str, Any] | None] = mapped_column(
        JSONType, nullable=True
    )  # the storm group: recent starts and the label its members share
    client: Mapped[str | None] = mapped_column(String(200))  # of the alert starting the firing stretch
    incident_number: Mapped[int | None] = mapped_column(incident_ref())
    updated_at: Mapped[datetime]


class Timer(Base):
    """Something that must happen later: a row with a due time, so a restart loses none."""

    __tablename__ = "timers"
    __table_args__ = (
        UniqueConstraint("kind", "subject", name="uq_timers_kind_subject"),
        Index("ix_timers_due", "due_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(255))
    due_at: Mapped[datetime]


class OutboxStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class OutboxJob(Base):
    """Something to do outside bridge (a Zabbix acknowledgement, an Alertmanager silence...),
    written in the same transaction as the change that wants it, done later with retries."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_due",
            "next_attempt_at",
            sqlite_where=text("status IN ('pending', 'running')"),
            postgresql_where=text("status IN ('pending', 'running')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(40))
    incident_number: Mapped[int | None] = mapped_column(incident_ref())
    payload: Mapped[dict[str, Any]]
    status: Mapped[OutboxStatus] = mapped_column(text_enum(OutboxStatus, 10), default=OutboxStatus.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    done_at: Mapped[datetime | None]


class NotificationStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SENT = "sent"
    FAILED = "failed"


class Notification(Base):
    """One message to one person over one channel, written with the change that wants it and sent
    later by a job with retries (bridge.ticketing.notify)."""

    __tablename__ = "notifications"
    __table_args__ = (
        Index(
            "ix_notifications_due",
            "next_attempt_at",
            sqlite_where=text("status IN ('pending', 'running')"),
            postgresql_where=text("status IN ('pending', 'running')"),
        ),
        Index("ix_notifications_incident", "incident_number", "id"),
        Index("ix_notifications_external_ref", "channel", "address", "external_ref"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_number: Mapped[int | None] = mapped_column(incident_ref())
    person: Mapped[str] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(20))  # email, telegram, webhook
    address: Mapped[str] = mapped_column(Text)
    kind: Mapped[MessageKind] = mapped_column(text_enum(MessageKind, 30))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[NotificationStatus] = mapped_column(
        text_enum(NotificationStatus, 10), default=NotificationStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    external_ref: Mapped[str | None] = mapped_column(String(100))
    """What the channel called the sent message: a Telegram message id (in the chat `address`)."""


class OncallOverride(Base):
    """Someone covers a schedule's shift, made at run time (POST /api/oncall/overrides)."""

    __tablename__ = "oncall_overrides"
    __table_args__ = (Index("ix_oncall_overrides_ends_at", "ends_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    schedule: Mapped[str] = mapped_column(String(100))
    person: Mapped[str] = mapped_column(String(100))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]


class AlertmanagerSilence(Base):
    """A silence bridge created in Alertmanager for an acknowledged incident's alert."""

    __tablename__ = "alertmanager_silences"
    __table_args__ = (Index("ix_am_silences_incident", "incident_number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_number: Mapped[int] = mapped_column(incident_ref())
    fingerprint: Mapped[str] = mapped_column(String(FINGERPRINT_MAX))
    silence_id: Mapped[str] = mapped_column(String(64))
    ends_at: Mapped[datetime]
    created_at: Mapped[datetime]
    expired_at: Mapped[datetime | None]


class SilenceRow(Base):
    """A silence created at run time (POST /api/silences): matching alerts are held back until it ends."""

    __tablename__ = "silences"
    __table_args__ = (Index("ix_silences_ends_at", "ends_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    matchers: Mapped[dict[str, Any]]  # {"host": "db-01", "name": "=~Disk.*"}, as in rules
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    author: Mapped[str] = mapped_column(String(200))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]
    expired_at: Mapped[datetime | None]  # expired by hand before its end


class Scope(StrEnum):
    """What a bearer token lets in: a source's webhook, or the API."""

    ALERTMANAGER = "alertmanager"
    ZABBIX = "zabbix"
    ADMIN = "admin"


class Credential(Base):
    """A bearer token bridge checks, stored as its SHA-256 only."""

    __tablename__ = "credentials"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    scope: Mapped[Scope] = mapped_column(text_enum(Scope, 20))
    label: Mapped[str] = mapped_column(String(100))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


# -- people (issue 14): users, their sessions and tokens, login attempts ---------------------------


class User(Base):
    """A person who signs in: a rota handle when the person is in rules/rota.yaml."""

    __tablename__ = "users"
    __table_args__ = (
        Index("uq_users_telegram_id", "telegram_id", unique=True),
        Index("uq_users_telegram_code", "telegram_code_sha256", unique=True),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    handle: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(text_enum(Role, 20))
    client: Mapped[str | None] = mapped_column(String(200))  # a viewer's client
    locale: Mapped[str] = mapped_column(String(10))
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None: tokens only
    disabled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime | None]
    telegram_id: Mapped[int | None] = mapped_column(BigInteger)  # the linked Telegram account's user id
    telegram_code_sha256: Mapped[str | None] = mapped_column(String(64))  # a pending /start code
    telegram_code_expires_at: Mapped[datetime | None]


class PersonalToken(Base):
    """A person's API token, stored as its SHA-256 only; it acts as its owner."""

    __tablename__ = "personal_tokens"
    __table_args__ = (Index("ix_personal_tokens_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(100))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class WebSession(Base):
    """A signed-in browser: the cookie holds a random key, the row its SHA-256."""

    __tablename__ = "web_sessions"
    __table_args__ = (Index("ix_web_sessions_user_id", "user_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    key_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(BigId, ForeignKey("users.id"))
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]  # the absolute end, whatever the activity
    address: Mapped[str] = mapped_column(String(100))


class LoginAttempt(Base):
    """One try to sign in, kept for throttling per account and per client address."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_handle_at", "handle", "at"),
        Index("ix_login_attempts_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    handle: Mapped[str] = mapped_column(String(100))
    address: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime]
    succeeded: Mapped[bool] = mapped_column(Boolean)


class MailStatus(StrEnum):
    PENDING = "pending"  # stored, still to register
    DONE = "done"  # registered: an incident opened, a comment, a confirmation ...
    REFUSED = "refused"  # not taken (the reason says why); moved to the refused folder
    FAILED = "failed"  # registering it failed every time (the reason is the last error)


class MailMessage(Base):
    """One mail fetched from the desk's mailbox: the mail intake's log. Stored before the mail is
    moved out of the folder bridge reads, keyed by its Message-ID, so a crash loses no request and
    a second fetch of the same mail stores nothing."""

    __tablename__ = "mail_messages"
    __table_args__ = (
        Index(
            "ix_mail_messages_pending",
            "id",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_mail_messages_incident", "incident_number"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    message_key: Mapped[str] = mapped_column(String(200), unique=True)  # Message-ID, or sha256:<hex>
    received_at: Mapped[datetime]
    sender: Mapped[str | None] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(500), default="")
    raw: Mapped[bytes] = mapped_column(LargeBinary)  # as fetched (only the headers when too large)
    status: Mapped[MailStatus] = mapped_column(text_enum(MailStatus, 10), default=MailStatus.PENDING)
    reason: Mapped[str | None] = mapped_column(Text)  # why refused, or the last error
    outcome: Mapped[str | None] = mapped_column(String(20))  # opened, comment, confirm, reject ...
    incident_number: Mapped[int | None] = mapped_column(incident_ref())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    processed_at: Mapped[datetime | None]


class MailLink(Base):
    """An Acknowledge or Escalate link that went out in a notification mail (bridge.services.
    mail_links): the signed link carries its id, and this row makes it single-use (`used_at`) and
    lets a link bridge never issued be told apart from one it did."""

    __tablename__ = "mail_links"
    __table_args__ = (Index("ix_mail_links_expires", "expires_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # random, URL-safe
    incident_number: Mapped[int] = mapped_column(incident_ref())
    person: Mapped[str] = mapped_column(String(100))  # the recipient's handle: who it acts as
    action: Mapped[str] = mapped_column(String(20))  # ack, escalate
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class MailLinkUse(Base):
    """A confirmation of a mail link by a person, whatever came of it: the rate limit counts these."""

    __tablename__ = "mail_link_uses"
    __table_args__ = (Index("ix_mail_link_uses_person_at", "person", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    person: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime]


class MailAttachment(Base):
    """A file a mail carried, kept with the incident it opened or commented (the bytes here, or in
    BRIDGE_MAIL_ATTACHMENTS_DIR with `path` naming the file)."""

    __tablename__ = "mail_attachments"
    __table_args__ = (Index("ix_mail_attachments_incident", "incident_number", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    incident_number: Mapped[int] = mapped_column(incident_ref())
    message_id: Mapped[int] = mapped_column(BigId, ForeignKey("mail_messages.id"))
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(BigInteger)
    data: Mapped[bytes | None] = mapped_column(LargeBinary)
    path: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


# -- Telegram (issue 15): the bot's updates ---------------------------------------------------------


class TelegramPoller(Base):
    """The one row of the bot's long poll: the next update id to ask for (moved on in the same
    transaction as each update's effect) and the lease of the process polling now."""

    __tablename__ = "telegram_poller"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    next_update_id: Mapped[int] = mapped_column(BigInteger)
    holder: Mapped[str | None] = mapped_column(String(200))
    lease_until: Mapped[datetime | None]


class TelegramUpdate(Base):
    """An update the bot took, keyed by Telegram's update id: written with the update's effect,
    so a second delivery of it (a restarted poller, a webhook retried) changes nothing."""

    __tablename__ = "telegram_updates"
    __table_args__ = (Index("ix_telegram_updates_from_at", "from_id", "at"),)

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    from_id: Mapped[int | None] = mapped_column(BigInteger)  # the Telegram account that sent it
    kind: Mapped[str] = mapped_column(String(20))  # press, command, reply, other
    outcome: Mapped[str] = mapped_column(String(40))  # acted, stranger, refused, limited, stale ...
    incident_number: Mapped[int | None] = mapped_column(BigId)
    at: Mapped[datetime]
