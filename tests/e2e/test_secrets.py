"""Secrets stay masked: `bridge config` hides the password in a peer's URL, a debug log does not
print the Zabbix password, and a person's webhook URL (a Slack or Mattermost secret) is used to
send and shown nowhere: not on the timeline, not in the API, not in error texts, not in the log."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from bridge.cli.main import main
from bridge.integrations.alertmanager import AlertmanagerClient
from bridge.integrations.zabbix import ZabbixClient
from bridge.settings import Settings, configure_logging
from tests.support.duty import Desk, desk
from tests.support.receivers import http_server
from tests.support.zabbix_standin import PASSWORD, USER, zabbix_standin

__all__ = ["desk"]

START = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
URL_PASSWORD = "url-s3cret"


def test_bridge_config_masks_the_password_in_peer_urls(tmp_path: Path) -> None:
    env = {
        "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.db'}",
        "BRIDGE_ZABBIX_URL": f"https://bridge:{URL_PASSWORD}@zabbix.example/zabbix",
        "BRIDGE_ZABBIX_USER": "bridge",
        "BRIDGE_ZABBIX_PASSWORD": "zbx-s3cret",
        "BRIDGE_ALERTMANAGER_URL": f"http://am:{URL_PASSWORD}@alertmanager.example:9093",
        "BRIDGE_SMTP_URL": f"smtp://mail:{URL_PASSWORD}@mail.example:25",
    }
    result = CliRunner().invoke(main, ["config"], env=env)
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line.split(None, 1)[1] for line in result.output.splitlines() if line.strip()}
    assert lines["BRIDGE_ZABBIX_URL"] == "'https://bridge:***@zabbix.example/zabbix'"
    assert lines["BRIDGE_ALERTMANAGER_URL"] == "'http://am:***@alertmanager.example:9093'"
    assert lines["BRIDGE_ZABBIX_PASSWORD"] == "(hidden)"
    assert URL_PASSWORD not in result.output and "zbx-s3cret" not in result.output


def test_a_bad_peer_url_is_named_without_its_password() -> None:
    with pytest.raises(Exception, match=r"BRIDGE_ZABBIX_URL='ftp://u:\*\*\*@zabbix': must be") as raised:
        Settings.from_env({"BRIDGE_ZABBIX_URL": f"ftp://u:{URL_PASSWORD}@zabbix"})
    assert URL_PASSWORD not in str(raised.value)


def test_a_peer_that_fails_is_named_without_the_password_in_its_url() -> None:
    with http_server() as (url, sink):
        sink.failures["/api/v2/silences"] = [500]
        client = AlertmanagerClient(url.replace("http://", f"http://am:{URL_PASSWORD}@"))
        with pytest.raises(requests.HTTPError) as raised:
            client.create_silence({"alertname": "x"}, START, START + timedelta(hours=1), "bridge", "ack")
    assert "500 Server Error" in str(raised.value) and URL_PASSWORD not in str(raised.value)
    basic = "Basic " + base64.b64encode(f"am:{URL_PASSWORD}".encode()).decode()
    assert sink.authorizations == [basic]  # the credentials still go, as Basic auth
    with zabbix_standin() as standin:
        standin.failing = True
        url = standin.url.replace("http://", f"http://bridge:{URL_PASSWORD}@")
        zabbix = ZabbixClient(Settings(zabbix_url=url, zabbix_user=USER, zabbix_password=PASSWORD))
        with pytest.raises(requests.HTTPError) as failed:
            zabbix.call("problem.get")
    assert "500 Server Error" in str(failed.value) and URL_PASSWORD not in str(failed.value)


class Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {record.getMessage()}")


@pytest.fixture
def recorded() -> Iterator[Recorder]:
    """Every record that reaches the root logger; logging's levels put back afterwards."""
    names = ["", "bridge", "pyzabbix", "urllib3"]
    levels = {name: logging.getLogger(name).level for name in names}
    recorder = Recorder()
    logging.getLogger().addHandler(recorder)
    yield recorder
    logging.getLogger().removeHandler(recorder)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def log_in_to_zabbix(debug_loggers: tuple[str, ...]) -> None:
    with zabbix_standin() as standin:
        url = standin.url.replace("http://", f"http://bridge:{URL_PASSWORD}@")
        settings = Settings(
            zabbix_url=url,
            zabbix_user=USER,
            zabbix_password=PASSWORD,
            log_level="DEBUG",
            debug_loggers=debug_loggers,
        )
        configure_logging(settings)
        logging.getLogger("bridge.test").debug("bridge's own debug line")
        ZabbixClient(settings).call("problem.get")
        assert [c.method for c in standin.calls] == ["apiinfo.version", "user.login", "problem.get"]


