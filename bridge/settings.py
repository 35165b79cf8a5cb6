"""Settings from BRIDGE_* environment variables, in one place, validated at start.

`SPECS` is the single list of settings: `Settings.from_env` reads it and the README's
configuration table is written from it (`bridge config --markdown`).
"""

from __future__ import annotations

import difflib
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bridge.errors import ConfigError
from bridge.timeutil import parse_duration


@dataclass(frozen=True, slots=True)
class Spec:
    env: str
    attr: str
    default: str | None
    help: str
    secret: bool = False


SPECS: tuple[Spec, ...] = (
    Spec(
        "BRIDGE_DATABASE_URL",
        "database_url",
        "sqlite:///bridge.db",
        "Database: SQLite for the embedded default, a plain `postgresql://user:pass@host/db` URL "
        "in production.",
        secret=True,
    ),
    Spec(
        "BRIDGE_REDIS_URL",
        "redis_url",
        None,
        "Redis for production mode: webhooks enqueue deliveries on an rq queue that `bridge worker` "
        "processes run. Unset: the in-process worker of `bridge serve`.",
        secret=True,
    ),
    Spec(
        "BRIDGE_REDIS_TIMEOUT",
        "redis_timeout",
        "1",
        "Seconds any Redis call of a web process may take; a Redis down or hung never fails a webhook.",
    ),
    Spec(
        "BRIDGE_SWEEP_GRACE",
        "sweep_grace",
        "30s",
        "Production mode: a delivery still pending this long (its job was lost) is queued again.",
    ),
    Spec("BRIDGE_RULES_DIR", "rules_dir", "rules", "Directory of rules files (`*.yaml`)."),
    Spec(
        "BRIDGE_RULES_WATCH",
        "rules_watch",
        "2s",
        "How often each process checks the rules files for changes and reloads them; 0 to never "
        "(then `POST /api/rules/reload` or SIGHUP).",
    ),
    Spec(
        "BRIDGE_ALERTMANAGER_TOKEN",
        "alertmanager_token",
        None,
        "Bearer token Alertmanager must send. Unset: generated on first start, stored hashed, printed once.",
        secret=True,
    ),
    Spec(
        "BRIDGE_ZABBIX_TOKEN",
        "zabbix_token",
        None,
        "Bearer token the Zabbix media type must send. Unset: generated like the Alertmanager token.",
        secret=True,
    ),
    Spec(
        "BRIDGE_ADMIN_TOKEN",
        "admin_token",
        None,
        "Bootstrap admin API token. Unset: generated on first start and printed once.",
        secret=True,
    ),
    Spec(
        "BRIDGE_BASE_URL",
        "base_url",
        None,
        "Public URL of bridge, for links in messages and sender configuration. Unset: http://HOST:PORT.",
    ),
    Spec(
        "BRIDGE_ZABBIX_URL",
        "zabbix_url",
        None,
        "Zabbix frontend root URL (`api_jsonrpc.php` is added): enables write-back and reconciliation.",
        secret=True,  # it may carry user:password for a frontend behind Basic auth
    ),
    Spec(
        "BRIDGE_ZABBIX_API_TOKEN",
        "zabbix_api_token",
        None,
        "Zabbix API token (6.0: Administration -> General -> API tokens; 7.0: Users -> API tokens); "
        "or the user and password below.",
        secret=True,
    ),
    Spec(
        "BRIDGE_ZABBIX_USER",
        "zabbix_user",
        None,
        "Zabbix API user; best the same user the media type sends to (Zabbix then sends no echo).",
    ),
    Spec("BRIDGE_ZABBIX_PASSWORD", "zabbix_password", None, "Zabbix API user's password.", secret=True),
    Spec(
        "BRIDGE_ZABBIX_INSTANCE",
        "zabbix_instance",
        "zabbix",
        "The instance name the media type sends ({$BRIDGE.INSTANCE}); reconciliation matches problems by it.",
    ),
    Spec(
        "BRIDGE_ZABBIX_RECONCILE",
        "zabbix_reconcile",
        "5m",
        "How often to reconcile with Zabbix's problems; 0 to never.",
    ),
    Spec(
        "BRIDGE_ZABBIX_RECONCILE_GRACE",
        "zabbix_reconcile_grace",
        "2m",
        "Reconciliation leaves problems, recoveries and acknowledgements younger than this to the "
        "webhooks (longer than the media type's retries: 3 attempts, 5 s apart, 15 s timeout each).",
    ),
    Spec(
        "BRIDGE_ZABBIX_ACK_ACKNOWLEDGES",
        "zabbix_ack_acknowledges",
        "true",
        "An acknowledgement made in Zabbix acknowledges the bridge incident.",
    ),
    Spec(
        "BRIDGE_ZABBIX_MIRROR_COMMENTS",
        "zabbix_mirror_comments",
        "false",
        "Copy comments made in bridge to Zabbix as problem messages.",
    ),
    Spec(
        "BRIDGE_ALERTMANAGER_URL",
        "alertmanager_url",
        None,
        "Alertmanager URL: enables reconciliation and silences on acknowledgement.",
        secret=True,  # it may carry user:password for an Alertmanager behind Basic auth
    ),
    Spec(
        "BRIDGE_ALERTMANAGER_RECONCILE",
        "alertmanager_reconcile",
        "1m",
        "How often to reconcile with Alertmanager's alerts; 0 to never.",
    ),
    Spec(
        "BRIDGE_ALERTMANAGER_RESOLVE_GRACE",
        "alertmanager_resolve_grace",
        "5m",
        "How long an alert may be missing from Alertmanager before bridge resolves it.",
    ),
    Spec(
        "BRIDGE_ZABBIX_ANSWER_TAGS",
        "zabbix_answer_tags",
        "true",
        "Answer a Zabbix delivery with its event's page in bridge, and with its incident's number when it "
        "can be decided at once without waiting (nothing pending ahead, no worker deciding); otherwise "
        "the workers decide it and the number reaches Zabbix as a problem message (with "
        "`BRIDGE_ZABBIX_URL` set).",
    ),
    Spec(
        "BRIDGE_SMTP_URL",
        "smtp_url",
        None,
        "Mail server for e-mail notifications: `smtp://user:pass@host:25` (add `?starttls=true` to "
        "upgrade the connection) or `smtps://...:465`. Unset: no e-mail.",
        secret=True,
    ),
    Spec("BRIDGE_SMTP_FROM", "smtp_from", "bridge@localhost", "Sender address of e-mail notifications."),
    Spec(
        "BRIDGE_SECRET_KEY",
        "secret_key",
        None,
        "Key that signs the Acknowledge/Escalate links of notification mails (docs/mail.md); at least 32 "
        "characters, the same in every process. Unset: mails carry no such links.",
        secret=True,
    ),
    Spec(
        "BRIDGE_MAIL_LINK_LIFETIME",
        "mail_link_lifetime",
        "24h",
        "How long an Acknowledge/Escalate link of a mail can be used (once); 0: mails carry no such "
        "links. They also need BRIDGE_BASE_URL and BRIDGE_SECRET_KEY.",
    ),
    Spec(
        "BRIDGE_MAIL_LINK_MAX_USES",
        "mail_link_max_uses",
        "20",
        "Confirmations of mail links one person may send within 10 minutes; more are refused (429).",
    ),
    Spec(
        "BRIDGE_IMAP_URL",
        "imap_url",
        None,
        "The desk's mailbox, polled for clients' mail (docs/mail.md): `imaps://user:pass@host[:993]`, "
        "or `imap://user:pass@host[:143]?starttls=true`. Unset: no mail intake.",
        secret=True,
    ),
    Spec(
        "BRIDGE_IMAP_ALLOW_PLAIN",
        "imap_allow_plain",
        "false",
        "Take a plain `imap://` URL without STARTTLS; only for a server on a loopback address (tests).",
    ),
    Spec("BRIDGE_IMAP_FOLDER", "imap_folder", "INBOX", "The mailbox folder bridge reads new mail from."),
    Spec(
        "BRIDGE_IMAP_PROCESSED_FOLDER",
        "imap_processed_folder",
        "bridge/processed",
        "Where mail goes once stored and registered (created when missing).",
    ),
    Spec(
        "BRIDGE_IMAP_REFUSED_FOLDER",
        "imap_refused_folder",
        "bridge/refused",
        "Where mail bridge does not take goes, with the reason in an `X-Bridge-Refused` header.",
    ),
    Spec("BRIDGE_IMAP_POLL", "imap_poll", "1m", "How often the mailbox is polled (one worker at a time)."),
    Spec(
        "BRIDGE_MAIL_AUTHSERV_ID",
        "mail_authserv_id",
        None,
        "The authserv-id of the receiving mail server's `Authentication-Results`: a From address "
        "counts as the client's only with a DKIM, SPF or DMARC pass reported under it.",
    ),
    Spec(
        "BRIDGE_MAIL_TRUST_FROM",
        "mail_trust_from",
        "false",
        "Trust the From address without a verdict of the receiving server (anyone can then write "
        "as a client). Needed when BRIDGE_MAIL_AUTHSERV_ID is unset.",
    ),
    Spec(
        "BRIDGE_MAIL_UNKNOWN_SENDER",
        "mail_unknown_sender",
        "register",
        "Mail from an address no client lists: `register` (an incident without client, for L1 to "
        "sort) or `reply` (answer that the address is not registered, and refuse the mail).",
    ),
    Spec(
        "BRIDGE_MAIL_REQUEST_WORDS",
        "mail_request_words",
        "request,access,account,password,install",
        "Words in a mail's subject or first lines that make it a `service request` instead of an "
        "`incident` (comma-separated).",
    ),
    Spec(
        "BRIDGE_MAIL_MAX_BYTES",
        "mail_max_bytes",
        "26214400",
        "Largest mail read whole; a larger one is refused (only its headers are read).",
    ),
    Spec(
        "BRIDGE_MAIL_ATTACHMENT_MAX_BYTES",
        "mail_attachment_max_bytes",
        "5242880",
        "Largest attachment kept; larger ones are listed on the incident as left out.",
    ),
    Spec(
        "BRIDGE_MAIL_ATTACHMENTS_DIR",
        "mail_attachments_dir",
        None,
        "Directory to keep mail attachments in. Unset: in the database.",
    ),
    Spec(
        "BRIDGE_TELEGRAM_TOKEN",
        "telegram_token",
        None,
        "Telegram bot token for notifications to people's `telegram:` chat ids. Unset: no Telegram.",
        secret=True,
    ),
    Spec(
        "BRIDGE_TELEGRAM_API_URL",
        "telegram_api_url",
        "https://api.telegram.org",
        "Telegram Bot API base URL (a local Bot API server, or a test stand-in).",
    ),
    Spec(
        "BRIDGE_TELEGRAM_UPDATES",
        "telegram_updates",
        "poll",
        "How the bot hears button presses, `/start` codes and replies (docs/telegram.md): `poll` "
        "(long-polling getUpdates, one poller across all processes; works behind NAT), `webhook` "
        "(Telegram POSTs to `BRIDGE_BASE_URL/webhooks/telegram/<secret>`; needs a public https "
        "BRIDGE_BASE_URL and BRIDGE_TELEGRAM_WEBHOOK_SECRET), or `off` (messages only).",
    ),
    Spec(
        "BRIDGE_TELEGRAM_WEBHOOK_SECRET",
        "telegram_webhook_secret",
        None,
        "The secret of the Telegram webhook: in its path and in the `X-Telegram-Bot-Api-Secret-Token` "
        "header Telegram sends (1-256 of A-Z a-z 0-9 _ -).",
        secret=True,
    ),
    Spec(
        "BRIDGE_TELEGRAM_POLL_SECONDS",
        "telegram_poll_seconds",
        "25",
        "How long one getUpdates call waits for an update (Telegram's long-poll `timeout`).",
    ),
    Spec(
        "BRIDGE_TELEGRAM_PRESSES_PER_MINUTE",
        "telegram_presses_per_minute",
        "10",
        "Button presses and replies one Telegram account may make in a minute; more are answered "
        '"too many" and do nothing.',
    ),
    Spec(
        "BRIDGE_TELEGRAM_LINK_TTL",
        "telegram_link_ttl",
        "10m",
        'How long a "Link Telegram" code from the console is good for `/start <code>`.',
    ),
    Spec(
        "BRIDGE_TEMPLATES_DIR",
        "templates_dir",
        None,
        "Directory of notification templates (`registration.txt`, `escalation.txt`, ...; first line "
        "is the subject) that override the built-in ones.",
    ),
    Spec("BRIDGE_TIMEZONE", "timezone", "UTC", "Time zone for times shown to people (IANA name)."),
    Spec(
        "BRIDGE_LOCALE",
        "locale",
        "en",
        "Language of notifications (`en` or `ru`) to people without a bridge user of their own; a "
        "user's own locale wins.",
    ),
    Spec(
        "BRIDGE_MAX_BODY_BYTES",
        "max_body_bytes",
        "5242880",
        "Largest webhook body accepted; larger gets 413.",
    ),
    Spec(
        "BRIDGE_DB_TIMEOUT",
        "db_timeout",
        "5",
        "Seconds to wait for the database (SQLite lock, PostgreSQL connect) before answering 503.",
    ),
    Spec(
        "BRIDGE_RETAIN_INTAKE",
        "retain_intake",
        "30d",
        "How long processed intake deliveries (the raw bodies) are kept; `bridge rules replay` and "
        "`bridge intake export` read only what is kept. Pending and parked ones are kept until "
        "processed, retried or dropped (`bridge intake drop-parked`). 0 to keep forever.",
    ),
    Spec(
        "BRIDGE_RETAIN_ALERTS",
        "retain_alerts",
        "90d",
        "How long a resolved alert with no open incident is kept after its last event (what it "
        "counted stays in the noise report's tallies). 0 to keep forever.",
    ),
    Spec(
        "BRIDGE_RETAIN_DELIVERED",
        "retain_delivered",
        "90d",
        "How long sent notifications and finished outbox jobs are kept. 0 to keep forever. "
        "Incidents and their timelines are always kept.",
    ),
    Spec(
        "BRIDGE_PRUNE_EVERY",
        "prune_every",
        "10m",
        "How often a worker prunes what the retention lets go (one at a time, under a lease; on "
        "PostgreSQL it also creates the intake log's weekly partitions ahead); 0 to never "
        "(then `bridge db prune`).",
    ),
    Spec(
        "BRIDGE_PRUNE_BUDGET",
        "prune_budget",
        "20s",
        "How long one periodic prune may run before it stops and carries on at the next.",
    ),
    Spec(
        "BRIDGE_PRUNE_BATCH",
        "prune_batch",
        "500",
        "Rows deleted per transaction by a prune: small, so no webhook waits on its locks.",
    ),
    Spec("BRIDGE_TICK_SECONDS", "tick_seconds", "1", "How often the worker checks due timers."),
    Spec(
        "BRIDGE_WORKER_NICE",
        "worker_nice",
        "10",
        "CPU priority `bridge worker` (and `bridge serve`'s worker process on SQLite) lowers "
        "itself by at start (0 to 19, as `nice`): on cores it shares with the web tier, webhooks "
        "(a sender waits for each 2xx) go first and the worker catches up after. 0 keeps the "
        "priority it was started with.",
    ),
    Spec(
        "BRIDGE_LOG_LEVEL",
        "log_level",
        "INFO",
        "DEBUG, INFO, WARNING or ERROR, for bridge's own log; other libraries log at INFO at most "
        "(pyzabbix at WARNING), whatever this says.",
    ),
    Spec(
        "BRIDGE_DEBUG_LOGGERS",
        "debug_loggers",
        None,
        "Other libraries' loggers to log at DEBUG too, comma-separated (e.g. `urllib3,pyzabbix`). "
        "Their debug lines carry secrets: pyzabbix's the Zabbix password, urllib3's webhook URLs.",
    ),
    Spec(
        "BRIDGE_SESSION_IDLE",
        "session_idle",
        "2h",
        "A console sign-in ends after this long without a request.",
    ),
    Spec(
        "BRIDGE_SESSION_LIFETIME",
        "session_lifetime",
        "14h",
        "A console sign-in ends this long after it began, however active (a 12-hour shift fits).",
    ),
    Spec(
        "BRIDGE_SECURE_COOKIES",
        "secure_cookies",
        None,
        "Mark the session cookie Secure (browsers then send it over https only). Unset: when "
        "BRIDGE_BASE_URL is https.",
    ),
    Spec(
        "BRIDGE_LOGIN_MAX_FAILURES",
        "login_max_failures",
        "5",
        "Failed sign-ins of one account within BRIDGE_LOGIN_WINDOW before it is refused until they age out.",
    ),
    Spec(
        "BRIDGE_LOGIN_MAX_FAILURES_PER_ADDRESS",
        "login_max_failures_per_address",
        "20",
        "Failed sign-ins from one client address within BRIDGE_LOGIN_WINDOW before it is refused.",
    ),
    Spec(
        "BRIDGE_LOGIN_WINDOW",
        "login_window",
        "15m",
        "The window in which failed sign-ins count towards the limits above.",
    ),
)


