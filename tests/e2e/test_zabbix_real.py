"""bridge with a real Zabbix 6.0 (Debian's packages), through contrib/zabbix's media type:
a trapper value opens a problem -> bridge opens an incident and Zabbix stores its number and
link as event tags; acknowledging in bridge acknowledges the problem in Zabbix; the recovery
resolves the incident; closing in bridge is written back as well."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from bridge.clock import SystemClock
from bridge.integrations.zabbix import ZabbixClient
from bridge.services.live import LiveRules
from bridge.services.reconcile import Reconciled, ZabbixReconciler
from bridge.web.app import create_app
from bridge.worker.runtime import Runtime
from tests.conftest import _truncate, unavailable
from tests.support.app import ADMIN_TOKEN, ZBX_TOKEN, make_settings, serving, write_rules
from tests.support.postgres import Unavailable, free_port
from tests.support.zabbix import (
    ZabbixEnv,
    alerts,
    configure_webhook,
    open_problem,
    packages_missing,
    trace,
    zabbix_environment,
)

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


def media_parameters() -> list[dict[str, str]]:
    export = yaml.safe_load(MEDIA_TYPE.read_text())
    return export["zabbix_export"]["media_types"][0]["parameters"]  # type: ignore[no-any-return]


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

    try:
        open_problem(zabbix, setup, 95)
        incidents = zabbix.wait_for(
            lambda: admin("GET", f"{bridge}/api/incidents").json()["items"],
            60,
            lambda: "bridge incident\n" + trace(zabbix, setup),
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
        assert tags()["__zbx_bridge_url"] == f"{bridge}/zabbix/events/{INSTANCE}/{problem()['eventid']}"

        admin("POST", f"{bridge}/api/incidents/{number}/ack", json={"comment": "looking"})
        zabbix.wait_for(
            lambda: problem().get("acknowledged") == "1",
            30,
            lambda: "acknowledged in Zabbix\n" + trace(zabbix, setup),
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
            lambda: "incident resolved\n" + trace(zabbix, setup),
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
            lambda: "incident reopened\n" + trace(zabbix, setup),
        )

        def reopened_problem() -> dict[str, Any] | None:
            found = zabbix.api.problem.get(objectids=[setup.triggerid], output="extend")  # open ones only
            return found[0] if found else None

        second = zabbix.wait_for(reopened_problem, 30, "the new problem")
        for action in ("resolve", "close"):
            admin("POST", f"{bridge}/api/incidents/{number}/{action}", json={"comment": "rebooted"})

        def closed_in_zabbix() -> dict[str, Any] | None:
            found = zabbix.api.problem.get(
                eventids=[second["eventid"]], recent=True, output="extend", selectAcknowledges="extend"
            )
            return found[0] if found and found[0]["r_eventid"] != "0" else None

        closed = zabbix.wait_for(
            closed_in_zabbix, 60, lambda: "problem closed in Zabbix\n" + trace(zabbix, setup)
        )
        assert f"Closed in bridge incident {number} by admin: rebooted" in [
            a["message"] for a in closed["acknowledges"]
        ]
        zabbix.wait_for(
            lambda: all(
                a["status"] == "resolved"
                for a in admin("GET", f"{bridge}/api/incidents/{number}").json()["alerts"]
            ),
            60,
            lambda: "the recovery Zabbix sent for the close\n" + trace(zabbix, setup),
        )
        page = requests.get(tags()["__zbx_bridge_url"], auth=("anyone", ADMIN_TOKEN), timeout=10)
        assert page.status_code == 200
        assert f"INC-{number}" in page.text and f"{setup.host} value is above 90" in page.text
        # every notification Zabbix made was delivered (it records that a moment after the webhook returns)
        zabbix.wait_for(
            lambda: all(a["status"] == "1" for a in alerts(zabbix, setup.actionid)),
            30,
            lambda: trace(zabbix, setup),
        )
    finally:
        runtime.runner.stop()
        server.__exit__(None, None, None)
        runtime.close()


HOLD = 20  # seconds a problem of the held host must keep firing before its incident opens:
# longer than Zabbix's retries (about 10 s), so that the problem reconciliation finds is held too
HELD_RULES = f"""defaults:
  resolve_after: 0s
  priority: {{critical: P1, high: P2, default: P3}}
