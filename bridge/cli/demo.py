"""`bridge demo`: a realistic storm built from the real captured payloads in tests/fixtures,
moved to the present, posted to a running bridge; then what bridge made of it."""

from __future__ import annotations

import copy
import json
import secrets
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import requests

from bridge.cli.address import DEFAULT_HOST, DEFAULT_PORT, recorded_address
from bridge.cli.context import command_services
from bridge.cli.options import actor_option, load_settings
from bridge.db.migrate import sqlite_file
from bridge.db.models import Scope
from bridge.errors import BridgeError

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"
ZERO_TIME = "0001-01-01T00:00:00Z"
TEMPORARY = timedelta(hours=1)
"""How long the tokens the demo mints itself stay valid."""


def _fixture(path: str) -> dict[str, Any]:
    file = FIXTURES / path
    if not file.exists():
        raise BridgeError(f"sample payloads not found at {FIXTURES}: run the demo from a bridge checkout")
    body = json.loads(file.read_text())["body_json"]
    assert isinstance(body, dict)
    return body


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alertmanager_storm(now: datetime) -> list[dict[str, Any]]:
    """Notifications as Alertmanager would send them during a bad few minutes."""
    bodies = []
    cpu = _fixture("alertmanager/01-firing-single.json")
    for alert in cpu["alerts"]:
        alert["startsAt"] = _stamp(now - timedelta(minutes=3))
    bodies += [cpu, copy.deepcopy(cpu)]  # the second is Alertmanager's repeat: a duplicate
    disks = _fixture("alertmanager/03-firing-grouped.json")
    for alert in disks["alerts"]:
        alert["startsAt"] = _stamp(now - timedelta(minutes=2))
    bodies.append(disks)
    info = _fixture("alertmanager/09-prometheus-up-firing.json")
    info["alerts"][0]["startsAt"] = _stamp(now - timedelta(minutes=1))
    bodies.append(info)
    # A top-of-rack switch dies: eight hosts behind it stop answering at once.
    down = _fixture("alertmanager/01-firing-single.json")
    template = down["alerts"][0]
    down["alerts"] = []
    for n in range(1, 9):
        alert = copy.deepcopy(template)
        host = f"rack-b-{n:02d}"
        alert["labels"] = {
            "alertname": "HostDown",
            "instance": f"{host}:9100",
            "job": "node",
            "severity": "critical",
        }
        alert["annotations"] = {
            "summary": f"{host} does not answer",
            "description": "node_exporter scrape failed",
        }
        alert["fingerprint"] = secrets.token_hex(8)
        alert["startsAt"] = _stamp(now - timedelta(seconds=40))
        down["alerts"].append(alert)
    down["groupLabels"] = {"alertname": "HostDown"}
    bodies.append(down)
    # A flapping check: fires, resolves, fires again.
    flap_on = _fixture("alertmanager/10-prometheus-flapping-firing.json")
    flap_off = _fixture("alertmanager/11-prometheus-flapping-resolved.json")
    for offset, body in ((5, flap_on), (4, flap_off)):
        body["alerts"][0]["startsAt"] = _stamp(now - timedelta(minutes=offset))
    flap_off["alerts"][0]["endsAt"] = _stamp(now - timedelta(minutes=3, seconds=30))
    again = copy.deepcopy(flap_on)
    again["alerts"][0]["startsAt"] = _stamp(now - timedelta(minutes=1))
    bodies += [flap_on, flap_off, again]
    for body in bodies:
        for alert in body["alerts"]:
            alert.setdefault("endsAt", ZERO_TIME)
    return bodies


def zabbix_storm(now: datetime) -> list[dict[str, Any]]:
    """A Zabbix problem that an operator acknowledges and that then recovers, and a second one."""
    base = int(now.timestamp())
    first_id, second_id = str(base * 10), str(base * 10 + 2)
    bodies = []
    for name, event_id, started, recovery_id, offset in (
        ("zabbix/01-problem.json", first_id, 240, None, 240),
        ("zabbix/02-update-ack-message.json", first_id, 240, None, 180),
        ("zabbix/05-recovery.json", first_id, 240, str(base * 10 + 1), 60),
        ("zabbix/06-problem-second.json", second_id, 30, None, 30),
    ):
        body = _fixture(name)
        event = body["event"]
        event["id"] = event_id
        event["timestamp"] = str(base - started)
        if recovery_id:
            event["recovery"] = {"id": recovery_id, "timestamp": str(base - offset)}
        if body["kind"] == "update":
            body["update"]["timestamp"] = str(base - offset)
        body["external_ref"] = None
        bodies.append(body)
    return bodies


def find_bridge(candidates: Sequence[str]) -> str:
    """The first of `candidates` (URLs) where a bridge answers its health check."""
    for url in candidates:
        try:
            if requests.get(f"{url}/healthz", timeout=5).ok:
                return url
        except requests.RequestException:
            continue
    raise BridgeError(
        f"no bridge answers at {' or '.join(candidates)}: start `bridge serve`, or give --url "
        "(where it listens)"
    )


def candidates(url: str | None, database_url: str, base_url: str | None) -> list[str]:
    """Where to look for the bridge to send the demo to: `url` when given; else where the
    `bridge serve` of the database recorded it listens, and BRIDGE_BASE_URL; else serve's
    default address."""
    if url:
        return [url.rstrip("/")]
    serving = recorded_address(database_url)
    known = [u.rstrip("/") for u in (serving.url if serving else None, base_url) if u]
    return list(dict.fromkeys(known)) or [f"http://{DEFAULT_HOST}:{DEFAULT_PORT}"]


