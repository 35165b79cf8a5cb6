"""The API describes itself: /api/openapi.json covers every route of the API, the webhooks and
the health endpoints (generated from the URL map; a route it cannot describe fails here), and
/api/docs shows the same as a page with no script and nothing loaded from elsewhere."""

from __future__ import annotations

import re

import pytest
from flask import Flask, Response, jsonify

from bridge.web.api.docs import described_rules, methods_of, openapi
from tests.support.api import Api
from tests.support.app import ADMIN_TOKEN

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def test_the_document_describes_every_route_with_its_roles(api: Api) -> None:
    response = api.client.get("/api/openapi.json", headers=ADMIN)
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"] == "3.1.0"
    described = {(method.upper(), path) for path, item in spec["paths"].items() for method in item}
    routes = {
        (method, re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule))
        for rule in described_rules(api.client.application)
        for method in methods_of(rule)
    }
    assert described == routes
    assert len(routes) > 40
    ack = spec["paths"]["/api/incidents/{number}/{action}"]["post"]
    assert ack["x-bridge-roles"]["ack"] == ["operator", "engineer", "admin"]
    assert ack["x-bridge-roles"]["close"] == ["viewer", "operator", "engineer", "admin"]
    assert ack["parameters"][0] == {
        "name": "number",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    }
    listing = spec["paths"]["/api/incidents"]["get"]
    assert {"limit", "offset", "status", "client"} <= {p["name"] for p in listing["parameters"]}
    assert listing["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Page"
    }
    assert spec["paths"]["/api/users"]["post"]["x-bridge-roles"] == ["admin"]
    assert spec["paths"]["/webhooks/zabbix"]["post"]["security"] == [{"source": []}]
    assert spec["paths"]["/healthz"]["get"]["security"] == []
    assert all(op["summary"] for item in spec["paths"].values() for op in item.values())


def test_a_route_nobody_described_makes_the_document_fail(api: Api) -> None:
    app: Flask = api.client.application

    def secret() -> Response:
        return jsonify(ok=True)

    bare = Flask("probe")  # the app's routes, plus one added under the API's name
    bare.url_map.converters.update(app.url_map.converters)
    for rule in app.url_map.iter_rules():
        if rule.endpoint != "static":
            bare.add_url_rule(
                rule.rule, rule.endpoint, app.view_functions[rule.endpoint], methods=rule.methods
            )
    bare.add_url_rule("/api/secret-new-thing", "api.secret_new_thing", secret)
    openapi(app)  # the real app: fine
    with pytest.raises(LookupError, match="GET /api/secret-new-thing"):
        openapi(bare)


def test_the_docs_page_lists_the_endpoints_with_no_script(api: Api) -> None:
    page = api.client.get("/api/docs", headers=ADMIN)
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "<script" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing from elsewhere
    assert "/api/incidents/{number}/{action}" in html
    assert "roles: viewer, operator, engineer, admin" in html
    assert "script-src" not in page.headers["Content-Security-Policy"]
