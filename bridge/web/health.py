"""Liveness, readiness (database, Redis) and Prometheus metrics."""

from __future__ import annotations

import os

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from bridge.web.context import runtime

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    """The process answers."""
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> Response:
    """The process can do its job: the database answers and, in production mode, Redis does.
    A Redis that is down still lets webhooks store deliveries, but nothing reaches a worker until
    the sweeper's grace period: the load balancer should know."""
    checks = runtime().readiness()
    down = [name for name, value in checks.items() if value != "ok"]
    body: dict[str, object] = {"status": "not ready" if down else "ready", "checks": checks}
    if down:
        body["down"] = down
    response = jsonify(body)
    response.status_code = 503 if down else 200
    return response


@blueprint.get("/metrics")
def metrics() -> Response:
    found = runtime().services.metrics
    registry = found.registry
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Under gunicorn (bridge.web.gunicorn_config): every worker's counters, plus the database's gauges.
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        if found.database is not None:
            registry.register(found.database)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
