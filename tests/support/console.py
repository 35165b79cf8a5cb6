"""A bridge for the console's tests: the example rota (people, clients, schedules), rules that
take the client from the `customer` label, users of every role, and helpers to open incidents."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from bridge.clock import FakeClock
from bridge.settings import Settings
from bridge.ticketing.roles import Role
from bridge.worker.runtime import Runtime
from tests.support.app import build_runtime, make_settings, write_rules
from tests.support.payloads import am_alert, am_notification
from tests.support.people import add_user

EXAMPLE_ROTA = Path(__file__).parents[2] / "rules" / "rota.yaml"
RULES = """
defaults:
  group_by: [source, host, name]
  resolve_after: 5m
  reopen_within: 1h
  priority: {critical: P1, high: P2, default: P3}
rules:
  - name: outage
    match: {name: HostDown}
    priority: P1
    client: {label: customer}
  - name: everything-else
    client: {label: customer}
maintenance:
  - name: db-night-work
    match: {host: db-03}
    from: "2026-11-22T10:00:00+03:00"   # 9 minutes after the tests' clock starts
    until: "2026-11-22T23:00:00+03:00"
"""

USERS = {
    "orlov": Role.OPERATOR,  # a rota handle: the timeline names him "Oleg Orlov"
    "belov": Role.ENGINEER,
    "chief": Role.ADMIN,
}
VIEWER = "bank-rep"
VIEWER_CLIENT = "bank"


def console_settings(database_url: str, directory: Path, **overrides: object) -> Settings:
    rules = write_rules(directory / "rules", RULES)
    shutil.copy(EXAMPLE_ROTA, rules / "rota.yaml")
    return make_settings(database_url, rules, timezone="Europe/Moscow", **overrides)


def console_runtime(settings: Settings, clock: FakeClock) -> Runtime:
    """A runtime with a user of every role (password: tests.support.people.PASSWORD)."""
    runtime = build_runtime(settings, clock)
    people = runtime.services.rota.rota.people
    for handle, role in USERS.items():
        add_user(runtime, handle, role, name=people[handle].name if handle in people else None)
    add_user(runtime, VIEWER, Role.VIEWER, client=VIEWER_CLIENT, name="Bank Representative")
    add_user(runtime, "ivanova", Role.OPERATOR, name="Анна Иванова", locale="ru")
    return runtime


def firing(
    name: str, *, host: str, customer: str, severity: str = "high", now: Any, **labels: str
) -> dict[str, Any]:
    """An Alertmanager notification of one firing alert for `customer`."""
    alert = am_alert(
        name,
        starts_at=now.isoformat(),
        instance=f"{host}:9100",
        severity=severity,
        customer=customer,
        **labels,
    )
    return am_notification(alert)
