"""The API describing itself: ``GET /api/openapi.json`` (OpenAPI 3.1) and ``GET /api/docs`` (the
same, as a page with no script). The document is generated from the app's routes: each path and
method from the URL map, its summary from the view's docstring, its parameters from the route's
converters and `permissions.ENDPOINTS`, the rights and roles it needs from the same table. A
route of the API, the webhooks or the health endpoints that the table does not describe makes
`openapi` raise LookupError, and the test that builds it fail."""

from __future__ import annotations

import inspect
import re
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, render_template
from werkzeug.routing import Rule

from bridge.ticketing.roles import RIGHTS, Action, Role
from bridge.web.api.permissions import ENDPOINTS, ByArgument, Endpoint
from bridge.web.errors import CODES

blueprint = Blueprint("docs", __name__)

DESCRIBED_BLUEPRINTS = ("api", "webhooks", "health")
"""The blueprints whose routes the document covers (the HTML pages are for browsers)."""
UNAUTHENTICATED = {"/healthz", "/readyz", "/metrics"}
_PARAMETER = re.compile(r"<(?:(?P<converter>[a-z]+):)?(?P<name>\w+)>")

WEBHOOKS: dict[str, Endpoint] = {
    "POST /webhooks/alertmanager": Endpoint(Action.VIEW),
    "POST /webhooks/zabbix": Endpoint(Action.VIEW),
}
"""The webhooks take their source's token, not a person's: described, not in the roles table."""


@blueprint.get("/openapi.json")
def openapi_json() -> Response:
    """This API, described in OpenAPI 3.1."""
    return jsonify(openapi(current_app))


@blueprint.get("/docs")
def api_docs() -> str:
    """This API, as a page to read."""
    spec = openapi(current_app)
    operations = [
        {"path": path, "method": method.upper(), **operation}
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]
    return render_template("api_docs.html", spec=spec, operations=operations)


def described_rules(app: Flask) -> list[Rule]:
    """The routes the document must describe."""
    return [
        rule for rule in app.url_map.iter_rules() if rule.endpoint.partition(".")[0] in DESCRIBED_BLUEPRINTS
    ]


def methods_of(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def openapi(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of `app`'s routes; LookupError for a route the tables lack (a
    programming mistake the tests catch, not a request's)."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(described_rules(app), key=lambda r: r.rule):
        for method in methods_of(rule):
            key = f"{method} {rule.rule}"
            endpoint = ENDPOINTS.get(key) or WEBHOOKS.get(key)
            if endpoint is None and rule.rule not in UNAUTHENTICATED:
                raise LookupError(f"{key} is not described in bridge.web.api.permissions.ENDPOINTS")
            path = _PARAMETER.sub(lambda m: "{" + m.group("name") + "}", rule.rule)
            paths.setdefault(path, {})[method.lower()] = _operation(app, rule, method, endpoint)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "bridge",
            "version": "1",
            "description": (
                "Monitoring-to-incident bridge. Authenticate with `Authorization: Bearer <token>` "
                "(a personal token, or the admin token), or a console session cookie plus its CSRF "
                "token in `X-CSRF-Token` for a change. Times are ISO 8601 with an offset (UTC, `Z`). "
                "Lists take `limit` and `offset` and answer `items`, `total`, `limit`, `offset`. "
                'Errors answer `{"error": <message>, "detail": {"code": <code>, ...}}`.'
            ),
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "bridge_session"},
                "source": {"type": "http", "scheme": "bearer", "description": "the webhook's source token"},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "detail"],
                    "properties": {
                        "error": {"type": "string"},
                        "detail": {
                            "type": "object",
                            "required": ["code"],
                            "properties": {
                                "code": {"type": "string", "enum": sorted(set(CODES.values()))},
                                "field": {"type": "string"},
                                "retry_after": {"type": "integer"},
                            },
                        },
                    },
                },
                "Page": {
                    "type": "object",
                    "required": ["items", "total", "limit", "offset"],
                    "properties": {
                        "items": {"type": "array"},
                        "total": {"type": "integer"},
                        "limit": {"type": "integer"},
                        "offset": {"type": "integer"},
                    },
                },
            },
        },
    }


def _operation(app: Flask, rule: Rule, method: str, endpoint: Endpoint | None) -> dict[str, Any]:
    doc = inspect.getdoc(app.view_functions[rule.endpoint]) or ""
    summary, _, description = doc.partition("\n\n")
    operation: dict[str, Any] = {
        "operationId": rule.endpoint.replace(".", "_"),
        "summary": " ".join(summary.split()) or rule.endpoint.rpartition(".")[2].replace("_", " "),
        "tags": [rule.endpoint.split(".")[-2] if rule.endpoint.count(".") >= 1 else rule.endpoint],
    }
    if description:
        operation["description"] = description
    parameters = [
        {
            "name": match.group("name"),
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 1}
            if match.group("converter") == "number"
            else {"type": "string"},
        }
        for match in _PARAMETER.finditer(rule.rule)
    ]
    responses: dict[str, Any] = {"200": {"description": "done"}}
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    if endpoint is not None:
        parameters += [
            {
                "name": name,
                "in": "query",
                "required": False,
                "description": text,
                "schema": {"type": "string"},
            }
            for name, text in endpoint.query.items()
        ]
        if endpoint.paged:
            parameters += [
                {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 50}},
                {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "default": 0}},
            ]
            responses["200"] = {
                "description": "a page",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Page"}}},
            }
        if endpoint.body:
            operation["requestBody"] = {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                name: {"description": text} for name, text in endpoint.body.items()
                            },
                        }
                    }
                }
            }
        if rule.endpoint.startswith("webhooks."):
            operation["security"] = [{"source": []}]
            responses = {"202": {"description": "stored; decided soon"}}
        else:
            operation["security"] = [{"bearer": []}, {"session": []}]
            operation.update(_rights(endpoint))
            responses["403"] = {"description": "the role does not allow it", "content": error}
        responses["401"] = {"description": "no or wrong credentials", "content": error}
    else:
        operation["security"] = []
    if parameters:
        operation["parameters"] = parameters
    responses["400"] = {"description": "a bad request (detail.field says where)", "content": error}
    operation["responses"] = responses
    return operation


def _rights(endpoint: Endpoint) -> dict[str, Any]:
    if isinstance(endpoint.needs, ByArgument):
        needs = {value: action.value for value, action in endpoint.needs.actions.items()}
        return {
            "x-bridge-permission": needs,
            "x-bridge-roles": {value: _roles(action) for value, action in endpoint.needs.actions.items()},
        }
    return {"x-bridge-permission": endpoint.needs.value, "x-bridge-roles": _roles(endpoint.needs)}


def _roles(action: Action) -> list[str]:
    return [role.value for role in Role if action in RIGHTS[role]]
