"""The one place where errors become HTTP answers, always as JSON ``{"error": "..."}``."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from bridge.errors import (
    BridgeError,
    Conflict,
    InvalidTransition,
    NotFound,
    PayloadError,
    StorageUnavailable,
    Unauthenticated,
)

log = logging.getLogger(__name__)

STATUS: dict[type[BridgeError], int] = {
    PayloadError: 400,
    Unauthenticated: 401,
    NotFound: 404,
    InvalidTransition: 409,
    Conflict: 409,
    StorageUnavailable: 503,
}


def error_response(status: int, message: str) -> Response:
    response = jsonify(error=message)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="bridge"'
    if status == 503:
        response.headers["Retry-After"] = "5"
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(BridgeError)
    def _bridge_error(exc: BridgeError) -> Response:
        for kind, status in STATUS.items():
            if isinstance(exc, kind):
                return error_response(status, str(exc))
        log.error("unmapped error: %r", exc)
        return error_response(500, "internal error")

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(PoolTimeout)
    def _database_unavailable(exc: Exception) -> Response:
        # Anything that needed the database while it is down or saturated (a token lookup, an
        # API read): the client should retry, as it would for a webhook that could not be stored.
        log.error("database unavailable: %s", exc.__class__.__name__)
        return error_response(503, "the database is unavailable; retry later")

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        messages = {
            413: f"body larger than {app.config.get('MAX_CONTENT_LENGTH')} bytes",
            404: "no such endpoint",
            405: "method not allowed",
        }
        status = exc.code or 500
        return error_response(status, messages.get(status, exc.description or exc.name))