def check_admin_token(url: str, token: str, minted_in: str | None) -> None:
    """The bridge at `url` takes `token` (minted in the database `minted_in` names, if minted)."""
    try:
        answer = requests.get(
            f"{url}/api/intake",
            params={"limit": "1"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
    except requests.RequestException as exc:
        raise BridgeError(f"bridge does not answer at {url}: {exc.__class__.__name__}") from None
    if answer.status_code == 401 and minted_in:
        raise BridgeError(
            f"the bridge at {url} does not know the tokens minted in {minted_in}: run the demo with the "
            "database that bridge uses (BRIDGE_DATABASE_URL), or give its tokens"
        )
    if answer.status_code == 401:
        raise BridgeError(f"the bridge at {url} refuses the admin token")
    if not answer.ok:
        raise BridgeError(f"the bridge at {url} answers {answer.status_code} to its API")


def run_demo(
    url: str,
    tokens: dict[str, str],
    wait: float,
    echo: Callable[[str], None],
) -> None:
    """Send the storm to the bridge at `url` with `tokens` (by scope) and print what it made of it."""
    check_admin_token(url, tokens["admin"], None)
    now = datetime.now(UTC)
    answers: Counter[str] = Counter()
    sent_alerts = 0
    for source, bodies in (("alertmanager", alertmanager_storm(now)), ("zabbix", zabbix_storm(now))):
        for body in bodies:
            sent_alerts += len(body.get("alerts", [])) or 1
            response = _post(f"{url}/webhooks/{source}", tokens[source], body)
            answers[f"{source} {response.status_code}"] += 1
    echo(
        f"sent {sum(answers.values())} deliveries ({sent_alerts} alert events): "
        + ", ".join(f"{k}: {v}" for k, v in sorted(answers.items()))
    )
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        pending = requests.get(
            f"{url}/api/intake", params={"status": "pending", "limit": "1"}, headers=headers, timeout=10
        )
        pending.raise_for_status()
        if not pending.json()["items"]:
            break
        time.sleep(0.5)
    incidents = requests.get(
        f"{url}/api/incidents", params={"limit": "20"}, headers=headers, timeout=10
    ).json()
    alerts = requests.get(f"{url}/api/alerts", params={"limit": "200"}, headers=headers, timeout=10).json()
    echo(f"\nincidents ({incidents['total']} in all, newest first):")
    for item in incidents["items"]:
        echo(
            f"  #{item['number']:<5} {item['status']:<12} {item['priority']}  "
            f"{item['alert_count']:>3} alerts  {item['title']}"
        )
    echo("\nalerts and bridge's decision:")
    for decision, count in Counter(a["decision"] for a in alerts["items"]).most_common():
        echo(f"  {decision:<9} {count}")
    for item in alerts["items"]:
        if item["decision"] != "incident":
            echo(f"  - {item['name']} on {item['host'] or '?'}: {item['reason']}")


def _post(url: str, token: str, body: dict[str, Any]) -> requests.Response:
    return requests.post(
        url,
        data=json.dumps(body),
        timeout=10,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )


@click.command()
@click.option(
    "--url",
    help="Where bridge runs (default: where `bridge serve` on BRIDGE_DATABASE_URL listens, or "
    f"BRIDGE_BASE_URL, or http://{DEFAULT_HOST}:{DEFAULT_PORT}).",
)
@click.option("--alertmanager-token", envvar="BRIDGE_ALERTMANAGER_TOKEN", help="Default: a temporary one.")
@click.option("--zabbix-token", envvar="BRIDGE_ZABBIX_TOKEN", help="Default: a temporary one.")
@click.option("--admin-token", envvar="BRIDGE_ADMIN_TOKEN", help="Default: a temporary one.")
@click.option(
    "--wait", default=30.0, show_default=True, help="Seconds to wait for bridge to process the storm."
)
@actor_option
def demo(
    url: str | None,
    alertmanager_token: str | None,
    zabbix_token: str | None,
    admin_token: str | None,
    wait: float,
    actor: str,
) -> None:
    """Send a realistic storm of sample alerts to a running bridge and show what it made of them.

    Tokens not given are minted as temporary tokens (1 hour) in BRIDGE_DATABASE_URL, which must be
    the database of the bridge at URL.
    """
    settings = load_settings()
    given = {Scope.ALERTMANAGER: alertmanager_token, Scope.ZABBIX: zabbix_token, Scope.ADMIN: admin_token}
    try:
        found = find_bridge(candidates(url, settings.database_url, settings.base_url))
        tokens = {scope.value: token for scope, token in given.items() if token}
        if len(tokens) < len(given):
            with command_services(settings) as services:
                for scope, token in given.items():
                    tokens[scope.value] = token or services.tokens.issue_temporary(
                        scope, "demo", TEMPORARY, actor
                    )
                # Inside: a database this command created for tokens nobody takes is removed again.
                where = sqlite_file(settings.database_url) or "BRIDGE_DATABASE_URL"
                check_admin_token(found, tokens[Scope.ADMIN.value], str(where))
        run_demo(found, tokens, wait, click.echo)
    except BridgeError as exc:
        raise click.ClickException(str(exc)) from None
