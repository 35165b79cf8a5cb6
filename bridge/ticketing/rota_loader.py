"""Read and validate `rota.yaml`, reporting every mistake as ``file:line: reason``.

The file names people, teams, calendars, clients, schedules, who owns new incidents, escalation
policies and SLA targets (see the example `rules/rota.yaml`). Every reference is checked (a
schedule naming an unknown person, a client with an unknown calendar...), with did-you-mean.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bridge.errors import RuleProblem, RulesError
from bridge.priority import Priority
from bridge.schedule.calendar import ServiceCalendar
from bridge.schedule.rotation import Override, Rotation, Schedule
from bridge.ticketing.rota import (
    AROUND_THE_CLOCK,
    DEFAULT_SLA,
    Client,
    EscalationPolicy,
    Line,
    Person,
    Role,
    Rota,
    SlaTarget,
    Step,
    Target,
    TargetKind,
    Team,
)
from bridge.ticketing.rota_contacts import CONTACTS_KEY, read_contacts
from bridge.ticketing.rota_fields import ALWAYS
from bridge.ticketing.rota_reports import ReportValues
from bridge.yamldoc import Path_, did_you_mean

ROTA_FILE = "rota.yaml"
TOP_KEYS = (
    "timezone",
    "people",
    "teams",
    "calendars",
    "default_calendar",
    "clients",
    "contacts",
    "schedules",
    "responsible",
    "escalation",
    "default_policy",
    "sla",
    "stale_after",
    "max_returns",
    "head_of_it",
    "reports",
)
PERSON_KEYS = ("name", "role", "email", "telegram", "telegram_id", "webhook", "line")
TEAM_KEYS = ("lead", "members")
CALENDAR_KEYS = ("timezone", "hours", "holidays")
CLIENT_KEYS = ("engineer", "calendar", "engineer_hours", "sla", "policy", "contact")
SCHEDULE_KEYS = ("layers", "overrides", "timezone")
LAYER_KEYS = ("name", "members", "handoff", "shift", "anchor", "windows", "dates", "holidays_of")
OVERRIDE_KEYS = ("person", "from", "until", "reason")
POLICY_KEYS = ("steps", "repeat", "ack_timeout")
STEP_KEYS = ("notify", "wait")
SLA_KEYS = ("ack", "resolve", "always")
HEAD_KEYS = ("notify_open_after", "notify_breaches")
DEFAULT_WAIT = timedelta(minutes=15)


def rota_path(rules_dir: Path) -> Path:
    return rules_dir / ROTA_FILE


def load_rota_file(path: Path, fallback_tz: ZoneInfo) -> Rota:
    """Load and validate a rota file; raises RulesError listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesError([RuleProblem(str(path), 0, f"cannot read: {exc}")]) from None
    return load_rota_text(str(path), text, fallback_tz)


def load_rota_text(file: str, text: str, fallback_tz: ZoneInfo) -> Rota:
    problems: list[RuleProblem] = []
    doc = RotaDocument(file, text, problems)
    rota = doc.build(fallback_tz)
    if problems or rota is None:
        raise RulesError(problems or [RuleProblem(file, 1, "the rota file is empty")])
    return rota


def empty_rota(tz: ZoneInfo) -> Rota:
    """The rota of a bridge without rota.yaml: nobody, one 24/7 calendar, a policy of no steps."""
    return Rota(
        tz=tz,
        people={},
        teams={},
        calendars={ALWAYS: ServiceCalendar(tz)},
        clients={},
        schedules={},
        responsible=(),
        policies={"default": EscalationPolicy("default", ())},
        default_policy="default",
        sla=dict(DEFAULT_SLA),
        default_calendar=ALWAYS,
        version="none",
    )


