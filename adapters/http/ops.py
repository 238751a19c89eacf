"""Liveness and Prometheus metrics."""
from __future__ import annotations

import time

from flask import Response, g, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from adapters.http import auth

blp = Blueprint("ops", __name__, description="Operations")

REQUESTS = Counter("router_http_requests_total", "HTTP requests", ["method", "endpoint", "status"])
LATENCY = Histogram("router_http_request_seconds", "HTTP request latency", ["method", "endpoint"])


class HealthSchema(Schema):
    status = fields.String(required=True, validate=validate.OneOf(["ok"]))


@blp.route("/healthz", methods=["GET"])
@blp.response(200, HealthSchema)
def healthz():
    return {"status": "ok"}


@blp.route("/metrics", methods=["GET"])
@blp.alt_response(200, schema={"type": "string"}, content_type="text/plain", success=True,
                  description="Prometheus text exposition (the API process's own metrics)")
def metrics():
    auth.require_role(auth.Role.VIEWER)  # Prometheus scrapes with a viewer bearer token
    return Response(generate_latest(), mimetype=CONTENT_TYPE_LATEST)


def install(app) -> None:
    @app.before_request
    def _start():
        g.started = time.perf_counter()  # /openapi.json is public: it tells the API's shape, nothing stored

    @app.after_request
    def _observe(response):
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        REQUESTS.labels(request.method, endpoint, response.status_code).inc()
        LATENCY.labels(request.method, endpoint).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        return response
