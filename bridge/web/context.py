"""The running bridge behind the request being handled: its runtime and its services."""

from __future__ import annotations

from flask import current_app

from bridge.services.wiring import Services
from bridge.worker.runtime import Runtime

EXTENSION = "bridge"


def runtime() -> Runtime:
    """The Runtime of the app handling the current request."""
    found = current_app.extensions[EXTENSION]
    assert isinstance(found, Runtime)
    return found


def services() -> Services:
    """The services of the app handling the current request."""
    return runtime().services
