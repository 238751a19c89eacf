"""Errors as JSON, and the one table that maps domain exceptions to HTTP status codes.

A database or broker that cannot be reached is not the caller's fault: 503 with ``Retry-After``,
so a webhook sender (or any client) tries again later instead of giving up on a 500.
"""
from __future__ import annotations

import dramatiq.errors
import pika.exceptions
import structlog
from flask import jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from adapters.errors import BadSignature, PayloadError
from adapters.schemas import field_errors
from documents.connection import DATABASE_DOWN
from router.errors import IllegalTransition


log = structlog.get_logger(__name__)
RETRY_AFTER_S = 5  # what a 503 for an unreachable database or broker asks the sender to wait
BROKER_DOWN = (dramatiq.errors.BrokerConnectionError, pika.exceptions.AMQPConnectionError)


class ApiError(Exception):
    """An error the API answers with as is (``headers``: extra response headers, e.g. Retry-After)."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details or {}
        self.headers = headers or {}


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _mapped(exc: Exception) -> tuple[int, str, str, dict] | None:
    """Domain exception -> (status, code, message, details); None when it is not a known one."""
    if isinstance(exc, ApiError):
        return exc.status, exc.code, exc.message, exc.details
    if isinstance(exc, DATABASE_DOWN):
        return 503, "database_unavailable", "the database cannot be reached: try again later", {}
    if isinstance(exc, BROKER_DOWN):
        return 503, "broker_unavailable", "the message broker cannot be reached: try again later", {}
    if isinstance(exc, RecursionError):  # JSON nested deeper than the parser goes
        return 400, "malformed_json", "body is nested too deeply", {}
    if isinstance(exc, ValidationError):
        return 422, "validation_failed", "the payload has invalid fields", field_errors(exc.messages)
    if isinstance(exc, BadSignature):
        return 401, "bad_signature", str(exc) or "signature does not match", {}
    if isinstance(exc, PayloadError):
        return 422, "validation_failed", "the payload has invalid fields", {exc.field_path: [exc.message]}
    if isinstance(exc, IllegalTransition):
        return 409, "illegal_transition", str(exc), {
            "current": getattr(exc, "current", None), "command": getattr(exc, "command", None),
            "allowed": list(getattr(exc, "allowed", ()) or ())}
    return None


def register(app) -> None:
    def handle(exc: Exception):
        mapped = _mapped(exc)
        if mapped is None:
            if isinstance(exc, HTTPException):
                return _http(exc)
            app.logger.exception("unhandled error")
            return jsonify(error_body("internal", "internal error")), 500
        status, code, message, details = mapped
        headers = dict(getattr(exc, "headers", None) or {})
        if status == 503:
            log.warning("dependency_unavailable", code=code, error=type(exc).__name__)
            headers.setdefault("Retry-After", str(RETRY_AFTER_S))
        return jsonify(error_body(code, message, details)), status, headers

    def _http(exc: HTTPException):
        data = getattr(exc, "data", None) or {}
        messages = data.get("messages")
        if exc.code == 422 and messages:
            flat = {}
            for location, errors in messages.items():
                flat.update(field_errors(errors, "" if location == "json" else location))
            return jsonify(error_body("validation_failed", "the request has invalid fields", flat)), 422
        code = (exc.name or "error").lower().replace(" ", "_")
        # werkzeug's own headers but its Content-Type: a 405 says which methods the path takes
        # (``Allow``, RFC 9110), TRACE included
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        return jsonify(error_body(code, exc.description or exc.name)), exc.code or 500, headers

    app.register_error_handler(Exception, handle)
    app.register_error_handler(HTTPException, handle)  # over flask-smorest's own, for one error shape
