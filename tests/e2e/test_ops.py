"""Liveness, metrics and the OpenAPI document."""
from __future__ import annotations

import pytest

from tests.helpers import http

pytestmark = pytest.mark.e2e


def test_health_metrics_and_openapi_are_served(api, seeded):
    assert http.get(f"{api}/healthz", timeout=5).json() == {"status": "ok"}
    http.get(f"{api}/v1/orders", timeout=5)
    metrics = http.get(f"{api}/metrics", timeout=5).text
    assert 'router_http_requests_total{endpoint="/v1/orders",method="GET",status="200"}' in metrics
    spec = http.get(f"{api}/openapi.json", timeout=5).json()
    for path in ("/v1/channels/{channel}/orders", "/v1/payments", "/v1/wms/{warehouse}/events",
                 "/v1/carriers/{carrier}/events", "/v1/orders", "/v1/orders/{order_id}", "/v1/stock",
                 "/v1/orders/{order_id}/cancel", "/v1/routing/simulate"):
        assert path in spec["paths"], path
    body = spec["paths"]["/v1/channels/{channel}/orders"]["post"]["requestBody"]
    assert "CanonicalOrder" in str(body)
