"""The one place where errors become HTTP answers, always as JSON
``{"error": "<what went wrong, for people>", "detail": {"code": "<for programs>", ...}}``:
`code` is one of `CODES` (a PayloadError adds its `field`, a 429 its `retry_after` seconds)."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import HTTPException

from bridge.errors import (
    BridgeError,
    Conflict,
    Forbidden,
    InvalidTransition,
    NotFound,
    PayloadError,
    StorageUnavailable,
    TooManyAttempts,
    Unauthenticated,
)

log = logging.getLogger(__name__)

STATUS: dict[type[BridgeError], int] = {
    PayloadError: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    InvalidTransition: 409,
    Conflict: 409,
    TooManyAttempts: 429,
    StorageUnavailable: 503,
}

CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_attempts",
    431: "headers_too_large",
    500: "internal",
    501: "not_implemented",
    503: "unavailable",
}
"""The `detail.code` of each status an error answer may have."""


def error_body(status: int, message: str, **extra: object) -> dict[str, object]:
    """The JSON of an error answer (also for the servers' own errors and the OpenAPI schema)."""
    return {"error": message, "detail": {"code": CODES.get(status, "error"), **extra}}


def error_response(status: int, message: str, **extra: object) -> Response:
    response = jsonify(error_body(status, message, **extra))
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
                if isinstance(exc, PayloadError) and exc.field:
                    return error_response(status, str(exc), field=exc.field)
                if isinstance(exc, TooManyAttempts):
                    response = error_response(status, str(exc), retry_after=exc.retry_after)
                    response.headers["Retry-After"] = str(exc.retry_after)
                    return response
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