def test_a_debug_log_does_not_print_the_zabbix_password(recorded: Recorder) -> None:
    log_in_to_zabbix(())
    text = "\n".join(recorded.lines)
    assert "bridge.test: bridge's own debug line" in text  # DEBUG is on for bridge itself
    assert PASSWORD not in text and URL_PASSWORD not in text
    assert not any(line.startswith(("pyzabbix", "urllib3")) for line in recorded.lines)


def test_asking_for_a_library_s_debug_log_gets_it_secrets_and_all(recorded: Recorder) -> None:
    log_in_to_zabbix(("pyzabbix", "urllib3"))
    text = "\n".join(recorded.lines)
    assert PASSWORD in text  # what the default keeps out: pyzabbix's "Sending: {...user.login...}"
    assert any(line.startswith("urllib3") for line in recorded.lines)


SECRET_PATH = "/hooks/T0123/B0456/XyZsEcReTkEy"


def with_secret_webhook(desk: Desk, base: str) -> None:
    """Novikova's webhook: a URL under `base` whose path is its key, as Slack's and Mattermost's are."""
    rota = (desk.rules_dir / "rota.yaml").read_text()
    (desk.rules_dir / "rota.yaml").write_text(
        rota.replace(f"{base_of(rota)}/hooks/novikova", base + SECRET_PATH)
    )
    assert desk.runtime.services.rota.reload("test")
    assert desk.runtime.services.rota.rota.people["novikova"].webhook == base + SECRET_PATH


def base_of(rota: str) -> str:
    """Where the desk's stand-in for people's webhooks listens."""
    found = re.search(r'"(http://[^"]+)/hooks/novikova"', rota)
    assert found is not None
    return found.group(1)


def test_a_webhook_url_is_shown_as_its_host_only(desk: Desk, recorded: Recorder) -> None:
    base = base_of((desk.rules_dir / "rota.yaml").read_text())
    with_secret_webhook(desk, base)
    desk.http.failures[SECRET_PATH] = [500]  # fails once, then goes through
    configure_logging(Settings(log_level="DEBUG"))
    desk.at("2026-11-24 11:00")
    desk.open(title="Core banking slow", client="bank", priority="P2")
    (pending,) = desk.get("/api/notifications", channel="webhook")["items"]
    assert pending["last_error"].startswith("RuntimeError: HTTP 500")
    desk.clock.advance(desk.runtime.services.notifier.lease)  # past the backoff (30s)
    desk.drain()
    (posted,) = desk.http.posted(SECRET_PATH)
    assert posted.body["incident"] == 1  # it was sent where it should go
    (sent,) = desk.get("/api/notifications", channel="webhook")["items"]
    assert (sent["status"], sent["address"]) == ("sent", f"{base}/...")
    assert f"notified novikova by webhook ({base}/...): registration" in desk.timeline(1, "notified")
    assert any("notification 2 (webhook to novikova) attempt 1 failed" in line for line in recorded.lines)
    shown = str(desk.incident(1)) + str(desk.get("/api/notifications")) + "\n".join(recorded.lines)
    assert "XyZsEcReTkEy" not in shown and "B0456" not in shown


def test_a_webhook_that_cannot_be_reached_is_not_named_in_the_error(desk: Desk) -> None:
    with_secret_webhook(desk, "http://127.0.0.1:1")  # nothing listens there
    desk.at("2026-11-24 11:00")
    desk.open(title="Core banking slow", client="bank", priority="P2")
    (pending,) = desk.get("/api/notifications", channel="webhook")["items"]
    assert pending["last_error"].startswith("RuntimeError: ConnectionError: ")
    assert "Connection refused" in pending["last_error"]  # still says what went wrong
    assert "XyZsEcReTkEy" not in pending["last_error"] and "/hooks/" not in pending["last_error"]
