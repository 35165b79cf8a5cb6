"""The WSGI entry point for gunicorn (production): ``gunicorn 'bridge.web.wsgi:create()'``.

Each gunicorn worker process builds its app from the BRIDGE_* environment. The schema must
already be at the latest migration (`bridge db upgrade`, the compose file's `migrate` service),
and tokens should be pinned with BRIDGE_*_TOKEN or made once with `bridge tokens rotate`:
several processes starting at once must not each generate and print their own. With
BRIDGE_REDIS_URL deliveries go to the rq queue for `bridge worker`; without it each gunicorn
worker runs the in-process worker thread (the database is the queue, so that is safe too).
"""

from __future__ import annotations

import logging

from flask import Flask

from bridge.db.migrate import prepare_url
from bridge.db.models import Scope
from bridge.settings import Settings, configure_logging, unknown_variables
from bridge.web.app import create_app
from bridge.worker.runtime import Runtime

log = logging.getLogger("bridge")


def create() -> Flask:
    """Build the app of one gunicorn worker; raises (and gunicorn stops) on a bad setting,
    unusable rules or a schema that is behind."""
    settings = Settings.from_env()
    configure_logging(settings)
    for warning in unknown_variables():
        log.warning(warning)
    log.info(prepare_url(settings.database_url, settings.db_timeout))
    runtime = Runtime.build(settings)
    for scope in Scope:
        if not runtime.services.tokens.configured(scope):
            log.warning(
                "no %s token: set BRIDGE_%s_TOKEN or run `bridge tokens rotate %s`",
                scope.value,
                scope.value.upper(),
                scope.value,
            )
    runtime.start()
    return create_app(runtime=runtime)
