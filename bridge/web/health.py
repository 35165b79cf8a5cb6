"""Liveness, readiness (database, Redis) and Prometheus metrics."""

from __future__ import annotations

import os

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from bridge.web.app import get_runtime

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
    runtime = get_runtime()
    checks: dict[str, str] = {}
    try:
        with runtime.db.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as exc:
        checks["database"] = f"down: {exc.__class__.__name__}"
    if runtime.queue is not None:
        problem = runtime.queue.ping()
        checks["redis"] = "ok" if problem is None else f"down: {problem}"
    ready = all(v == "ok" for v in checks.values())
    down = [name for name, value in checks.items() if value != "ok"]
    body: dict[str, object] = {"status": "ready" if ready else "not ready", "checks": checks}
    if down:
        body["down"] = down
    response = jsonify(body)
    response.status_code = 200 if ready else 503
    return response


@blueprint.get("/metrics")
def metrics() -> Response:
    runtime = get_runtime()
    registry = runtime.metrics.registry
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Under gunicorn (bridge.gunicorn_config): every worker's counters, plus the database's gauges.
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        if runtime.metrics.database is not None:
            registry.register(runtime.metrics.database)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
