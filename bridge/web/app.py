"""`create_app(settings)`: the Flask application (webhooks, JSON API, pages, health, metrics)."""

from __future__ import annotations

from pathlib import Path

from flask import Flask

from bridge.clock import Clock
from bridge.settings import Settings
from bridge.web import api, auth, console, health, login, security, telegram, webhooks, zabbix_links
from bridge.web.context import EXTENSION
from bridge.web.errors import register_error_handlers
from bridge.web.requests import NumberConverter
from bridge.worker.runtime import Runtime


def create_app(
    settings: Settings | None = None, *, runtime: Runtime | None = None, clock: Clock | None = None
) -> Flask:
    """Build the app; `runtime` lets a caller (tests, `bridge serve`) share one it already built."""
    settings = settings or (runtime.settings if runtime else Settings.from_env())
    runtime = runtime or Runtime.build(settings, clock)
    app = Flask("bridge", root_path=str(Path(__file__).parent))
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = runtime
    app.url_map.converters["number"] = NumberConverter  # before the routes that use it
    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(telegram.blueprint)
    app.register_blueprint(api.blueprint)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(login.blueprint)
    app.register_blueprint(zabbix_links.blueprint)
    register_error_handlers(app)
    security.install(app)
    auth.install(app)
    console.install(app)
    app.wsgi_app = webhooks.WebhookIntake(app)  # type: ignore[method-assign]
    return app
