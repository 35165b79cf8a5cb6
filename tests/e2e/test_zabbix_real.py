"""bridge with a real Zabbix 6.0 (Debian's packages), through contrib/zabbix's media type:
a trapper value opens a problem -> bridge opens an incident and Zabbix stores its number and
link as event tags; acknowledging in bridge acknowledges the problem in Zabbix; the recovery
resolves the incident; closing in bridge is written back as well."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from bridge.clock import SystemClock
from bridge.services.live import LiveRules
from bridge.web.app import create_app
from bridge.worker.runtime import Runtime
from tests.conftest import _truncate, unavailable
from tests.support.app import ADMIN_TOKEN, ZBX_TOKEN, make_settings, serving, write_rules
from tests.support.postgres import Unavailable, free_port
from tests.support.zabbix import ZabbixEnv, alerts, configure_webhook, packages_missing, zabbix_environment

pytestmark = pytest.mark.postgres

MEDIA_TYPE = Path(__file__).resolve().parents[2] / "contrib" / "zabbix" / "media_bridge.yaml"
INSTANCE = "zbx-e2e"
RULES = "defaults:\n  resolve_after: 0s\n  priority: {critical: P1, high: P2, default: P3}\nrules: []\n"


@pytest.fixture(scope="module")
def zabbix(postgres_server: str) -> Iterator[ZabbixEnv]:
    missing = packages_missing()
    if missing:
        unavailable(f"Zabbix test packages missing: {', '.join(missing)} (scripts/install-test-peers)")
    try:
        with zabbix_environment(postgres_server) as env:
            yield env
    except Unavailable as exc:
        unavailable(str(exc))


def admin(method: str, url: str, **kwargs: Any) -> requests.Response:
    response = requests.request(
        method, url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=10, **kwargs
    )
    assert response.status_code == 200, response.text
    return response


def test_a_zabbix_problem_round_trip(zabbix: ZabbixEnv, postgres_database: str, tmp_path: Path) -> None:
    _truncate(postgres_database)
    port = free_port()
    bridge = f"http://127.0.0.1:{port}"
    setup = configure_webhook(
        zabbix,
        MEDIA_TYPE,
        {
            "{$BRIDGE.URL}": f"{bridge}/webhooks/zabbix",
            "{$BRIDGE.TOKEN}": ZBX_TOKEN,
            "{$BRIDGE.INSTANCE}": INSTANCE,
            "{$ZABBIX.URL}": zabbix.url,
        },
    )
    # Write back as the media type's own user: Zabbix sends no update notification to the user
    # who made the update, so bridge's acknowledgement does not come back as an echo.
    settings = make_settings(postgres_database, write_rules(tmp_path / "rules", RULES)).with_overrides(
        tick_seconds=0.2,
        zabbix_url=zabbix.url,
        zabbix_user=setup.username,
        zabbix_password=setup.password,
        zabbix_instance=INSTANCE,
        zabbix_reconcile=timedelta(0),
    )
    runtime = Runtime.build(settings, SystemClock(), LiveRules(settings.rules_dir))
    server = serving(create_app(runtime=runtime), port)
    server.__enter__()
    runtime.runner.start()

    def problem() -> dict[str, Any]:
        found = zabbix.api.problem.get(
            objectids=[setup.triggerid],
            recent=True,
            selectTags="extend",
            selectAcknowledges="extend",
            output="extend",
        )
        return found[0] if found else {}

    def tags() -> dict[str, str]:
        return {t["tag"]: t["value"] for t in problem().get("tags", [])}

    def diagnose() -> str:
        return f"alerts: {alerts(zabbix, setup.actionid)}\nserver log:\n{zabbix.log_tail()}"

    try:
        zabbix.send_value(setup.host, setup.item_key, 95)
        incidents = zabbix.wait_for(
            lambda: admin("GET", f"{bridge}/api/incidents").json()["items"],
            60,
            "bridge incident\n" + diagnose(),
        )
        (incident,) = incidents
        assert (incident["title"], incident["priority"], incident["source"]) == (
            f"{setup.host} value is above 90",
            "P2",
            "zabbix",
        )
        number = incident["number"]
        assert (
            zabbix.wait_for(lambda: tags().get("__zbx_bridge_incident"), 30, "event tags") == f"INC-{number}"
        )
        assert tags()["__zbx_bridge_url"] == f"{bridge}/incidents/{number}"

        admin("POST", f"{bridge}/api/incidents/{number}/ack", json={"comment": "looking"})
        zabbix.wait_for(
            lambda: problem().get("acknowledged") == "1", 30, "acknowledged in Zabbix\n" + diagnose()
        )
        messages = [a["message"] for a in problem()["acknowledges"]]
        assert f"Acknowledged in bridge incident {number} by admin: looking" in messages
        detail = admin("GET", f"{bridge}/api/incidents/{number}").json()
        assert detail["status"] == "acknowledged"
        assert any(e["text"].startswith("acknowledged in Zabbix: problem") for e in detail["timeline"])

        zabbix.send_value(setup.host, setup.item_key, 10)
        zabbix.wait_for(
            lambda: admin("GET", f"{bridge}/api/incidents/{number}").json()["status"] == "resolved",
            60,
            "incident resolved\n" + diagnose(),
        )
        detail = admin("GET", f"{bridge}/api/incidents/{number}").json()
        assert [a["status"] for a in detail["alerts"]] == ["resolved"]
        failed = admin("GET", f"{bridge}/api/intake", params={"status": "failed"}).json()["items"]
        assert failed == []
        # The problem comes back; closing the incident in bridge closes it in Zabbix (the trigger allows it).
        zabbix.send_value(setup.host, setup.item_key, 97)
        zabbix.wait_for(
            lambda: admin("GET", f"{bridge}/api/incidents/{number}").json()["status"] == "open",
            60,
            "incident reopened\n" + diagnose(),
        )

        def open_problem() -> dict[str, Any] | None:
            found = zabbix.api.problem.get(objectids=[setup.triggerid], output="extend")  # open ones only
            return found[0] if found else None

        second = zabbix.wait_for(open_problem, 30, "the new problem")
        for action in ("resolve", "close"):
            admin("POST", f"{bridge}/api/incidents/{number}/{action}", json={"comment": "rebooted"})

        def closed_in_zabbix() -> dict[str, Any] | None:
            found = zabbix.api.problem.get(
                eventids=[second["eventid"]], recent=True, output="extend", selectAcknowledges="extend"
            )
            return found[0] if found and found[0]["r_eventid"] != "0" else None

        closed = zabbix.wait_for(closed_in_zabbix, 60, "problem closed in Zabbix\n" + diagnose())
        assert f"Closed in bridge incident {number} by admin: rebooted" in [
            a["message"] for a in closed["acknowledges"]
        ]
        zabbix.wait_for(
            lambda: all(
                a["status"] == "resolved"
                for a in admin("GET", f"{bridge}/api/incidents/{number}").json()["alerts"]
            ),
            60,
            "the recovery Zabbix sent for the close\n" + diagnose(),
        )
        page = requests.get(tags()["__zbx_bridge_url"], auth=("anyone", ADMIN_TOKEN), timeout=10)
        assert page.status_code == 200
        assert f"INC-{number}" in page.text and f"{setup.host} value is above 90" in page.text
        # every notification Zabbix made was delivered (it records that a moment after the webhook returns)
        zabbix.wait_for(
            lambda: all(a["status"] == "1" for a in alerts(zabbix, setup.actionid)), 30, diagnose()
        )
    finally:
        runtime.runner.stop()
        server.__exit__(None, None, None)
        runtime.close()
