"""`create_app(settings)`: the Flask application (webhooks, JSON API, health, metrics)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app

from bridge.clock import Clock
from bridge.settings import Settings
from bridge.worker.runtime import Runtime


def create_app(
    settings: Settings | None = None, *, runtime: Runtime | None = None, clock: Clock | None = None
) -> Flask:
    """Build the app; `runtime` lets a caller (tests, `bridge serve`) share one it already built."""
    from bridge.web.api import blueprint as api
    from bridge.web.duty_api import blueprint as duty_api
    from bridge.web.errors import register_error_handlers
    from bridge.web.health import blueprint as health
    from bridge.web.pages import blueprint as pages
    from bridge.web.webhooks import blueprint as webhooks

    settings = settings or (runtime.settings if runtime else Settings.from_env())
    runtime = runtime or Runtime.build(settings, clock)
    app = Flask("bridge", root_path=str(Path(__file__).parent))
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["bridge"] = runtime
    app.register_blueprint(webhooks)
    app.register_blueprint(api)
    app.register_blueprint(duty_api)
    app.register_blueprint(health)
    app.register_blueprint(pages)
    register_error_handlers(app)
    return app


def get_runtime() -> Runtime:
    """The Runtime of the app handling the current request."""
    runtime = current_app.extensions["bridge"]
    assert isinstance(runtime, Runtime)
    return runtime
