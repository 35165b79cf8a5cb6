"""Liveness, readiness (database, Redis) and Prometheus metrics."""

from __future__ import annotations

import os

from flask import Blueprint, Response, jsonify
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from bridge.services.metrics import AllProcesses
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
    the sweeper's grace period: the load balancer should know.

    Deliveries parked as failed, or one pending for longer than `STUCK_AFTER` (5 minutes), make
    it `degraded`: still 200, since webhooks are stored durably and taking this process out of
    the balancer would only refuse them too; the figures are in the body and on /metrics."""
    ready = runtime().readiness()
    down, degraded = ready.down, ready.degraded
    status = "not ready" if down else "degraded" if degraded else "ready"
    body: dict[str, object] = {"status": status, "checks": ready.checks}
    if down:
        body["down"] = down
    if degraded:
        body["degraded"] = degraded
    if ready.deliveries is not None:
        body["deliveries"] = {
            "pending": ready.deliveries.pending,
            "parked": ready.deliveries.parked,
            "oldest_pending_seconds": round(ready.deliveries.oldest_pending_seconds, 1),
        }
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
        registry.register(AllProcesses(found))
        if found.database is not None:
            registry.register(found.database)
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
