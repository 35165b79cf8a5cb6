"""What a browser gets: the incident page links only to http(s) URLs, every answer carries the
headers that keep it out of frames, scripts and referrers, and the Basic login a browser keeps for
the page can read but never act. Through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import re

import pytest

from tests.support.api import Api
from tests.support.app import ADMIN_TOKEN, AM_TOKEN
from tests.support.payloads import am_alert, am_notification

BASIC = {"Authorization": "Basic " + base64.b64encode(f"operator:{ADMIN_TOKEN}".encode()).decode()}
BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def open_incident_with_link(api: Api, url: str) -> None:
    alert = am_alert("LinkCheck", starts_at=api.runtime.services.clock.now().isoformat(), instance="h1:9100")
    alert["generatorURL"] = url
    assert api.alertmanager(am_notification(alert)).status_code == 202
    api.drain()


def page(api: Api) -> str:
    response = api.client.get("/incidents/1", headers=BASIC)
    assert response.status_code == 200
    return response.get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(document.domain)",
        "JavaScript:alert(1)",
        "data:text/html,<b>x</b>",
        "//evil.example/x",
    ],
)
def test_a_link_that_is_not_http_renders_as_text(api: Api, url: str) -> None:
    open_incident_with_link(api, url)
    html = page(api)
    assert re.findall(r'<a [^>]*href="(?!/)', html) == []  # the console's own links only
    assert "LinkCheck" in html
    assert url.replace("<", "&lt;").replace(">", "&gt;") in html  # shown, as text


@pytest.mark.parametrize(
    "url", ["http://prometheus.example:9090/graph?g0.expr=up", "HTTPS://grafana.example/d/x"]
)
def test_an_http_link_is_a_link_that_sends_no_referrer(api: Api, url: str) -> None:
    open_incident_with_link(api, url)
    html = page(api)
    (link,) = re.findall(r'<a [^>]*href="(?!/)[^>]*>', html)
    assert f'href="{url.replace("&", "&amp;")}"' in link
    assert 'rel="noopener noreferrer"' in link


def test_every_html_answer_carries_the_security_headers(api: Api) -> None:
    open_incident_with_link(api, "http://prometheus.example/graph")
    response = api.client.get("/incidents/1", headers=BASIC)
    assert response.mimetype == "text/html"
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp  # bridge's own script files only
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert "<script>" not in response.get_data(as_text=True)  # no inline script on the console
    # a page's own inline style comes in by the nonce its CSP names, a new one each time
    login = api.client.get("/login")
    csp = login.headers["Content-Security-Policy"]
    (nonce,) = re.findall(r"style-src 'self' 'nonce-([^']+)'", csp)
    assert f'<style nonce="{nonce}">' in login.get_data(as_text=True)
    again = api.client.get("/login").headers["Content-Security-Policy"]
    assert again != csp


@pytest.mark.parametrize(
    ("path", "headers"),
    [("/incidents/1", {}), ("/incidents/99", BASIC), ("/api/incidents", BEARER), ("/healthz", {})],
)
def test_other_answers_carry_them_too(api: Api, path: str, headers: dict[str, str]) -> None:
    response = api.client.get(path, headers=headers)
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_the_page_login_reads_the_api_but_cannot_act(api: Api) -> None:
    open_incident_with_link(api, "http://prometheus.example/graph")
    assert api.client.get("/api/incidents/1", headers=BASIC).status_code == 200
    # What a page elsewhere could make a signed-in browser send: no preflight for these.
    for method, path, extra in [
        ("POST", "/api/incidents/1/ack", {"Content-Type": "text/plain"}),
        ("POST", "/api/incidents/1/resolve", {}),
        ("POST", "/api/incidents", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("POST", "/api/rules/reload", {}),
        ("DELETE", "/api/silences/1", {}),
    ]:
        response = api.client.open(path, method=method, headers={**BASIC, **extra}, data=b"")
        assert response.status_code == 401, (method, path)
        assert response.get_json()["error"].startswith("missing or wrong API token: a change takes")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")  # no login prompt either
    assert api.incident(1)["status"] == "open"
    assert api.client.post("/api/incidents/1/ack", headers=BEARER).status_code == 200
    assert api.incident(1)["status"] == "acknowledged"


def test_a_browser_not_signed_in_is_sent_to_the_login_page_and_back(api: Api) -> None:
    """Changed with the console (issue 14): the page used to answer 401 with a Basic prompt."""
    response = api.client.get("/incidents/1?tab=timeline")
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?next=/incidents/1%3Ftab%3Dtimeline"
    assert "WWW-Authenticate" not in response.headers


def test_webhooks_still_take_basic_auth(api: Api) -> None:
    """Alertmanager's `basic_auth` sends the token as password; a browser cannot send the JSON
    content type webhooks need without a preflight, so this stays open to it."""
    basic = "Basic " + base64.b64encode(f"alertmanager:{AM_TOKEN}".encode()).decode()
    alert = am_alert("ViaBasic", starts_at=api.runtime.services.clock.now().isoformat(), instance="h2:9100")
    assert api.alertmanager(am_notification(alert), token="", Authorization=basic).status_code == 202
    assert (
        api.client.post(
            "/webhooks/alertmanager",
            data=b"{}",
            headers={"Authorization": basic, "Content-Type": "text/plain"},
        ).status_code
        == 415
    )