MIN_SECRET_KEY = 32
"""BRIDGE_SECRET_KEY's shortest length: it signs links that act as a person."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str = "sqlite:///bridge.db"
    redis_url: str | None = None
    redis_timeout: float = 1.0
    sweep_grace: timedelta = timedelta(seconds=30)
    rules_dir: Path = Path("rules")
    rules_watch: timedelta = timedelta(seconds=2)
    alertmanager_token: str | None = None
    zabbix_token: str | None = None
    admin_token: str | None = None
    base_url: str | None = None
    timezone: str = "UTC"
    locale: str = "en"
    max_body_bytes: int = 5 * 1024 * 1024
    db_timeout: float = 5.0
    tick_seconds: float = 1.0
    worker_nice: int = 10
    log_level: str = "INFO"
    debug_loggers: tuple[str, ...] = ()
    zabbix_url: str | None = None
    zabbix_api_token: str | None = None
    zabbix_user: str | None = None
    zabbix_password: str | None = None
    zabbix_instance: str = "zabbix"
    zabbix_reconcile: timedelta = timedelta(minutes=5)
    zabbix_reconcile_grace: timedelta = timedelta(minutes=2)
    zabbix_ack_acknowledges: bool = True
    zabbix_mirror_comments: bool = False
    alertmanager_url: str | None = None
    alertmanager_reconcile: timedelta = timedelta(minutes=1)
    alertmanager_resolve_grace: timedelta = timedelta(minutes=5)
    zabbix_answer_tags: bool = True
    smtp_url: str | None = None
    smtp_from: str = "bridge@localhost"
    secret_key: str | None = None
    mail_link_lifetime: timedelta = timedelta(hours=24)
    mail_link_max_uses: int = 20
    telegram_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_updates: str = "poll"
    telegram_webhook_secret: str | None = None
    telegram_poll_seconds: int = 25
    telegram_presses_per_minute: int = 10
    telegram_link_ttl: timedelta = timedelta(minutes=10)
    templates_dir: Path | None = None
    session_idle: timedelta = timedelta(hours=2)
    session_lifetime: timedelta = timedelta(hours=14)
    secure_cookies: bool | None = None
    login_max_failures: int = 5
    login_max_failures_per_address: int = 20
    login_window: timedelta = timedelta(minutes=15)
    retain_intake: timedelta = timedelta(days=30)
    retain_alerts: timedelta = timedelta(days=90)
    retain_delivered: timedelta = timedelta(days=90)
    prune_every: timedelta = timedelta(minutes=10)
    prune_budget: timedelta = timedelta(seconds=20)
    prune_batch: int = 500
    imap_url: str | None = None
    imap_allow_plain: bool = False
    imap_folder: str = "INBOX"
    imap_processed_folder: str = "bridge/processed"
    imap_refused_folder: str = "bridge/refused"
    imap_poll: timedelta = timedelta(minutes=1)
    mail_authserv_id: str | None = None
    mail_trust_from: bool = False
    mail_unknown_sender: str = "register"
    mail_request_words: tuple[str, ...] = ("request", "access", "account", "password", "install")
    mail_max_bytes: int = 25 * 1024 * 1024
    mail_attachment_max_bytes: int = 5 * 1024 * 1024
    mail_attachments_dir: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read BRIDGE_* variables; raises ConfigError naming every bad one."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        for spec in SPECS:
            raw = environ.get(spec.env)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[spec.attr] = _PARSERS.get(spec.attr, _text)(raw.strip())
            except ValueError as exc:
                shown = redacted(raw) if spec.secret else repr(raw)
                problems.append(f"{spec.env}={shown}: {exc}")
        if problems:
            raise ConfigError("bad configuration:\n  " + "\n  ".join(problems))
        settings = cls(**values)
        settings.check()
        return settings

    def with_overrides(self, **changes: Any) -> Settings:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise TypeError(f"unknown settings: {sorted(unknown)}")
        return type(self)(**{**{f.name: getattr(self, f.name) for f in fields(self)}, **changes})

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def cookies_secure(self) -> bool:
        """The session cookie is Secure: as set, else when bridge is reached over https."""
        if self.secure_cookies is not None:
            return self.secure_cookies
        return bool(self.base_url and self.base_url.startswith("https://"))

    @property
    def mail_links(self) -> bool:
        """Notification mails carry signed Acknowledge/Escalate links: a public base URL, a key to
        sign them with and a lifetime are all set."""
        return bool(self.base_url and self.secret_key and self.mail_link_lifetime > timedelta(0))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def zabbix_enabled(self) -> bool:
        return bool(
            self.zabbix_url and (self.zabbix_api_token or (self.zabbix_user and self.zabbix_password))
        )

    def check(self) -> None:
        """Cross-setting checks that single values cannot express."""
        if self.zabbix_url and not self.zabbix_enabled:
            raise ConfigError(
                "BRIDGE_ZABBIX_URL needs BRIDGE_ZABBIX_API_TOKEN, or BRIDGE_ZABBIX_USER and "
                "BRIDGE_ZABBIX_PASSWORD"
            )
        if self.imap_url:
            self._check_mail()
        if self.telegram_token and self.telegram_updates == "webhook":
            if not (self.base_url and self.base_url.startswith("https://")):
                raise ConfigError("BRIDGE_TELEGRAM_UPDATES=webhook needs a public https BRIDGE_BASE_URL")
            if not self.telegram_webhook_secret:
                raise ConfigError("BRIDGE_TELEGRAM_UPDATES=webhook needs BRIDGE_TELEGRAM_WEBHOOK_SECRET")

    @property
    def telegram_polls(self) -> bool:
        """The bot long-polls getUpdates for presses, codes and replies."""
        return bool(self.telegram_token) and self.telegram_updates == "poll"

    def _check_mail(self) -> None:
        """The mail intake answers by mail and must know whom to believe."""
        assert self.imap_url is not None
        if not self.smtp_url:
            raise ConfigError(
                "BRIDGE_IMAP_URL needs BRIDGE_SMTP_URL: the intake answers every request by mail"
            )
        if not self.mail_authserv_id and not self.mail_trust_from:
            raise ConfigError(
                "BRIDGE_IMAP_URL needs BRIDGE_MAIL_AUTHSERV_ID (whose Authentication-Results vouch for "
                "a sender) or, knowingly, BRIDGE_MAIL_TRUST_FROM=true"
            )
        parts = urlsplit(self.imap_url)
        plain = parts.scheme == "imap" and "starttls=true" not in parts.query.lower()
        if plain and not (self.imap_allow_plain and _loopback(parts.hostname or "")):
            raise ConfigError(
                "BRIDGE_IMAP_URL is plain IMAP: use imaps:// or ?starttls=true (plain only with "
                "BRIDGE_IMAP_ALLOW_PLAIN=true and a server on a loopback address)"
            )


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """BRIDGE_* variables bridge does not know, each with a did-you-mean: typos fail silently otherwise."""
    environ = os.environ if environ is None else environ
    known = [s.env for s in SPECS]
    ignored = {"BRIDGE_TEST_DATABASE_URL", "BRIDGE_TEST_REDIS_URL"}
    messages = []
    for name in sorted(environ):
        if name.startswith("BRIDGE_") and name not in known and name not in ignored:
            hint = difflib.get_close_matches(name, known, n=1)
            messages.append(f"unknown setting {name}" + (f" (did you mean {hint[0]}?)" if hint else ""))
    return messages


def redacted(raw: str) -> str:
    """A secret's value fit for a message or `bridge config`: a URL with its password masked
    (``http://user:***@host``), anything else hidden."""
    if "://" not in raw:
        return "(hidden)"
    try:
        parts = urlsplit(raw)
    except ValueError:  # e.g. an unclosed IPv6 bracket: not worth showing, maybe worth hiding
        return "(hidden)"
    if parts.password is None:
        return repr(raw)
    userinfo, _, host = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return repr(parts._replace(netloc=f"{user}:***@{host}").geturl())


def without_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """`url` without its ``user:password@``, and them (decoded) for HTTP Basic auth: a peer's URL
    then reaches error texts and logs (requests names the URL of a failed call) without them."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    return parts._replace(netloc=host).geturl(), (user, password)


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIETER = {"pyzabbix": logging.WARNING}
"""Libraries kept above INFO: pyzabbix's INFO line prints its endpoint, the Zabbix URL with any
user:password in it."""


def configure_logging(settings: Settings) -> None:
    """Log to stderr: bridge's own loggers at BRIDGE_LOG_LEVEL, every other library at INFO at
    most verbose (DEBUG only for the BRIDGE_DEBUG_LOGGERS named): their debug lines carry secrets,
    pyzabbix's the Zabbix password, urllib3's the path of each URL it calls (a person's webhook)."""
    level = logging.getLevelNamesMapping()[settings.log_level]
    logging.basicConfig(format=LOG_FORMAT, stream=sys.stderr)
    logging.getLogger().setLevel(max(level, logging.INFO))
    logging.getLogger("bridge").setLevel(level)
    for name, floor in QUIETER.items():
        logging.getLogger(name).setLevel(max(level, floor))
    for name in settings.debug_loggers:
        logging.getLogger(name).setLevel(logging.DEBUG)


def normalize_database_url(url: str) -> str:
    """Accept plain ``postgresql://`` / ``postgres://`` URLs and use the psycopg 3 driver for them."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _text(raw: str) -> str:
    return raw


def _database_url(raw: str) -> str:
    url = normalize_database_url(raw)
    if not (url.startswith("sqlite://") or url.startswith("postgresql+")):
        raise ValueError("must be a sqlite:/// or postgresql:// URL")
    return url


def _http_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL")
    return raw.rstrip("/")


def _imap_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname or not parts.username:
        raise ValueError("must be imaps://user:pass@host[:993] or imap://user:pass@host[:143]?starttls=true")
    return raw


def _loopback(host: str) -> bool:
    return host in ("localhost", "::1") or host.startswith("127.")


def _folder(raw: str) -> str:
    if not raw.isascii() or not raw.isprintable() or '"' in raw or "\\" in raw:
        raise ValueError("a folder name of printable ASCII, without quotes or backslashes")
    return raw


def _unknown_sender(raw: str) -> str:
    if raw not in ("register", "reply"):
        raise ValueError("must be register or reply")
    return raw


def _telegram_updates(raw: str) -> str:
    if raw not in ("poll", "webhook", "off"):
        raise ValueError("must be poll, webhook or off")
    return raw


def _webhook_secret(raw: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", raw):  # what setWebhook's secret_token allows
        raise ValueError("1 to 256 of A-Z, a-z, 0-9, _ and -")
    return raw


def _poll_seconds(raw: str) -> int:
    value = _positive_int(raw)
    if value > 50:  # Telegram answers a longer timeout after 50 s anyway; a lease must outlast it
        raise ValueError("at most 50")
    return value


def _words(raw: str) -> tuple[str, ...]:
    return tuple(word.strip().lower() for word in raw.split(",") if word.strip())


def _redis_url(raw: str) -> str:
    if urlsplit(raw).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return raw


def _timezone(raw: str) -> str:
    try:
        ZoneInfo(raw)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("not a known IANA time zone (e.g. Europe/Moscow, UTC)") from None
    return raw


def _locale(raw: str) -> str:
    if raw not in ("en", "ru"):
        raise ValueError("must be en or ru")
    return raw


def _smtp_url(raw: str) -> str:
    parts = urlsplit(raw)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError("must be smtp://[user:pass@]host[:port][?starttls=true] or smtps://...")
    return raw


def _email(raw: str) -> str:
    if "@" not in raw or " " in raw:
        raise ValueError("must be an e-mail address")
    return raw


def _directory(raw: str) -> Path:
    path = Path(raw)
    if not path.is_dir():
        raise ValueError("no such directory")
    return path


def _positive_int(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("must be a whole number") from None
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _niceness(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError("must be a whole number from 0 to 19") from None
    if not 0 <= value <= 19:
        raise ValueError("must be a whole number from 0 to 19")
    return value


def _positive_float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("must be a number") from None
    if value <= 0:
        raise ValueError("must be greater than 0")
    return value


def _duration(raw: str) -> timedelta:
    return parse_duration(raw)


def _secret_key(raw: str) -> str:
    if len(raw) < MIN_SECRET_KEY:
        raise ValueError(f"at least {MIN_SECRET_KEY} characters (e.g. `openssl rand -hex 32`)")
    return raw


def _positive_duration(raw: str) -> timedelta:
    value = parse_duration(raw)
    if value <= timedelta(0):
        raise ValueError("must be longer than 0")
    return value


def _boolean(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def _log_level(raw: str) -> str:
    level = raw.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
    return level


def _logger_names(raw: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in raw.split(",") if name.strip())
    for name in names:
        if not re.fullmatch(r"[A-Za-z_][\w.]*", name):
            raise ValueError(f"{name!r} is not a logger name (e.g. urllib3, pyzabbix)")
    return names


_PARSERS: dict[str, Callable[[str], Any]] = {
    "database_url": _database_url,
    "redis_url": _redis_url,
    "redis_timeout": _positive_float,
    "sweep_grace": _positive_duration,
    "rules_dir": Path,
    "rules_watch": _duration,
    "base_url": _http_url,
    "timezone": _timezone,
    "locale": _locale,
    "max_body_bytes": _positive_int,
    "db_timeout": _positive_float,
    "tick_seconds": _positive_float,
    "worker_nice": _niceness,
    "log_level": _log_level,
    "debug_loggers": _logger_names,
    "zabbix_url": _http_url,
    "alertmanager_url": _http_url,
    "zabbix_reconcile": _duration,
    "zabbix_reconcile_grace": _duration,
    "alertmanager_reconcile": _duration,
    "alertmanager_resolve_grace": _duration,
    "zabbix_answer_tags": _boolean,
    "zabbix_ack_acknowledges": _boolean,
    "zabbix_mirror_comments": _boolean,
    "smtp_url": _smtp_url,
    "smtp_from": _email,
    "secret_key": _secret_key,
    "mail_link_lifetime": _duration,
    "mail_link_max_uses": _positive_int,
    "telegram_api_url": _http_url,
    "telegram_updates": _telegram_updates,
    "telegram_webhook_secret": _webhook_secret,
    "telegram_poll_seconds": _poll_seconds,
    "telegram_presses_per_minute": _positive_int,
    "telegram_link_ttl": _positive_duration,
    "templates_dir": _directory,
    "session_idle": _positive_duration,
    "session_lifetime": _positive_duration,
    "secure_cookies": _boolean,
    "login_max_failures": _positive_int,
    "login_max_failures_per_address": _positive_int,
    "login_window": _positive_duration,
    "retain_intake": _duration,
    "retain_alerts": _duration,
    "retain_delivered": _duration,
    "prune_every": _duration,
    "prune_budget": _positive_duration,
    "prune_batch": _positive_int,
    "imap_url": _imap_url,
    "imap_allow_plain": _boolean,
    "imap_folder": _folder,
    "imap_processed_folder": _folder,
    "imap_refused_folder": _folder,
    "imap_poll": _positive_duration,
    "mail_trust_from": _boolean,
    "mail_unknown_sender": _unknown_sender,
    "mail_request_words": _words,
    "mail_max_bytes": _positive_int,
    "mail_attachment_max_bytes": _positive_int,
    "mail_attachments_dir": _directory,
}
