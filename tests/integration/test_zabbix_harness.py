"""The Zabbix harness itself, end to end on a real Zabbix 6.0: a trapper value opens a problem,
acknowledgements update it, another value resolves it, and each reaches a tiny webhook media type
(not bridge's) that posts to a capture server here."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from pyzabbix.api import ZabbixAPI

from tests.conftest import unavailable
from tests.support.postgres import Unavailable, free_port
from tests.support.zabbix import (
    DEBIAN_PACKAGES,
    ZabbixEnv,
    alerts,
    configure_webhook,
    open_problem,
    packages_missing,
    trace,
    zabbix_environment,
)

pytestmark = pytest.mark.postgres

# A webhook media type in Zabbix 6.0's export format. Zabbix hands the script its parameters,
# macros expanded, as the JSON string `value`. {EVENT.UPDATE.STATUS} is 1 only in update
# notifications; {EVENT.VALUE} is 0 in recovery ones.
CAPTURE_MEDIA_TYPE = """\
zabbix_export:
  version: '6.0'
  media_types:
    - name: harness capture
      type: WEBHOOK
      parameters:
        - name: event_id
          value: '{EVENT.ID}'
        - name: event_value
          value: '{EVENT.VALUE}'
        - name: update_status
          value: '{EVENT.UPDATE.STATUS}'
        - name: url
          value: '{$CAPTURE.URL}'
      script: |
        var params = JSON.parse(value);
        var kind = params.update_status === '1' ? 'update'
            : (params.event_value === '0' ? 'recovery' : 'problem');
        var request = new HttpRequest();
        request.addHeader('Content-Type: application/json');
        request.post(params.url, JSON.stringify({event_id: params.event_id, kind: kind}));
        if (request.getStatus() !== 200) {
            throw 'capture answered HTTP ' + request.getStatus();
        }
        return 'OK';
      timeout: 10s
      message_templates:
        - event_source: TRIGGERS
          operation_mode: PROBLEM
          subject: 'Problem: {EVENT.NAME}'
          message: 'Problem {EVENT.ID}'
        - event_source: TRIGGERS
          operation_mode: RECOVERY
          subject: 'Resolved: {EVENT.NAME}'
          message: 'Resolved {EVENT.ID}'
        - event_source: TRIGGERS
          operation_mode: UPDATE
          subject: 'Updated: {EVENT.NAME}'
          message: '{EVENT.UPDATE.ACTION} {EVENT.ID}'
"""


@dataclass
class Capture:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [body for body in self.received if body.get("kind") == kind]


@pytest.fixture
def capture() -> Iterator[Capture]:
    port = free_port()
    result = Capture(url=f"http://127.0.0.1:{port}/capture")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with result.lock:
                result.received.append(body)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def zabbix(postgres_server: str) -> Iterator[ZabbixEnv]:
    missing = packages_missing()
    if missing:
        unavailable(f"Zabbix 6.0 needs Debian packages {' '.join(missing)}: run scripts/install-test-peers")
    try:
        with zabbix_environment(postgres_server) as env:
            yield env
    except Unavailable as exc:
        unavailable(str(exc))


def test_install_script_installs_what_the_harness_needs() -> None:
    script = (Path(__file__).parents[2] / "scripts" / "install-test-peers").read_text()
    listed = re.search(r"packages=\(([^)]*)\)", script)
    assert listed is not None
    assert tuple(listed.group(1).split()) == DEBIAN_PACKAGES


def test_webhook_delivers_problem_recovery_and_update(
    zabbix: ZabbixEnv, capture: Capture, tmp_path: Path
) -> None:
    media_type = tmp_path / "media_capture.yaml"
    media_type.write_text(CAPTURE_MEDIA_TYPE)
    setup = configure_webhook(zabbix, media_type, {"{$CAPTURE.URL}": capture.url})

    def wait(kind: str) -> dict[str, Any]:
        try:
            return zabbix.wait_for(lambda: capture.of_kind(kind), timeout=60, what=f"a {kind} delivery")[0]
        except TimeoutError as exc:  # say what Zabbix did instead
            raise AssertionError(f"{exc}\n{trace(zabbix, setup)}\ncaptured: {capture.received}") from None

    open_problem(zabbix, setup, 95)
    problem = wait("problem")
    events = zabbix.api.problem.get(objectids=[setup.triggerid], output=["eventid", "name"])
    assert [e["eventid"] for e in events] == [problem["event_id"]]

    # The webhook user, not only Admin, sees the problem it was notified of.
    webhook_user = ZabbixAPI(zabbix.url, session=zabbix.api.session, timeout=30)
    webhook_user.login(setup.username, setup.password)
    assert [e["eventid"] for e in webhook_user.problem.get(output=["eventid"])] == [problem["event_id"]]

    # Acknowledged by Admin (Zabbix never notifies a user of their own updates).
    zabbix.api.event.acknowledge(eventids=[problem["event_id"]], action=2 | 4, message="seen by the harness")
    update = wait("update")
    assert update["event_id"] == problem["event_id"]

    zabbix.send_value(setup.host, setup.item_key, 10)
    recovery = wait("recovery")
    assert recovery["event_id"] == problem["event_id"]  # {EVENT.ID} is the problem's, not the OK event's

    # A resolved problem can still be updated, and the update operations still notify.
    zabbix.api.event.acknowledge(eventids=[problem["event_id"]], action=4, message="after recovery")
    zabbix.wait_for(lambda: len(capture.of_kind("update")) == 2, timeout=60, what="a second update delivery")

    assert [body["kind"] for body in capture.received] == ["problem", "update", "recovery", "update"]
    assert {body["event_id"] for body in capture.received} == {problem["event_id"]}
    # Zabbix marks an alert sent (status 1) just after its webhook returned, not before.
    zabbix.wait_for(
        lambda: [a["status"] for a in alerts(zabbix, setup.actionid)] == ["1"] * 4,
        timeout=10,
        what="four alerts recorded as sent",
    )
