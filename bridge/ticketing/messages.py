"""What a message to a person is about: the name of its template, and what the notification row
records."""

from __future__ import annotations

from enum import StrEnum


class MessageKind(StrEnum):
    REGISTRATION = "registration"  # a new incident is yours: its number, deadlines, link
    ESCALATION = "escalation"  # a step of the escalation policy pages you (or an ack timed out)
    BREACH = "breach"  # an SLA target was missed
    RETURNED = "returned"  # a resolution was rejected or the incident reopened
    ASSIGNED = "assigned"  # someone made you responsible
    STALE = "stale"  # nothing changed for a long time
    LONG_OPEN = "long_open"  # the head of IT hears of incidents open too long
    SLA_REPORT = "sla_report"  # the weekly or monthly SLA report (no incident)
    # To a client who wrote to the desk (the mail intake, bridge.services.mail_intake):
    MAIL_RECEIVED = "mail_received"  # your request is registered: its number, priority, deadline, link
    MAIL_UNKNOWN = "mail_unknown"  # your address is not registered with the desk
    MAIL_RESOLVED = "mail_resolved"  # your request is resolved: confirm or reject by replying