rules:
  - name: held
    match: {{host: bridge-held-host}}
    for: {HOLD}s
"""


def test_a_held_problem_carries_its_link_from_the_first_webhook_and_reconciliation_respects_people(
    zabbix: ZabbixEnv, postgres_database: str, tmp_path: Path
) -> None:
    """A problem held by `for:` is tagged with its bridge link by the answer to its first
    webhook, hears "bridge incident N opened" when the hold expires, and its recovery event gets
    no incident tags; bridge's own acknowledgement is not taken back from Zabbix after a reject;
    a problem that fired while bridge was down is opened by reconciliation with source, host and
    its note, through the same hold."""
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
        host="bridge-held-host",
        item_key="bridge.held",
        username="bridge-held",
    )
    settings = make_settings(postgres_database, write_rules(tmp_path / "rules", HELD_RULES)).with_overrides(
        tick_seconds=0.2,
        base_url=bridge,
        zabbix_url=zabbix.url,
        zabbix_user=setup.username,
        zabbix_password=setup.password,
        zabbix_instance=INSTANCE,
        zabbix_reconcile=timedelta(0),  # passes are run by the test, when it wants one
        zabbix_reconcile_grace=timedelta(seconds=5),
    )
    runtime = Runtime.build(settings, SystemClock(), LiveRules(settings.rules_dir))
    app = create_app(runtime=runtime)
    server = serving(app, port)
    server.__enter__()
    runtime.runner.start()

    def reconcile(**overrides: Any) -> Reconciled:
        chosen = settings.with_overrides(**overrides)
        services = runtime.services
        client = ZabbixClient(chosen)
        reconciler = ZabbixReconciler(
            chosen, services.sessions, services.clock, client, services.intake, services.zabbix_instances
        )
        return reconciler.run()

    def event(eventid: str) -> dict[str, Any]:
        found = zabbix.api.problem.get(
            eventids=[eventid], recent=True, selectTags="extend", selectAcknowledges="extend", output="extend"
        )
        return found[0] if found else {}

    def newest_problem() -> dict[str, Any] | None:
        found = zabbix.api.problem.get(objectids=[setup.triggerid], output="extend")  # open ones only
        return found[-1] if found else None

    def tag_list(eventid: str) -> list[tuple[str, str]]:
        events = zabbix.api.event.get(eventids=[eventid], selectTags="extend", output=["eventid"])
        return sorted((t["tag"], t["value"]) for t in events[0]["tags"])

    def incident(number: int) -> dict[str, Any]:
        return admin("GET", f"{bridge}/api/incidents/{number}").json()  # type: ignore[no-any-return]

    def show(title: str, eventid: str, number: int | None) -> None:
        print(f"\n=== {title}: Zabbix problem {eventid} ===")
        print("problem event tags:", tag_list(eventid))
        for a in sorted(event(eventid).get("acknowledges", []), key=lambda a: int(a["clock"])):
            print(f"  message (action {a['action']}): {a['message']}")
        if number is not None:
            detail = incident(number)
            print(
                f"bridge INC-{number}: status {detail['status']}, source {detail['source']}, host {detail['host']}"
            )
            for entry in detail["timeline"]:
                print(f"  {entry['at']}  {entry['actor']:>8}  {entry['kind']}: {entry['text']}")

    try:
        # -- a held problem, from fire to close ------------------------------------------------
        open_problem(zabbix, setup, 95)
        held = zabbix.wait_for(newest_problem, 30, "the held problem")
        eventid = held["eventid"]
        link = f"{bridge}/zabbix/events/{INSTANCE}/{eventid}"
        # the answer to the first webhook, while the alert waits: the link, and no incident yet
        first_tags = zabbix.wait_for(
            lambda: tag_list(eventid),
            HOLD - 2,
            lambda: "tags from the first webhook\n" + trace(zabbix, setup),
        )
        assert first_tags == [("__zbx_bridge_url", link)]
        assert admin("GET", f"{bridge}/api/incidents").json()["items"] == []  # still held
        waiting = requests.get(link, auth=("anyone", ADMIN_TOKEN), timeout=10, allow_redirects=False)
        assert waiting.status_code == 200, waiting.text
        assert "waiting" in waiting.text and "opens at" in waiting.text
        decision = waiting.text.split('<p class="decision">')[1].split("</p>")[0]
        print("\nthe link while the alert waits:", re.sub(r"<[^>]+>", "", decision))
        (opened,) = zabbix.wait_for(
            lambda: admin("GET", f"{bridge}/api/incidents").json()["items"], HOLD + 30, "the held incident"
        )
        number = opened["number"]
        assert (opened["source"], opened["host"]) == ("zabbix", setup.host)  # defect 4: from its alert
        said = f"bridge incident {number} opened: {bridge}/incidents/{number}"

        def message() -> dict[str, Any] | None:
            return next((a for a in event(eventid).get("acknowledges", []) if a["message"] == said), None)

        written = zabbix.wait_for(message, 30, lambda: "the incident-opened message\n" + trace(zabbix, setup))
        assert written["action"] == "4"  # the message action only: nothing acknowledged
        assert event(eventid)["acknowledged"] == "0"
        moved = requests.get(link, auth=("anyone", ADMIN_TOKEN), timeout=10, allow_redirects=False)
        assert (moved.status_code, moved.headers["Location"]) == (302, f"/incidents/{number}")

        # -- ack in bridge -> resolve -> reject: a reconciliation pass does not acknowledge it ----
        admin("POST", f"{bridge}/api/incidents/{number}/ack", json={"comment": "looking"})
        zabbix.wait_for(lambda: event(eventid).get("acknowledged") == "1", 30, "acknowledged in Zabbix")
        for action in ("resolve", "reject"):
            admin("POST", f"{bridge}/api/incidents/{number}/{action}", json={"comment": "not fixed"})
        assert incident(number)["status"] == "open"
        passed = reconcile(zabbix_reconcile_grace=timedelta(0))  # no grace: only whose the ack is decides
        assert passed.acknowledged == 0
        runtime.runner.wakeup.work()
        time.sleep(1)
        assert incident(number)["status"] == "open"

        # -- the recovery: its OK event carries no incident tags ------------------------------
        zabbix.send_value(setup.host, setup.item_key, 10)
        zabbix.wait_for(
            lambda: incident(number)["status"] == "resolved", 60, lambda: "resolved\n" + trace(zabbix, setup)
        )
        recovery = zabbix.wait_for(
            lambda: event(eventid).get("r_eventid", "0") != "0" and event(eventid)["r_eventid"], 30
        )
        zabbix.wait_for(
            lambda: all(a["status"] == "1" for a in alerts(zabbix, setup.actionid)), 30, "recovery delivered"
        )
        assert not any(tag.startswith("__zbx_bridge") for tag, _ in tag_list(recovery))
        admin("POST", f"{bridge}/api/incidents/{number}/close", json={"comment": "confirmed"})
        assert incident(number)["status"] == "closed"
        show("a held problem from fire to close", eventid, number)
        print("recovery event", recovery, "tags:", tag_list(recovery))

        # -- bridge down while a problem fires past Zabbix's retries ---------------------------
        server.__exit__(None, None, None)
        zabbix.send_value(setup.host, setup.item_key, 97)
        missed = zabbix.wait_for(newest_problem, 30, "the missed problem")
        missed_id = missed["eventid"]
        zabbix.wait_for(
            lambda: any(
                a["eventid"] == missed_id and a["status"] == "2" for a in alerts(zabbix, setup.actionid)
            ),
            90,
            lambda: "Zabbix giving up on the webhook\n" + trace(zabbix, setup),
        )
        server = serving(app, port)
        server.__enter__()
        found = reconcile()
        assert found.found == 1, found
        missed_link = f"{bridge}/zabbix/events/{INSTANCE}/{missed_id}"
        page = zabbix.wait_for(
            lambda: requests.get(
                missed_link, auth=("anyone", ADMIN_TOKEN), timeout=10, allow_redirects=False
            ),
            10,
        )
        assert page.status_code == 200 and "waiting" in page.text  # held, as a webhook's would be
        assert "found by reconciliation" in page.text
        (missed_incident,) = zabbix.wait_for(
            lambda: [
                i for i in admin("GET", f"{bridge}/api/incidents").json()["items"] if i["number"] != number
            ],
            HOLD + 30,
            "the reconciled incident",
        )
        later = missed_incident["number"]
        detail = incident(later)
        assert (detail["source"], detail["host"]) == ("zabbix", setup.host)
        attached = next(e for e in detail["timeline"] if e["kind"] == "alert_attached")
        assert "(found by reconciliation with Zabbix)" in attached["text"]
        said_later = f"bridge incident {later} opened: {bridge}/incidents/{later}"
        zabbix.wait_for(
            lambda: any(a["message"] == said_later for a in event(missed_id).get("acknowledges", [])),
            30,
            "the incident-opened message on the reconciled problem",
        )
        show("a problem found by reconciliation", missed_id, later)

        # -- the media type's Test button, as contrib/zabbix/README.md says to fill it ---------
        parameters = {p["name"]: p["value"] for p in media_parameters()}
        parameters |= {
            "bridge_url": f"{bridge}/webhooks/zabbix",
            "bridge_token": ZBX_TOKEN,
            "event_id": "1",
            "event_value": "1",
            "event_nseverity": "4",
            "event_name": "test",
        }
        # what the frontend's Test form asks the server (CControllerPopupMediatypeTestSend)
        tested = zabbix._send(
            {
                "request": "alert.send",
                "sid": zabbix.api.auth,
                "data": {"parameters": parameters, "mediatypeid": setup.mediatypeid},
            }
        )
        print("\nthe media type Test answered:", tested)
        assert tested.get("response") == "success", tested
        test_tags = json.loads(tested["data"])["tags"]
        assert test_tags["__zbx_bridge_url"] == f"{bridge}/zabbix/events/zabbix/1"
        test_number = int(test_tags["__zbx_bridge_incident"].removeprefix("INC-"))
        assert incident(test_number)["title"] == "test"

        def the_tests_alert() -> dict[str, Any]:
            (found,) = incident(test_number)["alerts"]
            return found  # type: ignore[no-any-return]

        zabbix.wait_for(lambda: the_tests_alert()["status"] == "resolved", 30, "the test's alert resolved")
        assert the_tests_alert()["labels"]["zabbix_test"] == "yes"
        # its alert resolved, the incident resolves (at once with these rules' resolve_after: 0s)
        zabbix.wait_for(lambda: incident(test_number)["status"] == "resolved", 30, "the test's incident")
        admin("POST", f"{bridge}/api/incidents/{test_number}/close", json={"comment": "media type test"})
        assert incident(test_number)["status"] == "closed"
        ready = requests.get(f"{bridge}/readyz", timeout=10).json()
        assert "zabbix_instance" not in ready["checks"], ready  # a Test is no sign of another instance
        firing = admin("GET", f"{bridge}/api/alerts", params={"status": "firing"}).json()["items"]
        assert [a["source_ref"] for a in firing] == [missed_id]  # the Test left nothing firing

        failed = admin("GET", f"{bridge}/api/intake", params={"status": "failed"}).json()["items"]
        assert failed == []
    finally:
        runtime.runner.stop()
        server.__exit__(None, None, None)
        runtime.close()
