"""The Zabbix media type in contrib/zabbix, run under Duktape (the engine Zabbix embeds) with a
stand-in HttpRequest: what it posts must be a body bridge's parser accepts, built right."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dukpy
import pytest
import yaml

from bridge.alert import Severity, Source, Status
from bridge.sources import parse_delivery
from tests.support.alerts import T0

MEDIA_TYPE = Path(__file__).resolve().parents[3] / "contrib" / "zabbix" / "media_bridge.yaml"

SHIMS = """
var sent = {url: null, body: null, headers: [], proxy: null};
var logged = [];
function HttpRequest() {}
HttpRequest.prototype.addHeader = function (h) { sent.headers.push(h); };
HttpRequest.prototype.setProxy = function (p) { sent.proxy = p; };
HttpRequest.prototype.post = function (url, body) { sent.url = url; sent.body = body; return dukpy.answer; };
HttpRequest.prototype.getStatus = function () { return dukpy.status; };
var Zabbix = {log: function (level, text) { logged.push(text); }};
"""


def media_type() -> dict[str, Any]:
    export = yaml.safe_load(MEDIA_TYPE.read_text())
    assert export["zabbix_export"]["version"] == "6.0"
    (media,) = export["zabbix_export"]["media_types"]
    return media  # type: ignore[no-any-return]


def run(
    params: dict[str, str], status: int = 202, answer: str = '{"accepted": 1, "tags": {}}'
) -> dict[str, Any]:
    """Run the script as Zabbix would: `value` is the JSON of the parameters, macros resolved."""
    script = media_type()["script"]
    code = (
        SHIMS
        + "function run(value) {\n"
        + script
        + "\n}\n"
        + """
