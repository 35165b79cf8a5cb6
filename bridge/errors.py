"""The errors bridge raises on purpose, in one small tree.

    BridgeError
    ├── ConfigError          a bad BRIDGE_* setting
    ├── Unauthenticated      a missing or wrong bearer token, session or password
    ├── Forbidden            a person whose role does not allow the action (or a missing CSRF token)
    ├── TooManyAttempts      sign-ins refused for a while after repeated failures
    ├── PayloadError         a webhook body or API request that is not what it must be (field + reason)
    ├── RulesError           a rules or rota file with mistakes (file:line: reason, one per mistake)
    ├── InvalidTransition    an incident action its current status does not allow
    ├── Conflict             an action that would break an invariant (two active incidents per group)
    ├── NotFound             no such incident / alert / silence / override / schedule
    ├── StorageUnavailable   the database cannot take a write right now (the sender should retry)
    ├── PermanentFailure     a peer (Zabbix, Alertmanager, a mail server) refused for good: no retry
    ├── TraceError           a line of a recorded trace that cannot be read (which line, why)
    ├── HistoryUnreadable    the database a replay or an export reads is not (an upgraded) bridge's
    ├── ShareFailed          a process replaying a share of the history failed (which, why)
    ├── NotCompact           a parsed delivery outside the replay's compact wire form (sent pickled)
    ├── MailRefused          a mail the desk does not take as a request (the reason, kept with it)
    ├── MailboxError         the desk's IMAP server or the connection to it failed
    └── LinkRefused          a mail's Acknowledge/Escalate link that cannot be used (why: `problem`)

None of them knows about HTTP: `bridge.web.errors` maps them to status codes in one place.
"""

from __future__ import annotations

from dataclasses import dataclass


class BridgeError(Exception):
    """Base of every error bridge raises deliberately."""


class ConfigError(BridgeError):
    """A BRIDGE_* setting has a value bridge cannot use."""


class Unauthenticated(BridgeError):
    """No valid credentials were presented."""


class Forbidden(BridgeError):
    """The person is known but may not do this (their role), or a form came without its CSRF token."""


class TooManyAttempts(BridgeError):
    """Too many failed sign-ins of one account or from one address: refused until they age out."""

    def __init__(self, message: str, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(message)


class PayloadError(BridgeError):
    """A webhook body is malformed; `field` says where (e.g. ``alerts[2].startsAt``)."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}" if field else reason)


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """One mistake in a rules file, located to its line."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


class RulesError(BridgeError):
    """Rules could not be loaded; carries every problem found, not just the first."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class InvalidTransition(BridgeError):
    """An incident action that its current status does not allow (e.g. ack a closed incident)."""

    def __init__(self, number: int, status: str, action: str) -> None:
        self.number = number
        self.status = status
        self.action = action
        super().__init__(f"incident {number} is {status}: cannot {action} it")


class Conflict(BridgeError):
    """The action would break an invariant, e.g. a second active incident for one group."""


class NotFound(BridgeError):
    """The thing asked for does not exist."""


class StorageUnavailable(BridgeError):
    """The database refused or failed a write; nothing was stored."""


class PermanentFailure(BridgeError):
    """The peer refused for good (bad request, not found, recipient refused): retrying cannot help."""


class TraceError(BridgeError):
    """A trace line that cannot be read: says which line and why."""


class HistoryUnreadable(BridgeError):
    """The stored history cannot be read: the database is not bridge's, or not upgraded."""


class ShareFailed(BridgeError):
    """A replay process failed: says which and why."""


class NotCompact(BridgeError):
    """A parsed delivery holds a value outside the replay's compact wire form
    (`bridge.replay.wire`): it travels pickled instead. Never leaves the wire module."""


class MailRefused(BridgeError):
    """A mail cannot be taken as a request; `reason` says why (it goes with the mail to the refused
    folder and into the mail log)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MailboxError(BridgeError):
    """The IMAP server or the connection to it failed (no password in the text)."""


class LinkRefused(BridgeError):
    """A signed link of a notification mail that does nothing: tampered, unknown, expired, used,
    another person's, its person disabled or no longer allowed, or used too often; `problem` says
    which (one of `bridge.services.mail_links.LinkProblem`)."""

    def __init__(self, problem: str, message: str, retry_after: int = 0) -> None:
        self.problem = problem
        self.retry_after = retry_after
        super().__init__(message)