class RotaDocument(ReportValues):
    def build(self, fallback_tz: ZoneInfo) -> Rota | None:
        if self.root is None:
            return None
        if not isinstance(self.root, dict):
            self.problem((), "the rota must be a mapping with people:, schedules:, escalation: ...")
            return None
        root = self.root
        self.check_keys((), root, TOP_KEYS, "top-level key")
        tz = self.timezone(("timezone",), root.get("timezone"), fallback_tz)
        self._handles: tuple[str, ...] = ()
        self._schedule_names: tuple[str, ...] = ()
        people = self._people(root.get("people"))
        self._handles = tuple(people)
        teams = self._teams(root.get("teams"))
        calendars = self._calendars(root.get("calendars"), tz)
        default_calendar = self._ref(
            ("default_calendar",), root.get("default_calendar", ALWAYS), tuple(calendars), "calendar"
        )
        schedules = self._schedules(root.get("schedules"), tz, calendars)
        self._schedule_names = tuple(schedules)
        policies = self._policies(root.get("escalation"), schedules, teams)
        clients = self._clients(root.get("clients"), calendars, tuple(policies), default_calendar)
        responsible = self._targets(
            ("responsible",), root.get("responsible"), schedules, teams, allowed=_RESPONSIBLE_KINDS
        )
        if "responsible" not in root:
            responsible = (
                Target(TargetKind.ASSIGNED_ENGINEER),
                *(Target(TargetKind.SCHEDULE, name) for name in schedules),
            )
        default_policy, policies = self._default_policy(root, policies)
        sla = {**DEFAULT_SLA, **self._sla(("sla",), root.get("sla"))}
        open_after, breaches = self._head_of_it(root.get("head_of_it"))
        return Rota(
            tz=tz,
            people=people,
            teams=teams,
            calendars=calendars,
            clients=clients,
            schedules=schedules,
            responsible=responsible,
            policies=policies,
            default_policy=default_policy,
            sla=sla,
            default_calendar=default_calendar if default_calendar in calendars else ALWAYS,
            stale_after=self.duration(
                ("stale_after",), root.get("stale_after"), timedelta(days=30), positive=True
            ),
            max_returns=self.integer(("max_returns",), root.get("max_returns"), "max_returns", 0) or 2,
            head_notify_open_after=open_after,
            head_notify_breaches=breaches,
            reports=self._reports(root.get("reports")),
            version=hashlib.sha256(self.text.encode()).hexdigest()[:12],
            file=self.file,
            contacts=read_contacts(self, root.get(CONTACTS_KEY), tuple(clients)),
        )

    # -- sections -------------------------------------------------------------------------------

    def _default_policy(
        self, root: dict[str, Any], policies: dict[str, EscalationPolicy]
    ) -> tuple[str, dict[str, EscalationPolicy]]:
        """The policy an incident gets when no rule routes it (an empty one if the file names none)."""
        default_policy = str(root.get("default_policy", "default"))
        if default_policy in policies:
            return default_policy, policies
        if "default_policy" in root:
            self.problem(
                ("default_policy",),
                f"unknown escalation policy {default_policy!r}"
                + did_you_mean(default_policy, list(policies)),
            )
        elif policies:
            self.problem(
                ("escalation",),
                "name one policy `default`, or say which is `default_policy:`",
                at_key=True,
            )
        return default_policy, {**policies, default_policy: EscalationPolicy(default_policy, ())}

    def _head_of_it(self, value: Any) -> tuple[timedelta | None, frozenset[Priority]]:
        """When the head of IT hears of an incident still open (3d; "never"), and of which breaches."""
        head = self.mapping(("head_of_it",), value, "head_of_it") or {}
        self.check_keys(("head_of_it",), head, HEAD_KEYS, "head_of_it key")
        open_after = (
            self.duration(
                ("head_of_it", "notify_open_after"), head.get("notify_open_after"), None, positive=True
            )
            if head.get("notify_open_after") not in (None, "never")
            else None
        )
        if "notify_open_after" not in head:
            open_after = timedelta(days=3)
        breaches = self._priorities(("head_of_it", "notify_breaches"), head.get("notify_breaches"))
        return open_after, frozenset({Priority.P1, Priority.P2}) if breaches is None else frozenset(breaches)

    def _people(self, value: Any) -> dict[str, Person]:
        people: dict[str, Person] = {}
        linked: dict[int, str] = {}  # Telegram account -> the person it already belongs to
        for handle, item, path in self._named(("people",), value, "people"):
            if not isinstance(item, dict):
                self.problem(path, "a person is a mapping: {name: ..., role: ..., email: ...}")
                continue
            self.check_keys(path, item, PERSON_KEYS, "person key")
            role = self._enum((*path, "role"), item.get("role"), Role, "role")
            if "role" not in item:
                self.problem(path, f"person {handle!r} needs a `role:` ({', '.join(r.value for r in Role)})")
            line = self._enum((*path, "line"), item.get("line"), Line, "line") if "line" in item else None
            email = self.string((*path, "email"), item.get("email"), "email")
            if email is not None and not re.fullmatch(r"[^@\s]+@[^@\s]+", email):
                self.problem((*path, "email"), f"{email!r} is not an e-mail address")
            webhook = self.string((*path, "webhook"), item.get("webhook"), "webhook")
            if webhook is not None and not webhook.startswith(("http://", "https://")):
                self.problem((*path, "webhook"), "a webhook is an http:// or https:// URL")
            telegram_id = self._telegram_id((*path, "telegram_id"), item.get("telegram_id"))
            if telegram_id is not None and telegram_id in linked:
                self.problem(
                    (*path, "telegram_id"),
                    f"Telegram account {telegram_id} is already {linked[telegram_id]}'s",
                )
            elif telegram_id is not None:
                linked[telegram_id] = handle
            people[handle] = Person(
                handle=handle,
                name=self.string((*path, "name"), item.get("name"), "name") or handle,
                role=role or Role.ENGINEER,
                email=email,
                telegram=self.string((*path, "telegram"), item.get("telegram"), "telegram chat id"),
                webhook=webhook,
                line=line,
                telegram_id=telegram_id,
            )
        return people

    def _telegram_id(self, path: tuple[object, ...], value: Any) -> int | None:
        """A Telegram account's user id: a whole number (quoted or not), as the bot sees it."""
        if isinstance(value, str) and re.fullmatch(r"[1-9][0-9]{0,18}", value):
            value = int(value)
        return self.integer(path, value, "telegram_id (the Telegram account's numeric user id)", 1)

    def _teams(self, value: Any) -> dict[str, Team]:
        teams: dict[str, Team] = {}
        for name, item, path in self._named(("teams",), value, "teams"):
            if not isinstance(item, dict):
                self.problem(path, "a team is a mapping: {lead: handle, members: [handles]}")
                continue
            self.check_keys(path, item, TEAM_KEYS, "team key")
            members = self._handle_list((*path, "members"), item.get("members"))
            lead = self._person_ref((*path, "lead"), item.get("lead")) if "lead" in item else None
            teams[name] = Team(name, tuple(members), lead)
        return teams

    def _calendars(self, value: Any, tz: ZoneInfo) -> dict[str, ServiceCalendar]:
        calendars = {ALWAYS: ServiceCalendar(tz)}
        for name, item, path in self._named(("calendars",), value, "calendars"):
            if not isinstance(item, dict):
                self.problem(path, "a calendar is a mapping: {hours: [mon-fri 09:00-18:00], holidays: [...]}")
                continue
            self.check_keys(path, item, CALENDAR_KEYS, "calendar key")
            zone = self.timezone((*path, "timezone"), item.get("timezone"), tz)
            calendars[name] = ServiceCalendar(
                zone,
                self._windows((*path, "hours"), item.get("hours")),
                frozenset(self._dates((*path, "holidays"), item.get("holidays"))),
            )
        return calendars

    def _clients(
        self, value: Any, calendars: dict[str, ServiceCalendar], policies: tuple[str, ...], default: str
    ) -> dict[str, Client]:
        clients: dict[str, Client] = {}
        for name, item, path in self._named(("clients",), value, "clients"):
            if not isinstance(item, dict):
                self.problem(path, "a client is a mapping: {engineer: handle, calendar: name}")
                continue
            self.check_keys(path, item, CLIENT_KEYS, "client key")
            engineer, engineer_schedule = self._engineer((*path, "engineer"), item.get("engineer"))
            calendar = self._ref(
                (*path, "calendar"), item.get("calendar", default), tuple(calendars), "calendar"
            )
            # The engineer's working hours: the client's calendar, unless that is around the clock.
            hours = (
                self._ref((*path, "engineer_hours"), item["engineer_hours"], tuple(calendars), "calendar")
                if "engineer_hours" in item
                else (default if calendar == ALWAYS else calendar)
            )
            policy = (
                self._ref((*path, "policy"), item.get("policy"), policies, "escalation policy")
                if "policy" in item
                else None
            )
            clients[name] = Client(
                name=name,
                engineer=engineer,
                calendar=calendars.get(calendar, calendars[ALWAYS]),
                calendar_name=calendar,
                sla=self._sla((*path, "sla"), item.get("sla")),
                policy=policy if policy in policies else None,
                engineer_schedule=engineer_schedule,
                engineer_hours=calendars.get(hours),
                contact=self._contact((*path, "contact"), item.get("contact")),
            )
        return clients

    def _engineer(self, path: Path_, value: Any) -> tuple[str | None, str | None]:
        """A handle, or {schedule: name} for engineers who take turns."""
        if value is None:
            return None, None
        if isinstance(value, dict) and list(value) == ["schedule"]:
            name = self._ref((*path, "schedule"), value["schedule"], self._schedule_names, "schedule")
            return None, name if name in self._schedule_names else None
        return self._person_ref(path, value), None

    def _schedules(
        self, value: Any, tz: ZoneInfo, calendars: dict[str, ServiceCalendar]
    ) -> dict[str, Schedule]:
        schedules: dict[str, Schedule] = {}
        for name, item, path in self._named(("schedules",), value, "schedules"):
            if not isinstance(item, dict):
                self.problem(
                    path, "a schedule is a mapping: a rotation (members:, handoff:, shift:) or layers:"
                )
                continue
            zone = self.timezone((*path, "timezone"), item.get("timezone"), tz)
            if "layers" in item:
                self.check_keys(path, item, SCHEDULE_KEYS, "schedule key")
                layers_value = item["layers"]
                if not isinstance(layers_value, list) or not layers_value:
                    self.problem((*path, "layers"), "layers must be a list of rotations")
                    continue
                layers = [
                    self._layer((*path, "layers", i), layer, zone, calendars, f"{name}-{i + 1}")
                    for i, layer in enumerate(layers_value)
                ]
            else:
                self.check_keys(path, item, (*LAYER_KEYS, "overrides", "timezone"), "schedule key")
                layers = [self._layer(path, item, zone, calendars, name)]
            overrides = self._overrides((*path, "overrides"), item.get("overrides"), zone)
            schedules[name] = Schedule(name, tuple(layer for layer in layers if layer is not None), overrides)
        return schedules

    def _layer(
        self, path: Path_, item: Any, tz: ZoneInfo, calendars: dict[str, ServiceCalendar], fallback_name: str
    ) -> Rotation | None:
        if not isinstance(item, dict):
            self.problem(path, "a rotation is a mapping: {members: [...], handoff: '09:00', shift: daily}")
            return None
        if path[-2:-1] == ("layers",):
            self.check_keys(path, item, LAYER_KEYS, "layer key")
        name = str(item.get("name") or fallback_name)
        members = self._handle_list((*path, "members"), item.get("members"))
        if not members:
            self.problem(
                path if "members" not in item else (*path, "members"),
                "a rotation needs `members:` (at least one handle)",
            )
        handoff = self._time((*path, "handoff"), item.get("handoff", "09:00"))
        shift = self._shift((*path, "shift"), item.get("shift", "daily"))
        anchor = self._date((*path, "anchor"), item.get("anchor", "2026-01-05"))
        windows = self._windows((*path, "windows"), item.get("windows"))
        dates = set(self._dates((*path, "dates"), item.get("dates")))
        if "holidays_of" in item:
            calendar = self._ref((*path, "holidays_of"), item["holidays_of"], tuple(calendars), "calendar")
            if calendar in calendars:
                dates |= calendars[calendar].holidays
        if not members or handoff is None or shift is None or anchor is None:
            return None
        try:
            return Rotation(
                name, tuple(members), handoff, shift, anchor, windows, tz=tz, dates=frozenset(dates)
            )
        except ValueError as exc:
            self.problem(path, str(exc))
            return None

    def _overrides(self, path: Path_, value: Any, tz: ZoneInfo) -> tuple[Override, ...]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.problem(path, "overrides must be a list of {person:, from:, until:, reason:}")
            return ()
        result = []
        for i, item in enumerate(value):
            where = (*path, i)
            if not isinstance(item, dict):
                self.problem(where, "an override is a mapping {person:, from:, until:, reason:}")
                continue
            self.check_keys(where, item, OVERRIDE_KEYS, "override key")
            person = self._person_ref((*where, "person"), item.get("person"))
            start = self.instant((*where, "from"), item.get("from"), tz)
            end = self.instant((*where, "until"), item.get("until"), tz)
            if start is None or end is None:
                if "from" not in item or "until" not in item:
                    self.problem(where, "an override needs `from:` and `until:`")
                continue
            if end <= start:
                self.problem((*where, "until"), "`until` must be after `from`")
                continue
            reason = self.string((*where, "reason"), item.get("reason"), "reason")
            if person is not None:
                result.append(Override(person, _utc(start), _utc(end), reason))
        return tuple(result)

    def _policies(
        self, value: Any, schedules: dict[str, Schedule], teams: dict[str, Team]
    ) -> dict[str, EscalationPolicy]:
        policies: dict[str, EscalationPolicy] = {}
        for name, item, path in self._named(("escalation",), value, "escalation policies"):
            if not isinstance(item, dict):
                self.problem(path, "a policy is a mapping: {steps: [...], repeat: 2, ack_timeout: 1h}")
                continue
            self.check_keys(path, item, POLICY_KEYS, "policy key")
            steps_value = item.get("steps")
            steps: list[Step] = []
            if not isinstance(steps_value, list) or not steps_value:
                self.problem(
                    path if "steps" not in item else (*path, "steps"),
                    "a policy needs `steps:` (a list of {notify:, wait:})",
                )
            else:
                for i, step in enumerate(steps_value):
                    where = (*path, "steps", i)
                    if not isinstance(step, dict) or "notify" not in step:
                        self.problem(where, "a step is a mapping {notify: ..., wait: 15m}")
                        continue
                    self.check_keys(where, step, STEP_KEYS, "step key")
                    targets = self._targets(
                        (*where, "notify"), step["notify"], schedules, teams, allowed=tuple(TargetKind)
                    )
                    wait = self.duration((*where, "wait"), step.get("wait"), DEFAULT_WAIT, positive=True)
                    steps.append(Step(targets, wait))
            repeat = self.integer((*path, "repeat"), item.get("repeat"), "repeat", 1) or 1
            ack_timeout = self.duration((*path, "ack_timeout"), item.get("ack_timeout"), None, positive=True)
            policies[name] = EscalationPolicy(name, tuple(steps), repeat, ack_timeout)
        return policies

    def _targets(
        self,
        path: Path_,
        value: Any,
        schedules: dict[str, Schedule],
        teams: dict[str, Team],
        allowed: tuple[TargetKind, ...],
    ) -> tuple[Target, ...]:
        if value is None:
            return ()
        items = value if isinstance(value, list) else [value]
        targets: list[Target] = []
        words = tuple(k.value for k in allowed)
        for i, item in enumerate(items):
            where = (*path, i) if isinstance(value, list) else path
            if isinstance(item, str):
                if (
                    item in (TargetKind.RESPONSIBLE.value, TargetKind.ASSIGNED_ENGINEER.value)
                    and TargetKind(item) in allowed
                ):
                    targets.append(Target(TargetKind(item)))
                else:
                    self.problem(
                        where,
                        f"unknown target {item!r}; one of responsible, assigned_engineer, or "
                        f"{{schedule|person|team|role: name}}{did_you_mean(item, words)}",
                    )
                continue
            if not isinstance(item, dict) or len(item) != 1:
                self.problem(
                    where,
                    "a target is responsible, assigned_engineer, or one of {schedule: name}, "
                    "{person: handle}, {team: name}, {role: team_lead}",
                )
                continue
            ((kind_text, name),) = item.items()
            if kind_text not in words or kind_text in (
                TargetKind.RESPONSIBLE.value,
                TargetKind.ASSIGNED_ENGINEER.value,
            ):
                self.problem(
                    (*where, kind_text),
                    f"unknown target kind {kind_text!r}{did_you_mean(kind_text, words)}",
                    at_key=True,
                )
                continue
            kind = TargetKind(kind_text)
            name = str(name)
            choices: tuple[str, ...] = {
                TargetKind.SCHEDULE: tuple(schedules),
                TargetKind.PERSON: self._handles,
                TargetKind.TEAM: tuple(teams),
                TargetKind.ROLE: tuple(r.value for r in Role),
            }[kind]
            if name not in choices:
                self.problem(
                    (*where, kind_text), f"unknown {kind_text} {name!r}{did_you_mean(name, list(choices))}"
                )
                continue
            targets.append(Target(kind, name))
        return tuple(targets)

    def _sla(self, path: Path_, value: Any) -> dict[Priority, SlaTarget]:
        found: dict[Priority, SlaTarget] = {}
        for key, item, where in self._named(path, value, "SLA targets"):
            try:
                priority = Priority(key.upper())
            except ValueError:
                self.problem(where, f"SLA targets are per priority P1..P5, not {key!r}", at_key=True)
                continue
            if not isinstance(item, dict):
                self.problem(where, "SLA targets are {ack: 15m, resolve: 4h} (or none, or N business days)")
                continue
            self.check_keys(where, item, SLA_KEYS, "SLA key")
            found[priority] = SlaTarget(
                self._sla_time((*where, "ack"), item.get("ack")),
                self._sla_time((*where, "resolve"), item.get("resolve")),
                self.boolean((*where, "always"), item.get("always"), priority in AROUND_THE_CLOCK),
            )
        return found


_RESPONSIBLE_KINDS = (TargetKind.ASSIGNED_ENGINEER, TargetKind.SCHEDULE, TargetKind.PERSON, TargetKind.ROLE)


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)