var outcome;
try { outcome = {returned: run(JSON.stringify(dukpy.params))}; }
catch (error) { outcome = {thrown: String(error)}; }
outcome.sent = sent; outcome.logged = logged;
outcome;
"""
    )
    return dict(dukpy.evaljs(code, params=params, status=status, answer=answer))


def resolved_parameters(**overrides: str) -> dict[str, str]:
    """The media type's parameters as Zabbix 6.0.14 resolves them for a problem: the macros it
    lacks ({EVENT.TIMESTAMP}, recovery and update ones) stay literal."""
    values = {p["name"]: p["value"] for p in media_type()["parameters"]}
    values.update(
        {
            "bridge_url": "https://bridge.example/webhooks/zabbix",
            "bridge_token": "s3cret",
            "bridge_instance": "zbx-prod",
            "zabbix_url": "https://zabbix.example/",
            "event_id": "24",
            "event_source": "0",
            "event_value": "1",
            "event_status": "PROBLEM",
            "event_name": "High CPU load on web-01",
            "event_severity": "High",
            "event_nseverity": "4",
            "event_date": T0.strftime("%Y.%m.%d"),
            "event_time": T0.strftime("%H:%M:%S"),
            "event_opdata": "Current load: 95 %",
            "event_ack_status": "No",
            "event_tagsjson": '[{"tag":"service","value":"payments"},{"tag":"scope","value":"performance"}]',
            "event_update_status": "0",
            "trigger_id": "23144",
            "trigger_status": "PROBLEM",
            "trigger_description": "CPU above 90%",
            "host_host": "web-01",
            "host_name": "Web 01",
            "host_ip": "10.0.0.5",
            "host_groups": "Linux servers, Clients/Acme",
            "alert_subject": "Problem: High CPU",
            "alert_message": "...",
            "update_user": "{USER.FULLNAME}",
            "external_ref": "{EVENT.TAGS.__zbx_bridge_incident}",
        }
    )
    values.update(overrides)
    return values


def posted_alert(outcome: dict[str, Any]) -> Any:
    body = outcome["sent"]["body"].encode()
    (alert,) = parse_delivery(Source.ZABBIX, body, T0).alerts
    return alert


def test_the_export_is_a_webhook_that_stores_tags_and_offers_an_event_menu() -> None:
    media = media_type()
    assert media["type"] == "WEBHOOK"
    assert media["process_tags"] == "YES"
    assert media["show_event_menu"] == "YES"
    assert media["event_menu_url"] == "{EVENT.TAGS.__zbx_bridge_url}"
    assert (media["attempts"], media["attempt_interval"]) == ("3", "5s")
    assert {t["operation_mode"] for t in media["message_templates"]} == {"PROBLEM", "RECOVERY", "UPDATE"}


def test_a_problem_is_posted_as_the_canonical_body_with_the_bearer_token() -> None:
    outcome = run(
        resolved_parameters(),
        answer=json.dumps(
            {
                "accepted": 1,
                "tags": {"__zbx_bridge_incident": "INC-7", "__zbx_bridge_url": "https://b/incidents/7"},
            }
        ),
    )
    assert "thrown" not in outcome, outcome
    sent = outcome["sent"]
    assert sent["url"] == "https://bridge.example/webhooks/zabbix"
    assert "Authorization: Bearer s3cret" in sent["headers"]
    assert "Content-Type: application/json" in sent["headers"]
    body = json.loads(sent["body"])
    assert body["schema"] == "bridge.zabbix.v1"
    assert body["kind"] == "problem"
    assert body["event"]["timestamp"] == str(int(T0.timestamp()))  # rebuilt from DATE + TIME on 6.0
    assert body["event"]["tags"][0] == {"tag": "service", "value": "payments"}
    assert json.loads(outcome["returned"]) == {
        "tags": {"__zbx_bridge_incident": "INC-7", "__zbx_bridge_url": "https://b/incidents/7"}
    }
    alert = posted_alert(outcome)
    assert (alert.fingerprint, alert.status, alert.severity, alert.starts_at) == (
        "zabbix:zbx-prod:24",
        Status.FIRING,
        Severity.HIGH,
        T0,
    )
    assert alert.labels["host_groups"] == "Clients/Acme, Linux servers"
    assert alert.url == "https://zabbix.example/tr_events.php?triggerid=23144&eventid=24"


def test_nothing_to_store_returns_empty_tags_as_zabbix_6_0_requires() -> None:
    outcome = run(resolved_parameters(), answer='{"accepted": 1, "tags": {}}')
    assert json.loads(outcome["returned"]) == {"tags": {}}
    assert json.loads(run(resolved_parameters(), answer="not json")["returned"]) == {"tags": {}}


def test_a_recovery() -> None:
    outcome = run(
        resolved_parameters(
            event_value="0",
            event_status="RESOLVED",
            event_recovery_id="25",
            event_recovery_date=T0.strftime("%Y.%m.%d"),
            event_recovery_time="10:07:30",
        )
    )
    body = json.loads(outcome["sent"]["body"])
    assert body["kind"] == "recovery"
    alert = posted_alert(outcome)
    assert alert.status is Status.RESOLVED
    assert alert.ends_at == T0.replace(minute=7, second=30)


def test_an_update_with_its_user_and_message() -> None:
    outcome = run(
        resolved_parameters(
            event_update_status="1",
            update_action="acknowledged and commented",
            update_message="on it",
            update_user="Ivan Ivanov (ivanov)",
            update_date=T0.strftime("%Y.%m.%d"),
            update_time="10:02:00",
            event_ack_status="Yes",
            external_ref="INC-7",
        )
    )
    body = json.loads(outcome["sent"]["body"])
    assert (body["kind"], body["external_ref"]) == ("update", "INC-7")
    alert = posted_alert(outcome)
    assert alert.update is not None
    assert (alert.update.action, alert.update.message, alert.update.user) == (
        "acknowledged and commented",
        "on it",
        "Ivan Ivanov (ivanov)",
    )
    assert alert.update.acknowledges


def test_the_later_timestamp_macros_win_when_zabbix_has_them() -> None:
    body = json.loads(run(resolved_parameters(event_timestamp="1795331703"))["sent"]["body"])
    assert body["event"]["timestamp"] == "1795331703"


@pytest.mark.parametrize("status", [400, 401, 500, 503])
def test_a_non_2xx_answer_throws_so_that_zabbix_retries(status: int) -> None:
    outcome = run(resolved_parameters(), status=status, answer='{"error": "nope"}')
    assert outcome["thrown"].startswith(f"Sending to bridge failed: bridge answered HTTP {status}")


def test_missing_macros_are_named() -> None:
    outcome = run(resolved_parameters(bridge_url="{$BRIDGE.URL}"))
    assert "set the {$BRIDGE.URL} and {$BRIDGE.TOKEN} macros" in outcome["thrown"]


def test_bad_tags_json_does_not_stop_the_delivery() -> None:
    outcome = run(resolved_parameters(event_tagsjson="{EVENT.TAGSJSON}"))
    assert json.loads(outcome["sent"]["body"])["event"]["tags"] == []


def test_the_media_type_test_button_is_marked_as_a_test() -> None:
    """The Test form leaves {EVENT.SOURCE} as typed: every real event resolves it."""
    tested = run(resolved_parameters(event_source="{EVENT.SOURCE}", trigger_id="{TRIGGER.ID}"))
    assert json.loads(tested["sent"]["body"])["test"] is True
    assert parse_delivery(Source.ZABBIX, tested["sent"]["body"].encode(), T0).test
    real = run(resolved_parameters())
    assert "test" not in json.loads(real["sent"]["body"])


def test_the_event_menu_entry_is_named_without_a_tag_that_may_be_missing() -> None:
    # a held problem has no incident tag at first: "{EVENT.TAGS.__zbx_bridge_incident}" would show as is
    assert "{" not in media_type()["event_menu_name"]
