"""Errors as JSON, and the one table that maps domain exceptions to HTTP status codes."""
from __future__ import annotations

from flask import jsonify
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException

from adapters.errors import BadSignature, PayloadError
from adapters.schemas import field_errors
from router.errors import IllegalTransition


class ApiError(Exception):
    """An error the API answers with as is."""

    def __init__(self, status: int, code: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details or {}


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _mapped(exc: Exception) -> tuple[int, str, str, dict] | None:
    """Domain exception -> (status, code, message, details); None when it is not a known one."""
    if isinstance(exc, ApiError):
        return exc.status, exc.code, exc.message, exc.details
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
        return jsonify(error_body(code, message, details)), status

    def _http(exc: HTTPException):
        data = getattr(exc, "data", None) or {}
        messages = data.get("messages")
        if exc.code == 422 and messages:
            flat = {}
            for location, errors in messages.items():
                flat.update(field_errors(errors, "" if location == "json" else location))
            return jsonify(error_body("validation_failed", "the request has invalid fields", flat)), 422
        code = (exc.name or "error").lower().replace(" ", "_")
        return jsonify(error_body(code, exc.description or exc.name)), exc.code or 500

    app.register_error_handler(Exception, handle)
    app.register_error_handler(HTTPException, handle)  # over flask-smorest's own, for one error shape
